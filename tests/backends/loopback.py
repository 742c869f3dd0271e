"""Loopback servers on 127.0.0.1 for the openai backend's tests: real sockets, exact bytes.

``Loopback`` runs an asyncio HTTP/1.1 server in a background thread and hands each parsed request to a
handler that returns the bytes to send back (or None to close without answering), so framing, closes,
timeouts, redirects, proxies (a request in absolute form) and broken responses are all exercised on the
same path as in production. ``H2Loopback`` speaks only HTTP/2 over TLS, ``ConnectProxy`` only tunnels
(``CONNECT``); all three run on ``ServerThread``. ``self_signed`` makes a certificate for 127.0.0.1 in
milliseconds.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
    pieces: int = 0  # when > 0, write in pieces of this many bytes, 50 ms apart


def answer(status: int = 200, body: bytes | str = b"", headers: dict[str, str] | None = None, *,
           close: bool = False, pieces: int = 0) -> Answer:
    data = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} Whatever", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if not any(k.lower() == "content-length" for k in headers or {}):
        lines.append(f"Content-Length: {len(data)}")
    return Answer(("\r\n".join(lines) + "\r\n\r\n").encode() + data, close=close, pieces=pieces)


def chat_body(text: str = "A") -> str:
    return json.dumps({"choices": [{"message": {"content": text}}], "usage": {"completion_tokens": 1}})


def chat_answer(text: str = "A", headers: dict[str, str] | None = None, **options: Any) -> Answer:
    return answer(200, chat_body(text), {"Content-Type": "application/json", **(headers or {})}, **options)


Handler = Callable[[Seen], "Answer | None | Awaitable[Answer | None]"]


class ServerThread:
    """An asyncio server on 127.0.0.1 in a background thread; every connection's task is cancelled on exit."""

    def __init__(self, serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
                 tls: ssl.SSLContext | None = None):
        self.serve, self.tls = serve, tls
        self.tasks: set[asyncio.Task[None]] = set()

    async def _tracked(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await self.serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, asyncio.CancelledError):
            pass  # the client went away, or the test is over
        finally:
            writer.close()

    def start(self) -> int:
        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(asyncio.start_server(self._tracked, "127.0.0.1", 0, ssl=self.tls))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return int(self.server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    async def _shutdown(self) -> None:
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass
class Loopback:
    handler: Handler
    tls: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0

    def __enter__(self) -> Loopback:
        self.runner = ServerThread(self._serve, self.tls)
        self.port = self.runner.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.stop()

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + "/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, target, _ = head[0].split(" ")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            seen = Seen(method, target, headers, body, conn)
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
                    await asyncio.sleep(0.05)
            if reply.close:
                return


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself (an EC key: milliseconds to make)."""
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


def tls_server_context(cert: Path, key: Path, alpn: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


@dataclass
class H2Loopback:
    """HTTP/2 over TLS (ALPN ``h2`` only) on 127.0.0.1: every request is answered with ``chat_body(text)``.

    ``streams`` counts requests, ``connections`` the TCP connections they came on (HTTP/2 multiplexes).
    """

    tls: ssl.SSLContext
    text: str = "A"
    streams: int = 0
    connections: int = 0
    paths: list[str] = field(default_factory=list)

    def __enter__(self) -> H2Loopback:
        self.runner = ServerThread(self._serve, self.tls)
        self.port = self.runner.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.stop()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import h2.config
        import h2.connection
        import h2.events

        self.connections += 1
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        while data := await reader.read(65536):
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    self.paths.append(dict(event.headers)[b":path"].decode())
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    self.streams += 1
                    payload = chat_body(self.text).encode()
                    conn.send_headers(event.stream_id, [(":status", "200"), ("content-type", "application/json"),
                                                        ("content-length", str(len(payload)))])
                    conn.send_data(event.stream_id, payload, end_stream=True)
            writer.write(conn.data_to_send())
            await writer.drain()


@dataclass
class ConnectProxy:
    """An HTTP proxy on 127.0.0.1 that only tunnels (``CONNECT host:port``), as hospital proxies do for https.

    ``tunnels`` lists the ``host:port`` each tunnel was opened to.
    """

    tunnels: list[str] = field(default_factory=list)

    def __enter__(self) -> ConnectProxy:
        self.runner = ServerThread(self._serve)
        self.port = self.runner.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        method, target, _ = head.split("\r\n")[0].split(" ")
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        self.tunnels.append(target)
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
