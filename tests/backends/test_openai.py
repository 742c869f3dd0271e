"""OpenAI-compatible backend: request building, concurrency limit, retries with backoff, error reporting.

Every request goes over real sockets to the loopback server of ``test_http11.py``: the same client path as
in production.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
from PIL import Image
from test_http11 import Answer, Handler, Loopback, Seen, answer, chat_answer

from infimed.backends.base import GenRequest, GenResult, SamplingParams
from infimed.backends.openai import (
    ChatJob,
    OpenAIBackend,
    OpenAIClient,
    retry_after_seconds,
    to_openai_messages,
)


def _run(handler: Handler, requests: list[GenRequest], params: SamplingParams | None = None,
         **options: object) -> list[GenResult]:
    options.setdefault("backoff_base", 0.001)
    results: list[GenResult] = []
    with Loopback(handler) as server:
        backend = OpenAIBackend("m", base_url=server.url, **options)  # type: ignore[arg-type]
        backend.generate(requests, params or SamplingParams(), results.append)
    return results


def _text_request(i: str) -> GenRequest:
    return GenRequest(i, [{"role": "user", "content": [{"type": "text", "text": f"question {i}"}]}])


def test_request_body_carries_sampling_and_base64_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = tmp_path / "x.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(img)
    seen: list[Seen] = []

    def handler(request: Seen) -> Answer:
        seen.append(request)
        return chat_answer("B")

    req = GenRequest("s1", [{"role": "user", "content": [{"type": "image", "path": str(img)},
                                                         {"type": "text", "text": "Which?"}]}])
    monkeypatch.setenv("INFIMED_TEST_KEY", "sk-test")
    [res] = _run(handler, [req], SamplingParams(max_new_tokens=7, temperature=0.5, top_p=0.9, seed=3),
                 api_key_env="INFIMED_TEST_KEY")
    assert (res.id, res.response, res.error, res.tokens) == ("s1", "B", None, 1)
    [request] = seen
    assert (request.method, request.target) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
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

    def handler(request: Seen) -> Answer:
        calls.append(1)
        return chat_answer()

    req = GenRequest("s1", [{"role": "user", "content": [{"type": "image", "path": str(bad)}]}])
    [res] = _run(handler, [req])
    assert res.response is None and res.error is not None and "bad.png" in res.error
    assert calls == []


def test_retries_429_and_5xx_then_succeeds() -> None:
    statuses = iter([429, 503, 500])

    def handler(request: Seen) -> Answer:
        status = next(statuses, 200)
        return chat_answer("yes") if status == 200 else answer(status, "busy")

    [res] = _run(handler, [_text_request("a")])
    assert res.response == "yes" and res.error is None


def test_timeouts_are_retried() -> None:
    attempts = []

    async def handler(request: Seen) -> Answer:
        attempts.append(1)
        if len(attempts) < 3:
            await asyncio.sleep(1)
        return chat_answer("no")

    [res] = _run(handler, [_text_request("a")], timeout=0.05)
    assert res.response == "no" and len(attempts) == 3


def test_persistent_failure_is_recorded_as_error_not_answer() -> None:
    attempts = []

    def handler(request: Seen) -> Answer:
        attempts.append(1)
        return answer(502, "bad gateway")

    [res] = _run(handler, [_text_request("a")], max_retries=2)
    assert res.response is None
    assert res.error is not None and "failed after 3 attempts" in res.error and "502" in res.error
    assert len(attempts) == 3


def test_client_error_is_not_retried() -> None:
    attempts = []

    def handler(request: Seen) -> Answer:
        attempts.append(1)
        return answer(400, "bad request: unknown model")

    [res] = _run(handler, [_text_request("a")])
    assert res.error == "HTTP 400: bad request: unknown model" and len(attempts) == 1


def test_malformed_reply_is_an_error() -> None:
    [res] = _run(lambda r: answer(200, '{"nope": 1}'), [_text_request("a")])
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

    async def handler(request: Seen) -> Answer:  # runs on the server's one event loop: no lock needed
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return chat_answer()

    results = _run(handler, [_text_request(str(i)) for i in range(40)], concurrency=4)
    assert sorted(r.id for r in results) == sorted(str(i) for i in range(40))
    assert peak == 4


def test_client_reusable_directly_with_per_request_sampling() -> None:
    seeds = []

    def handler(request: Seen) -> Answer:
        seeds.append(request.json()["seed"])
        return chat_answer("x")

    jobs = [ChatJob(f"j{i}", [{"role": "user", "content": "hi"}], temperature=0.7, seed=i) for i in range(5)]
    replies = {}
    with Loopback(handler) as server:
        client = OpenAIClient(server.url, "teacher", concurrency=2)
        client.chat_many(jobs, lambda job, reply: replies.__setitem__(job.id, reply.text))
    assert replies == {f"j{i}": "x" for i in range(5)} and sorted(seeds) == list(range(5))


def test_to_openai_messages_keeps_plain_text() -> None:
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "q"}]}]
    assert to_openai_messages(msgs) == msgs


def test_factory_registered() -> None:
    from infimed.backends import BACKENDS

    backend = BACKENDS.get("openai")(model="m", base_url="http://h/v1")
    assert backend.describe()["base_url"] == "http://h/v1"
