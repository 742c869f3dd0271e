"""The outermost layer of every request: body cap, body HMAC, security headers, one audit line, one log line.

Paths are logged as the route they matched (never the raw path, which can carry anything, nor the query
string); bodies, headers and tokens are never logged. An exception that escapes the app is answered with
a bare 500 and logged by type and place only, so no message text reaches the logs.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from infimed.serve.audit import AuditLog

log = logging.getLogger("infimed.serve")
access = logging.getLogger("infimed.serve.access")
QUIET = ("/healthz", "/readyz")
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
           (b"x-frame-options", b"DENY"), (b"cache-control", b"no-store")]


@dataclass
class RequestInfo:
    """What the handlers learn about a request, for its audit line (counts and names, never content)."""

    route: str = "-"
    user: str = "-"
    model: str | None = None
    stream: bool = False
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    phi: dict[str, Any] = field(default_factory=dict)
    body_hmac: str | None = None
    body_bytes: int = 0
    cleanup: Any = None  # an AsyncExitStack a stream hands over (slots, temp folder): closed however it ends


async def _send_json(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": status}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *HEADERS]})
    await send({"type": "http.response.body", "body": body})


class GatewayMiddleware:
    def __init__(self, app: Any, *, audit: AuditLog, max_body: int, routes: frozenset[str]):
        self.app, self.audit, self.max_body, self.routes = app, audit, max_body, routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        info = RequestInfo(route=scope["path"] if scope["path"] in self.routes else "-")
        scope.setdefault("state", {})["info"] = info
        state = {"status": 0, "done": False}

        async def send_wrapped(message: Any) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                state["done"] = True
            await send(message)

        try:
            replay = await self._read_body(scope, receive, info)
            if replay is None:
                info.error = "body_too_large"
                await _send_json(send_wrapped, 413, f"the request body exceeds {self.max_body} bytes")
            else:
                await self.app(scope, replay, send_wrapped)
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            log.error("unhandled %s at %s:%d", type(exc).__name__, frame.filename.rsplit("/", 1)[-1], frame.lineno)
            info.error = info.error or "internal"
            if not state["status"]:
                await _send_json(send_wrapped, 500, "internal error")
        finally:
            if info.cleanup is not None:  # a stream's slots are freed even if its body never started
                await info.cleanup.aclose()
            status = int(state["status"]) if state["done"] or not state["status"] else 499  # 499: cut off
            self._finish(scope, info, status, time.perf_counter() - start)

    async def _read_body(self, scope: Any, receive: Any, info: RequestInfo) -> Any:
        """Read the whole body (capped) and return a ``receive`` that replays it; None when over the cap."""
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return receive
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        info.body_bytes, info.body_hmac = len(body), self.audit.body_hmac(body)
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    def _finish(self, scope: Any, info: RequestInfo, status: int, seconds: float) -> None:
        client = (scope.get("client") or ("-", 0))[0]
        ms = round(seconds * 1000, 2)
        if scope["path"] in QUIET:
            return
        access.info('%s "%s %s" %d %.1fms user=%s', client, scope["method"], info.route, status, ms, info.user)
        self.audit.record(
            event="request", client=client, user=info.user, method=scope["method"], route=info.route,
            model=info.model, status=status, latency_ms=ms, stream=info.stream, error=info.error,
            prompt_tokens=info.prompt_tokens, completion_tokens=info.completion_tokens, phi=info.phi,
            body_hmac=info.body_hmac, body_bytes=info.body_bytes,
        )
