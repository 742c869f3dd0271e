"""A small HTTP/1.1 keep-alive client on a bare ``asyncio.Protocol``: the openai backend's request path.

Why not httpx: at a few hundred requests/s on two cores, httpx spends ~0.9 ms of CPU per request in its
layers (httpcore's pool and state machines, h11, anyio), enough to cap a 32-way run below 90% of what the
server allows. Here a request is one ``transport.write`` and the reply is parsed in ``data_received`` as
its bytes arrive, completing one future; the awaiting task wakes once per response.

Scope, on purpose: one request in flight per ``Connection`` (no pipelining), ``Content-Length``, chunked
and read-until-close bodies, ``Connection: close``, gzip/deflate bodies, TLS through one lazily built
``ssl`` context. No proxies, redirects, cookies or HTTP/2. A keep-alive connection the server has since
closed is replaced transparently; every other failure is raised for the caller to retry:
``OSError`` (refused, reset, closed mid-response; ``TimeoutError`` is one) or ``ProtocolError``.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024
NO_BODY_STATUS = frozenset({204, 304})


class ProtocolError(Exception):
    """The server's bytes are not a valid HTTP/1.1 response (bad status line, header or chunk framing)."""


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated fields joined with ", "
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Origin:
    """Where a connection goes: scheme, host and port of a URL."""

    tls: bool
    host: str
    port: int

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        return host if self.port == (443 if self.tls else 80) else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host_header}"


def split_url(url: str) -> tuple[Origin, str]:
    """``(origin, request target)`` of an ``http://`` or ``https://`` URL; ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http:// or https:// URL with a host: {url!r}")
    tls = parts.scheme == "https"
    try:
        port = parts.port or (443 if tls else 80)
    except ValueError as exc:
        raise ValueError(f"bad port in URL {url!r}: {exc}") from exc
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(tls, parts.hostname, port), target


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Built once per process, only when an https URL is used (loading the CA bundle takes ~5 ms)."""
    try:
        import certifi  # the CA bundle httpx used; the system store otherwise
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def header_block(headers: Mapping[str, str]) -> bytes:
    """``Name: value\\r\\n`` lines; a CR or LF in a name or value (header injection) is a ValueError."""
    lines = []
    for name, value in headers.items():
        if any(c in name for c in "\r\n: ") or "\r" in value or "\n" in value:
            raise ValueError(f"HTTP header {name!r} has a line break or bad character in its name or value")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1")


class Connection:
    """One keep-alive connection to ``origin``, opened on first use and reopened when the server drops it.

    ``headers`` go with every request; ``timeout`` bounds each whole request (connect, send, full reply).
    """

    def __init__(self, origin: Origin, *, headers: Mapping[str, str] | None = None, timeout: float = 120.0):
        self.origin = origin
        self.timeout = timeout
        self._fixed = f"Host: {origin.host_header}\r\n".encode("latin-1") + header_block(headers or {})
        self._wire: _Wire | None = None

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> Response:
        message = b"".join((
            f"{method} {target} HTTP/1.1\r\n".encode("latin-1"), self._fixed,
            header_block(headers) if headers else b"", b"Content-Length: %d\r\n\r\n" % len(body), body,
        ))
        try:
            async with asyncio.timeout(self.timeout):
                wire = self._wire
                if wire is not None and wire.reusable:
                    try:
                        return await wire.exchange(message, method)
                    except _Unanswered:  # the server closed the idle connection as we reused it: send again
                        pass
                wire = self._wire = await self._connect()
                try:
                    return await wire.exchange(message, method)
                except _Unanswered as exc:
                    raise ConnectionResetError(f"{self.origin} closed the connection without answering") from exc
        except TimeoutError as exc:
            self.close()
            raise TimeoutError(f"no complete response from {self.origin} within {self.timeout:g} s") from exc
        except BaseException:  # cancelled or failed mid-exchange: the connection's state is unknown
            self.close()
            raise

    async def _connect(self) -> _Wire:
        self.close()
        loop = asyncio.get_running_loop()
        tls: Any = tls_context() if self.origin.tls else None
        _, wire = await loop.create_connection(
            _Wire, self.origin.host, self.origin.port, ssl=tls, server_hostname=self.origin.host if tls else None
        )
        return wire

    def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
            self._wire = None


class _Unanswered(ConnectionError):
    """The connection closed before a single byte of the response arrived."""


@dataclass
class _Head:
    status: int
    reason: str
    headers: dict[str, str]
    keep_alive: bool
    length: int | None  # the body length (Content-Length); None: chunked or until the server closes
    chunked: bool


