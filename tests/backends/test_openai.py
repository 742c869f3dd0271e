"""OpenAI-compatible backend: request building, concurrency limit, retries with backoff, error reporting,
proxies, redirects, TLS and HTTP/2.

Every request goes over real sockets to a loopback server (``loopback.py``): the same client path as in
production.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from loopback import (
    Answer,
    ConnectProxy,
    H2Loopback,
    Handler,
    Loopback,
    Seen,
    answer,
    chat_answer,
    chat_body,
    self_signed,
    tls_server_context,
)
from PIL import Image

from infimed.backends.base import GenRequest, GenResult, SamplingParams
from infimed.backends.openai import (
    ChatJob,
    ChatReply,
    OpenAIBackend,
    OpenAIClient,
    retry_after_seconds,
    to_openai_messages,
)


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests talk to 127.0.0.1; a proxy set on the machine running them must not get in between."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


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


def chat(url: str, n: int = 1, **options: Any) -> list[ChatReply]:
    options.setdefault("backoff_base", 0.001)
    client = OpenAIClient(url, "m", **options)
    replies: dict[str, ChatReply] = {}
    jobs = [ChatJob(str(i), [{"role": "user", "content": f"q{i}"}]) for i in range(n)]
    client.chat_many(jobs, lambda job, reply: replies.__setitem__(job.id, reply))
    return [replies[str(i)] for i in range(n)]


def test_503_with_retry_after_then_success() -> None:
    def handler(seen: Seen) -> Answer:
        if len(server.seen) == 1:
            return answer(503, "overloaded", {"Retry-After": "0.2"})
        return chat_answer("ok")

    with Loopback(handler) as server:
        [reply] = chat(server.url, backoff_base=30.0)  # Retry-After wins over the (huge) computed backoff
    assert (reply.text, reply.error, reply.attempts, reply.tokens) == ("ok", None, 2, 1)
    assert 0.2 <= reply.seconds < 2.0


def test_timeout_bounds_the_whole_attempt_then_an_error_reply() -> None:
    def trickle(seen: Seen) -> Answer:  # 5 bytes every 50 ms: no single read waits as long as the timeout
        return chat_answer(pieces=5)

    with Loopback(trickle) as server:
        start = time.perf_counter()
        [reply] = chat(server.url, timeout=0.2, max_retries=1)
    assert reply.text is None and reply.attempts == 2 and len(server.seen) == 2
    assert reply.error == "failed after 2 attempts: TimeoutError: no complete response within 0.2 s"
    assert time.perf_counter() - start < 2.0


def test_keep_alive_reuses_connections_and_survives_server_closes() -> None:
    def handler(seen: Seen) -> Answer:
        text = seen.json()["messages"][0]["content"]
        if seen.conn % 3 == 0:  # every third connection is closed by the server after one answer
            return chat_answer(text, {"Connection": "close"}, close=True)
        return chat_answer(text)

    with Loopback(handler) as server:
        replies = chat(server.url, n=60, concurrency=4)
    assert [r.text for r in replies] == [f"q{i}" for i in range(60)]
    assert all(r.error is None for r in replies)
    assert server.connections < 30  # kept alive: far fewer connections than requests


def test_gzip_answer_is_decoded() -> None:
    packed = gzip.compress(chat_body("squeezed").encode())
    with Loopback(lambda s: answer(200, packed, {"Content-Encoding": "gzip"})) as server:
        [reply] = chat(server.url)
    assert reply.text == "squeezed"


def test_garbage_and_unanswered_requests_are_retried_then_error_replies() -> None:
    with Loopback(lambda s: Answer(b"HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n", close=True)) as server:
        [garbage] = chat(server.url, max_retries=1)
    with Loopback(lambda s: None) as server:
        [silent] = chat(server.url, max_retries=1)
    assert garbage.error is not None and garbage.error.startswith("failed after 2 attempts: RemoteProtocolError")
    assert silent.error is not None and "RemoteProtocolError: Server disconnected" in silent.error
    assert silent.attempts == 2 and len(server.seen) == 2


def test_refused_connection_is_an_error_reply() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [reply] = chat(f"http://127.0.0.1:{port}/v1", max_retries=0)
    assert reply.error is not None and reply.error.startswith("failed after 1 attempts: ConnectError")
    assert "refused" in reply.error.lower()


def test_bad_url_and_api_key_are_refused_at_construction() -> None:
    for bad in ("ftp://h/x", "localhost:8000/v1", "http://h:port/v1", "http:///v1"):
        with pytest.raises(ValueError, match="URL"):
            OpenAIClient(bad, "m")
    with pytest.raises(ValueError, match="Authorization"):
        OpenAIClient("http://h/v1", "m", api_key="sk-abc\n")
    with pytest.raises(ValueError, match="concurrency"):
        OpenAIClient("http://h/v1", "m", concurrency=0)


def test_no_api_key_sends_no_authorization_header() -> None:
    with Loopback(lambda s: chat_answer()) as server:
        chat(server.url)
    assert "authorization" not in server.seen[0].headers
    assert server.seen[0].headers["user-agent"].startswith("infimed/")


def test_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loopback server acts as the proxy: it receives the request in absolute form for a host that
    does not exist, which only a client talking to the proxy can send."""
    with Loopback(lambda s: chat_answer("via proxy")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.origin)
        [reply] = chat("http://llm.hospital.invalid:8000/v1", api_key="sk-1")
    assert reply.text == "via proxy"
    [seen] = proxy.seen
    assert seen.target == "http://llm.hospital.invalid:8000/v1/chat/completions"
    assert seen.headers["host"] == "llm.hospital.invalid:8000" and seen.headers["authorization"] == "Bearer sk-1"


