"""The loopback OpenAI-compatible server the benches measure against (eval_openai, eval_judge, serve_gateway).

A bare asyncio protocol (no stream coroutines, HTTP/1.1 keep-alive) in a process of its own, so the server's
CPU is neither the client's nor the gateway's: each request is answered ``delay`` seconds after it arrived
(``jitter`` spreads the delay, ``fail_rate`` answers a share with 503 + Retry-After: 0), with what
``reply(request_body)`` returns.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import random
import socket
from collections.abc import Callable
from typing import Any

Reply = Callable[[bytes], bytes]  # request body -> JSON payload of a 200 answer


def chat_reply(text: str, **extra: Any) -> Reply:
    """A fixed chat completion whose message is ``text`` (``extra`` adds top-level fields, e.g. usage)."""
    payload = json.dumps({"id": "x", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}], **extra}).encode()
    return lambda _body: payload


class Answerer(asyncio.Protocol):
    def __init__(self, delay: float, reply: Reply, *, jitter: float = 0.0, fail_rate: float = 0.0,
                 rng: random.Random | None = None):
        self.delay, self.reply, self.jitter, self.fail_rate = delay, reply, jitter, fail_rate
        self.rng = rng or random.Random(0)
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self.buf[:end].split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            body, self.buf = self.buf[end + 4:end + 4 + length], self.buf[end + 4 + length:]
            wait = self.delay * (1 + self.jitter * (2 * self.rng.random() - 1))
            asyncio.get_running_loop().call_later(wait, self.respond, body)

    def respond(self, body: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.fail_rate and self.rng.random() < self.fail_rate:
            payload, status = b'{"error": "overloaded"}', b"503 Service Unavailable\r\nRetry-After: 0"
        else:
            payload, status = self.reply(body), b"200 OK"
        self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(payload)).encode() + b"\r\n\r\n" + payload)


def _serve(port: int, delay: float, reply: Reply, jitter: float, fail_rate: float, ready: Any) -> None:
    async def serve() -> None:
        rng = random.Random(0)
        server = await asyncio.get_running_loop().create_server(
            lambda: Answerer(delay, reply, jitter=jitter, fail_rate=fail_rate, rng=rng), "127.0.0.1", port,
            backlog=1024)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(delay: float, reply: Reply, *, jitter: float = 0.0, fail_rate: float = 0.0) -> tuple[mp.Process, int]:
    """The server in a daemon process (forked, so ``reply`` may be a closure); returns it and its port."""
    port, ready = free_port(), mp.get_context("fork").Event()
    server = mp.get_context("fork").Process(target=_serve, args=(port, delay, reply, jitter, fail_rate, ready),
                                            daemon=True)
    server.start()
    if not ready.wait(10):
        raise SystemExit("the loopback server did not start")
    return server, port
