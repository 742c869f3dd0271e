"""The gateway's normal paths: concurrency and queue limits, DICOM uploads, the upstream engine."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from infimed.backends.base import SamplingParams
from infimed.serve.engine import UpstreamEngine


def chat(text: str = "Is the lung field clear?", **extra: Any) -> dict[str, Any]:
    return {"model": "tiny", "messages": [{"role": "user", "content": text}], **extra}


async def burst(app: Any, token: str, n: int) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=transport, base_url="http://gw", headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        return list(await asyncio.gather(*(c.post("/v1/chat/completions", json=chat()) for _ in range(n))))


def test_per_user_concurrency_limit(gateway) -> None:  # type: ignore[no-untyped-def]
    app, token, _ = gateway(asgi=True, delay=0.4, user_concurrency=2, max_inflight=50)
    codes = sorted(r.status_code for r in asyncio.run(burst(app, token, 5)))
    assert codes == [200, 200, 429, 429, 429]


def test_global_queue_bound_refuses_at_once(gateway) -> None:  # type: ignore[no-untyped-def]
    app, token, tmp = gateway(asgi=True, delay=0.3, user_concurrency=50, max_inflight=2, max_queue=2)
    responses = asyncio.run(burst(app, token, 8))
    assert sorted(r.status_code for r in responses) == [200] * 4 + [429] * 4
    assert all(r.headers["retry-after"] == "1" for r in responses if r.status_code == 429)
    rows = [json.loads(x) for f in (tmp / "audit").glob("*.jsonl") for x in f.read_text().splitlines()]
    assert len([r for r in rows if r["event"] == "request"]) == 8  # one line per request


def test_streamed_answer_is_openai_sse(gateway) -> None:  # type: ignore[no-untyped-def]
    client, token, _ = gateway(phi="off")
    r = client.post("/v1/chat/completions", json=chat("hello there", stream=True, stream_options={"include_usage": True}),
                    headers={"Authorization": f"Bearer {token}"})
    events = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
    assert r.headers["content-type"].startswith("text/event-stream") and events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "hello there"
    assert chunks[-1]["usage"]["completion_tokens"] == 2


def dicom_data_url(burned_in: bool = False) -> str:
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "Vexbridge^Quillon"
    if burned_in:
        ds.BurnedInAnnotation = "YES"
    from io import BytesIO

    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return "data:application/dicom;base64," + base64.b64encode(buf.getvalue()).decode()


def test_dicom_upload_is_deidentified_and_reaches_the_model_as_pixels(gateway) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[int, int]] = []

    def look(request: Any) -> str:
        for m in request.messages:
            for p in m["content"]:
                if p["type"] == "image":
                    assert p["path"].endswith(".png")
                    with Image.open(p["path"]) as im:
                        assert "dicom" not in im.info
                        seen.append(im.size)
        return "a CT slice"

    client, token, _ = gateway(fn=look)
    body = {"model": "tiny", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": dicom_data_url()}}, {"type": "text", "text": "What is this?"}]}]}
    r = client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "a CT slice"
    assert seen == [(128, 128)]
    body["messages"][0]["content"][0]["image_url"]["url"] = dicom_data_url(burned_in=True)
    r = client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422 and "burned into the pixels" in r.text and "Vexbridge" not in r.text


def fake_upstream(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    assert set(body) <= {"model", "messages", "n", "max_tokens", "temperature", "top_p", "stream", "stream_options",
                         "seed", "stop"}  # only known fields are forwarded
    if body["stream"]:
        lines = [{"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]} for t in ("No ", "effusion")]
        lines.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        lines.append({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}})
        text = "".join(f"data: {json.dumps(x)}\n\n" for x in lines) + "data: [DONE]\n\n"
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
    return httpx.Response(200, json={"choices": [{"index": 0, "message": {"content": "No effusion"},
                                                  "finish_reason": "stop"}],
                                     "usage": {"prompt_tokens": 9, "completion_tokens": 2}})


def test_upstream_engine_complete_and_stream(tmp_path: Path) -> None:
    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    messages = [{"role": "user", "content": [{"type": "image", "path": str(tmp_path / "a.png")},
                                             {"type": "text", "text": "effusion?"}]}]

    async def go() -> tuple[Any, list[Any]]:
        engine = UpstreamEngine("http://127.0.0.1:9/v1", "m", api_key=None, timeout=5, connections=2)
        engine._client._transport = httpx.MockTransport(fake_upstream)  # type: ignore[attr-defined]
        done = await engine.complete(messages, SamplingParams(16), 1, [])
        deltas = [d async for d in engine.stream(messages, SamplingParams(16), [])]
        await engine.aclose()
        return done, deltas

    done, deltas = asyncio.run(go())
    assert done[0].text == "No effusion" and done[0].completion_tokens == 2
    assert "".join(d.text for d in deltas) == "No effusion" and deltas[-1].finish_reason == "stop"
    assert deltas[-1].prompt_tokens == 9


@pytest.mark.parametrize("status, expect", [(429, 503), (500, 502), (400, 502)])
def test_upstream_errors_are_not_echoed(status: int, expect: int) -> None:
    from infimed.serve.limits import Refused

    async def go() -> Refused:
        engine = UpstreamEngine("http://127.0.0.1:9/v1", "m", api_key=None, timeout=5, connections=2)
        engine._client._transport = httpx.MockTransport(  # type: ignore[attr-defined]
            lambda _r: httpx.Response(status, text="prompt was: Quillon Vexbridge"))
        try:
            await engine.complete([{"role": "user", "content": [{"type": "text", "text": "x"}]}], SamplingParams(), 1, [])
        except Refused as exc:
            return exc
        finally:
            await engine.aclose()
        raise AssertionError("no error")

    exc = asyncio.run(go())
    assert exc.status == expect and "Vexbridge" not in exc.message


def test_upstream_mode_end_to_end_streamed_and_not(gateway) -> None:  # type: ignore[no-untyped-def]
    engine = UpstreamEngine("http://127.0.0.1:9/v1", "tiny", api_key=None, timeout=5, connections=2)
    engine._client._transport = httpx.MockTransport(fake_upstream)  # type: ignore[attr-defined]
    client, token, _ = gateway(engine=engine)
    auth = {"Authorization": f"Bearer {token}"}
    plain = client.post("/v1/chat/completions", json=chat(), headers=auth).json()
    assert plain["choices"][0]["message"]["content"] == "No effusion" and plain["usage"]["prompt_tokens"] == 9
    streamed = client.post("/v1/chat/completions", json=chat(stream=True), headers=auth).text
    chunks = [json.loads(line[6:]) for line in streamed.splitlines() if line.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "No effusion"
