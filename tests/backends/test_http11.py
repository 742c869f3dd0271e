"""The HTTP/1.1 client under the openai backend, against a real asyncio server on 127.0.0.1.

``Loopback`` (also used by ``test_backends_openai.py``) runs in a background thread and hands each parsed
request to a handler that returns the exact bytes to send back, so framing, keep-alive, closes, timeouts and
broken responses are all exercised on real sockets.
"""

from __future__ import annotations

import asyncio
import gzip
import inspect
import json
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infimed.backends import http11
from infimed.backends.http11 import Connection, Origin, ProtocolError, split_url
from infimed.backends.openai import ChatJob, ChatReply, OpenAIClient


@dataclass
class Seen:
    """A request as the server received it; ``conn`` numbers the server's connections from 1."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    conn: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    raw: bytes  # written as is
    close: bool = False  # close the connection after writing
    pieces: int = 0  # when > 0, write in pieces of this many bytes, 1 ms apart


def answer(status: int = 200, body: bytes | str = b"", headers: dict[str, str] | None = None, *,
           chunked: bool = False, close: bool = False, pieces: int = 0) -> Answer:
    data = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} Whatever", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        third = max(1, len(data) // 3)
        parts = [data[i:i + third] for i in range(0, len(data), third)]
        data = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nX-Trailer: t\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(data)}")
    return Answer(("\r\n".join(lines) + "\r\n\r\n").encode() + data, close=close, pieces=pieces)


def chat_answer(text: str = "A", headers: dict[str, str] | None = None, **options: Any) -> Answer:
    body = {"choices": [{"message": {"content": text}}], "usage": {"completion_tokens": 1}}
    return answer(200, json.dumps(body), {"Content-Type": "application/json", **(headers or {})}, **options)


Handler = Callable[[Seen], "Answer | None | Awaitable[Answer | None]"]  # None: close without answering


@dataclass
class Loopback:
    handler: Handler
    tls: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0

    def __enter__(self) -> Loopback:
        self.loop = asyncio.new_event_loop()
        self.tasks: set[asyncio.Task[None]] = set()
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1"

    async def _shutdown(self) -> None:
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        self.connections += 1
        conn = self.connections
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, _ = head[0].split(" ")
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
                seen = Seen(method, target, headers, await reader.readexactly(int(headers["content-length"])), conn)
                self.seen.append(seen)
                reply = self.handler(seen)
                reply = await reply if inspect.isawaitable(reply) else reply
                if reply is None:
                    return
                step = reply.pieces or len(reply.raw)
                for i in range(0, len(reply.raw), step):
                    writer.write(reply.raw[i:i + step])
                    await writer.drain()
                    if reply.pieces:
                        await asyncio.sleep(0.001)
                if reply.close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


def fetch(conn: Connection, n: int = 1, body: bytes = b"{}") -> list[http11.Response]:
    async def go() -> list[http11.Response]:
        try:
            return [await conn.request("POST", "/v1/x", body) for _ in range(n)]
        finally:
            conn.close()

    return asyncio.run(go())


def connection(server: Loopback, timeout: float = 5.0) -> Connection:
    return Connection(split_url(server.url)[0], headers={"X-Key": "k"}, timeout=timeout)


def chat(server: Loopback, n: int = 1, **options: Any) -> list[ChatReply]:
    options.setdefault("backoff_base", 0.001)
    client = OpenAIClient(server.url, "m", **options)
    replies: dict[str, ChatReply] = {}
    jobs = [ChatJob(str(i), [{"role": "user", "content": f"q{i}"}]) for i in range(n)]
    client.chat_many(jobs, lambda job, reply: replies.__setitem__(job.id, reply))
    return [replies[str(i)] for i in range(n)]


def test_content_length_body_and_case_insensitive_headers() -> None:
    with Loopback(lambda s: answer(201, s.body[::-1], {"X-Thing": "a", "x-thing": "b"})) as server:
        [resp] = fetch(connection(server), body=b"hello")
    assert (resp.status, resp.body, resp.headers["x-thing"]) == (201, b"olleh", "a, b")
    [seen] = server.seen
    assert (seen.method, seen.target, seen.headers["x-key"], seen.headers["host"]) == (
        "POST", "/v1/x", "k", f"127.0.0.1:{server.port}")


@pytest.mark.parametrize("pieces", [0, 5])
def test_chunked_body_with_extensions_and_trailers(pieces: int) -> None:
    payload = b"0123456789abcdefghij" * 3
    with Loopback(lambda s: answer(200, payload, chunked=True, pieces=pieces)) as server:
        resps = fetch(connection(server), n=3)
    assert [r.body for r in resps] == [payload] * 3
    assert server.connections == 1  # the connection stays usable after a chunked body


def test_gzip_body_and_read_until_close() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + gzip.compress(b"squeezed")
    with Loopback(lambda s: Answer(raw, close=True)) as server:
        resps = fetch(connection(server), n=2)
    assert [r.body for r in resps] == [b"squeezed"] * 2 and server.connections == 2


def test_keep_alive_reuses_one_connection() -> None:
    with Loopback(lambda s: answer(200, s.body)) as server:
        resps = fetch(connection(server), n=200, body=b"x" * 10)
    assert all(r.body == b"x" * 10 for r in resps)
    assert server.connections == 1 and len(server.seen) == 200


@pytest.mark.parametrize("how", ["Connection: close", "close after answering", "drop the next request"])
def test_server_closing_between_requests_reconnects_transparently(how: str) -> None:
    def handler(seen: Seen) -> Answer | None:
        if how == "drop the next request" and sum(s.conn == seen.conn for s in server.seen) > 1:
            return None  # an idle keep-alive connection the server closed just as the client reused it
        headers = {"Connection": "close"} if how == "Connection: close" else {}
        return chat_answer(seen.json()["messages"][0]["content"], headers, close=how != "drop the next request")

    with Loopback(handler) as server:
        replies = chat(server, n=20, concurrency=2)
    assert [r.text for r in replies] == [f"q{i}" for i in range(20)]
    assert all(r.attempts == 1 and r.error is None for r in replies)  # no retry spent on a stale connection
    assert server.connections == 20
    assert len(server.seen) == (38 if how == "drop the next request" else 20)  # 2 workers: 2 first requests


def test_503_with_retry_after_then_success() -> None:
    def handler(seen: Seen) -> Answer:
        if len(server.seen) == 1:
            return answer(503, "overloaded", {"Retry-After": "0.2"})
        return chat_answer("ok")

    with Loopback(handler) as server:
        [reply] = chat(server, backoff_base=30.0)  # Retry-After wins over the (huge) computed backoff
    assert (reply.text, reply.error, reply.attempts, reply.tokens) == ("ok", None, 2, 1)
    assert 0.2 <= reply.seconds < 2.0


def test_timeout_is_retried_then_an_error_reply() -> None:
    async def slow(seen: Seen) -> Answer:
        await asyncio.sleep(2)
        return chat_answer()

    with Loopback(slow) as server:
        start = time.perf_counter()
        [reply] = chat(server, timeout=0.1, max_retries=1)
    assert reply.text is None and reply.attempts == 2 and len(server.seen) == 2
    assert reply.error is not None and "failed after 2 attempts: TimeoutError" in reply.error
    assert time.perf_counter() - start < 1.5


def test_timeout_then_success_on_a_new_connection() -> None:
    async def first_slow(seen: Seen) -> Answer:
        if seen.conn == 1:
            await asyncio.sleep(2)
        return chat_answer("late")

    with Loopback(first_slow) as server:
        [reply] = chat(server, timeout=0.2)
    assert (reply.text, reply.attempts, server.connections) == ("late", 2, 2)


def test_malformed_status_line_is_a_clear_error_reply() -> None:
    with Loopback(lambda s: Answer(b"HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n")) as server:
        [reply] = chat(server, max_retries=1)
        with pytest.raises(ProtocolError, match="malformed status line"):
            fetch(connection(server))
    assert reply.text is None and reply.error is not None
    assert "ProtocolError: malformed status line b'HTTP/1.1 OK'" in reply.error


@pytest.mark.parametrize("raw, message", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", "closed mid-response"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nBad header\r\n\r\n", "malformed header line"),
])
def test_broken_responses_raise(raw: bytes, message: str) -> None:
    with Loopback(lambda s: Answer(raw, close=True)) as server, pytest.raises((ProtocolError, OSError), match=message):
        fetch(connection(server))


def test_unanswered_fresh_connection_and_refused_connection_are_errors() -> None:
    with Loopback(lambda s: None) as server:
        with pytest.raises(ConnectionResetError, match="without answering"):
            fetch(connection(server))
        [reply] = chat(server, max_retries=1)
    assert reply.error is not None and "ConnectionResetError" in reply.error and reply.attempts == 2
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = OpenAIClient(f"http://127.0.0.1:{port}/v1", "m", max_retries=0)
    replies: list[ChatReply] = []
    client.chat_many([ChatJob("a", [{"role": "user", "content": "q"}])], lambda job, r: replies.append(r))
    assert replies[0].error is not None and "ConnectionRefusedError" in replies[0].error


def test_split_url_and_header_checks() -> None:
    assert split_url("https://api.example.com/v1/chat/completions?x=1") == (
        Origin(True, "api.example.com", 443), "/v1/chat/completions?x=1")
    origin, target = split_url("http://[::1]:8000")
    assert (origin.host_header, target, str(origin)) == ("[::1]:8000", "/", "http://[::1]:8000")
    for bad in ("ftp://h/x", "localhost:8000/v1", "http://h:port/v1"):
        with pytest.raises(ValueError, match="URL"):
            split_url(bad)
    with pytest.raises(ValueError, match="Authorization"):
        OpenAIClient("http://h/v1", "m", api_key="sk-abc\n")


def test_https_uses_one_verifying_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    http11.tls_context.cache_clear()
    real = ssl.create_default_context

    def trusting_ours(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        ctx = real()
        ctx.load_verify_locations(cert)
        return ctx

    monkeypatch.setattr(ssl, "create_default_context", trusting_ours)
    try:
        with Loopback(lambda s: chat_answer("secure"), tls=server_ctx) as server:
            replies = chat(server, n=6, concurrency=3)
        assert [r.text for r in replies] == ["secure"] * 6 and server.connections == 3
        assert http11.tls_context.cache_info().misses == 1  # built once for all workers
    finally:
        http11.tls_context.cache_clear()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself (an EC key: milliseconds to make)."""
    pytest.importorskip("cryptography")
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