def test_no_proxy_bypasses_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead}")  # nobody listens: using it would fail
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with Loopback(lambda s: chat_answer("direct")) as server:
        [reply] = chat(server.url, max_retries=0)
    assert reply.text == "direct" and server.seen[0].target == "/v1/chat/completions"
    monkeypatch.delenv("NO_PROXY")
    with Loopback(lambda s: chat_answer("direct")) as server:
        [reply] = chat(server.url, max_retries=0)
    assert reply.error is not None and "ConnectError" in reply.error and server.seen == []


def test_https_through_a_tunnelling_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY: the client opens a CONNECT tunnel and speaks TLS to the server through it."""
    pytest.importorskip("cryptography")
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with Loopback(lambda s: chat_answer("tunnelled"), tls=tls_server_context(cert, key)) as server, \
            ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        [reply] = chat(server.url)
    assert reply.text == "tunnelled", reply.error
    assert proxy.tunnels == [f"127.0.0.1:{server.port}"] and server.seen[0].target == "/v1/chat/completions"


def test_307_and_308_are_followed_with_the_same_post() -> None:
    def handler(seen: Seen) -> Answer:
        if seen.target == "/v1/chat/completions":
            return answer(307, "", {"Location": "/v2/chat/completions"})
        if seen.target == "/v2/chat/completions":
            return answer(308, "", {"Location": "/v3/chat/completions"})
        return chat_answer(seen.json()["messages"][0]["content"])

    with Loopback(handler) as server:
        [reply] = chat(server.url)
    assert reply.text == "q0" and reply.attempts == 1
    assert [(s.method, s.target) for s in server.seen] == [
        ("POST", "/v1/chat/completions"), ("POST", "/v2/chat/completions"), ("POST", "/v3/chat/completions")]


@pytest.mark.parametrize("status", [301, 302, 303])
def test_redirect_that_would_drop_the_post_is_an_error_naming_the_new_address(status: int) -> None:
    with Loopback(lambda s: answer(status, "", {"Location": "https://llm.example.org/v1/chat/completions"})) as server:
        [reply] = chat(server.url)
    assert reply.error is not None and reply.error.startswith(f"HTTP {status}: the server redirects this POST to "
                                                              "https://llm.example.org/v1/chat/completions")
    assert reply.attempts == 1 and len(server.seen) == 1  # no GET sent, no retry


def test_redirect_loop_is_an_error_not_a_hang() -> None:
    with Loopback(lambda s: answer(307, "", {"Location": s.target})) as server:
        [reply] = chat(server.url)
    assert reply.error is not None and "TooManyRedirects" in reply.error and len(server.seen) == 6


def test_https_with_the_hospital_ca_from_ssl_cert_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("cryptography")
    cert, key = self_signed(tmp_path)
    with Loopback(lambda s: chat_answer("secure"), tls=tls_server_context(cert, key)) as server:
        [untrusted] = chat(server.url)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        replies = chat(server.url, n=6, concurrency=3)
    assert untrusted.error is not None and "CERTIFICATE_VERIFY_FAILED" in untrusted.error
    assert "point SSL_CERT_FILE at its bundle" in untrusted.error and untrusted.attempts == 1  # not retried
    assert [r.text for r in replies] == ["secure"] * 6 and server.connections == 3  # the refused handshake never reached the server


def test_http2_is_used_over_https_when_h2_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("cryptography")
    pytest.importorskip("h2")
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    assert OpenAIClient("https://h/v1", "m").http2 and not OpenAIClient("https://h/v1", "m", http2=False).http2
    assert not OpenAIClient("http://h/v1", "m").http2  # cleartext HTTP/2 needs prior knowledge few servers have
    with H2Loopback(tls_server_context(cert, key, alpn=["h2"]), text="multiplexed") as server:
        replies = chat(server.url, n=8, concurrency=4)
    assert [r.text for r in replies] == ["multiplexed"] * 8
    assert (server.streams, server.connections) == (8, 4)  # the server speaks only h2: one connection a worker
    assert set(server.paths) == {"/v1/chat/completions"}
