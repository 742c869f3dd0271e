"""OpenAI-compatible backend: request building, concurrency limit, retries with backoff, error reporting."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from pathlib import Path

import httpx
import pytest
from PIL import Image

from infimed.eval.backends.base import GenRequest, GenResult, SamplingParams
from infimed.eval.backends.openai import (
    ChatJob,
    OpenAIBackend,
    OpenAIClient,
    retry_after_seconds,
    to_openai_messages,
)


def _ok(text: str = "A") -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"content": text}}], "usage": {"completion_tokens": 1}})


def _backend(handler, **options) -> OpenAIBackend:  # type: ignore[no-untyped-def]
    options.setdefault("backoff_base", 0.001)
    return OpenAIBackend("m", base_url="http://test/v1", transport=httpx.MockTransport(handler), **options)


def _run(backend: OpenAIBackend, requests: list[GenRequest], params: SamplingParams | None = None) -> list[GenResult]:
    results: list[GenResult] = []
    backend.generate(requests, params or SamplingParams(), results.append)
    return results


def _text_request(i: str) -> GenRequest:
    return GenRequest(i, [{"role": "user", "content": [{"type": "text", "text": f"question {i}"}]}])


def test_request_body_carries_sampling_and_base64_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = tmp_path / "x.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(img)
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer sk-test"
        seen.append(json.loads(request.content))
        return _ok("B")

    req = GenRequest("s1", [{"role": "user", "content": [{"type": "image", "path": str(img)},
                                                         {"type": "text", "text": "Which?"}]}])
    monkeypatch.setenv("INFIMED_TEST_KEY", "sk-test")
    backend = _backend(handler, api_key_env="INFIMED_TEST_KEY")
    [res] = _run(backend, [req], SamplingParams(max_new_tokens=7, temperature=0.5, top_p=0.9, seed=3))
    assert (res.id, res.response, res.error, res.tokens) == ("s1", "B", None, 1)
    body = seen[0]
    assert (body["model"], body["max_tokens"], body["temperature"], body["top_p"], body["seed"]) == ("m", 7, 0.5, 0.9, 3)
    image_part, text_part = body["messages"][0]["content"]
    assert text_part == {"type": "text", "text": "Which?"}
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == img.read_bytes()


def test_broken_image_is_an_error_without_a_request(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return _ok()

    req = GenRequest("s1", [{"role": "user", "content": [{"type": "image", "path": str(bad)}]}])
    [res] = _run(_backend(handler), [req])
    assert res.response is None and res.error is not None and "bad.png" in res.error
    assert calls == []


def test_retries_429_and_5xx_then_succeeds() -> None:
    statuses = iter([429, 503, 500])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses, 200)
        return _ok("yes") if status == 200 else httpx.Response(status, text="busy")

    [res] = _run(_backend(handler), [_text_request("a")])
    assert res.response == "yes" and res.error is None


def test_timeouts_are_retried() -> None:
    attempts = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) < 3:
            raise httpx.ReadTimeout("slow", request=request)
        return _ok("no")

    [res] = _run(_backend(handler), [_text_request("a")])
    assert res.response == "no" and len(attempts) == 3


def test_persistent_failure_is_recorded_as_error_not_answer() -> None:
    attempts = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        return httpx.Response(502, text="bad gateway")

    [res] = _run(_backend(handler, max_retries=2), [_text_request("a")])
    assert res.response is None
    assert res.error is not None and "failed after 3 attempts" in res.error and "502" in res.error
    assert len(attempts) == 3


def test_client_error_is_not_retried() -> None:
    attempts = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        return httpx.Response(400, text="bad request: unknown model")

    [res] = _run(_backend(handler), [_text_request("a")])
    assert res.error is not None and "400" in res.error and len(attempts) == 1


def test_malformed_reply_is_an_error() -> None:
    [res] = _run(_backend(lambda r: httpx.Response(200, json={"nope": 1})), [_text_request("a")])
    assert res.response is None and res.error is not None and "malformed" in res.error


def test_retry_after_is_honoured() -> None:
    client = OpenAIClient("http://x/v1", "m", backoff_base=0.5, backoff_max=4.0)
    assert client.backoff(1, retry_after=2.5) == 2.5
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert retry_after_seconds("soon") is None
    for attempt in (1, 2, 3, 8):
        cap = min(4.0, 0.5 * 2 ** (attempt - 1))
        assert cap / 2 <= client.backoff(attempt) <= cap


def test_concurrency_limit_is_respected() -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        with lock:
            in_flight -= 1
        return _ok()

    backend = _backend(handler, concurrency=4)
    results = _run(backend, [_text_request(str(i)) for i in range(40)])
    assert sorted(r.id for r in results) == sorted(str(i) for i in range(40))
    assert peak == 4


def test_client_reusable_directly_with_per_request_sampling() -> None:
    seeds = []

    def handler(request: httpx.Request) -> httpx.Response:
        seeds.append(json.loads(request.content)["seed"])
        return _ok("x")

    client = OpenAIClient("http://t/v1", "teacher", transport=httpx.MockTransport(handler), concurrency=2)
    jobs = [ChatJob(f"j{i}", [{"role": "user", "content": "hi"}], temperature=0.7, seed=i) for i in range(5)]
    replies = {}
    client.chat_many(jobs, lambda job, reply: replies.__setitem__(job.id, reply.text))
    assert replies == {f"j{i}": "x" for i in range(5)} and sorted(seeds) == list(range(5))


def test_to_openai_messages_keeps_plain_text() -> None:
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "q"}]}]
    assert to_openai_messages(msgs) == msgs


def test_factory_registered() -> None:
    from infimed.eval.backends import BACKENDS

    backend = BACKENDS.get("openai")(model="m", base_url="http://h/v1")
    assert backend.describe()["base_url"] == "http://h/v1"