class _Wire(asyncio.Protocol):
    """One TCP (or TLS) connection: writes a request, parses the response as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.method = "POST"
        self.head: _Head | None = None
        self.chunks: list[bytes] = []
        self.got_bytes = False
        self.reusable = False  # open, idle and at least one response read on it

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # bytes nobody asked for: the stream is out of step
            self.close()
            return
        self.got_bytes = True
        self.buf += data
        try:
            self._parse()
        except ProtocolError as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self.transport = None
        if self.waiter is None or self.waiter.done():
            return
        head = self.head
        if head is not None and head.length is None and not head.chunked:  # a body that ends with the connection
            self._finish(bytes(self.buf))
        elif not self.got_bytes:
            self._fail(_Unanswered(str(exc) if exc else "connection closed"))
        else:
            self._fail(ConnectionResetError(f"connection closed mid-response ({exc or 'by the server'})"))

    # request side

    async def exchange(self, message: bytes, method: str) -> Response:
        if self.transport is None or self.transport.is_closing():
            raise _Unanswered("connection already closed")
        self.reusable = False
        self.method = method
        self.got_bytes = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(message)
        return await self.waiter

    def close(self) -> None:
        """Drop the connection now: it is idle or its exchange failed, so nothing in flight is lost, and
        a TLS close_notify round trip could outlive the event loop (an unclosed-transport warning)."""
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()

    # response side

    def _parse(self) -> None:
        while self.waiter is not None and not self.waiter.done():
            head = self.head
            if head is None:
                if not self._parse_head():
                    return
            elif head.chunked:
                if not self._parse_chunk():
                    return
            elif head.length is None:  # read until the server closes
                return
            else:
                if len(self.buf) < head.length:
                    return
                body = bytes(self.buf[:head.length])
                del self.buf[:head.length]
                self._finish(body)

    def _parse_head(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD_BYTES:
                raise ProtocolError(f"response head longer than {MAX_HEAD_BYTES} bytes")
            return False
        lines = bytes(self.buf[:end]).split(b"\r\n")
        del self.buf[:end + 4]
        version, _, rest = lines[0].partition(b" ")
        code, _, reason = rest.partition(b" ")
        if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise ProtocolError(f"malformed status line {lines[0][:100]!r}")
        status = int(code)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                raise ProtocolError(f"malformed header line {line[:100]!r}")
            key, text = name.decode("latin-1").lower(), value.strip().decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        if 100 <= status < 200:  # an interim response (100 Continue...): the real one follows
            return True
        tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        keep_alive = "close" not in tokens and (version != b"HTTP/1.0" or "keep-alive" in tokens)
        chunked = headers.get("transfer-encoding", "").lower().rsplit(",", 1)[-1].strip() == "chunked"
        length: int | None = None
        if status in NO_BODY_STATUS or self.method == "HEAD":
            length, chunked = 0, False
        elif not chunked and "content-length" in headers and "transfer-encoding" not in headers:
            declared = headers["content-length"].split(",")[0].strip()
            if not declared.isdigit():
                raise ProtocolError(f"bad Content-Length {headers['content-length']!r}")
            length = int(declared)
        self.head = _Head(status, reason.decode("latin-1"), headers, keep_alive, length, chunked)
        return True

    def _parse_chunk(self) -> bool:
        """Move one chunk (or the last chunk and its trailers) from the buffer; False when more bytes are needed."""
        end = self.buf.find(b"\r\n")
        if end < 0:
            return False
        size_text = bytes(self.buf[:end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size {size_text[:40]!r}") from None
        if size > 0:
            if len(self.buf) < end + 2 + size + 2:
                return False
            self.chunks.append(bytes(self.buf[end + 2:end + 2 + size]))
            del self.buf[:end + 2 + size + 2]
            return True
        if self.buf[end + 2:end + 4] == b"\r\n":  # no trailers
            del self.buf[:end + 4]
        else:
            trailers_end = self.buf.find(b"\r\n\r\n", end)
            if trailers_end < 0:
                return False
            del self.buf[:trailers_end + 4]
        body, self.chunks = b"".join(self.chunks), []
        self._finish(body)
        return True

    def _finish(self, body: bytes) -> None:
        head, self.head = self.head, None
        assert head is not None and self.waiter is not None
        try:
            body = _decode(body, head.headers.get("content-encoding", ""))
        except ProtocolError as exc:
            self._fail(exc)
            return
        self.reusable = head.keep_alive and not self.buf and self.transport is not None
        if not self.reusable:
            self.close()
        self.waiter.set_result(Response(head.status, head.reason, head.headers, body))

    def _fail(self, exc: Exception) -> None:
        self.head = None
        self.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)


def _decode(body: bytes, content_encoding: str) -> bytes:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            return zlib.decompress(body)
    except zlib.error as exc:
        raise ProtocolError(f"bad {encoding} body: {exc}") from None
    raise ProtocolError(f"unsupported Content-Encoding {encoding!r}")
