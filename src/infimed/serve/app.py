"""``create_app(settings)``: the gateway's routes. Deny by default: only the paths below exist.

``/v1/chat/completions`` and ``/v1/models`` (bearer auth), ``/healthz`` and ``/readyz`` (no auth, no
data) and the built-in page (``/``, static: every answer it shows comes from the authenticated API).
No docs or OpenAPI routes; admin actions are CLI commands.
"""

import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException

from infimed.backends.base import SamplingParams
from infimed.serve import page
from infimed.serve.audit import AuditLog, load_key
from infimed.serve.engine import Completion, Engine
from infimed.serve.limits import Gate, Refused, UserLimits
from infimed.serve.media import has_images, text_parts, to_backend_messages
from infimed.serve.middleware import GatewayMiddleware, RequestInfo
from infimed.serve.phi import PhiBlocked, PhiPolicy, PhiReport
from infimed.serve.schema import chat_request_model, safe_errors
from infimed.serve.settings import Settings
from infimed.serve.users import User, UserStore

ROUTES = frozenset({"/v1/chat/completions", "/v1/models", "/healthz", "/readyz", *page.ASSETS})


def error_response(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    kind = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}.get(
        status, "invalid_request_error" if status < 500 else "server_error")
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status, headers=headers)


def info_of(request: Request) -> RequestInfo:
    info = request.scope.get("state", {}).get("info")
    return info if isinstance(info, RequestInfo) else RequestInfo()


def build_engine(settings: Settings) -> Engine:
    from infimed.serve.engine import InProcessEngine, UpstreamEngine

    if settings.upstream is not None:
        return UpstreamEngine(settings.upstream, settings.model, api_key=settings.upstream_api_key,
                              timeout=settings.limits.request_timeout,
                              connections=settings.limits.max_inflight)
    from infimed.backends import BACKENDS

    backend = BACKENDS.get(settings.backend)(model=settings.model, **settings.backend_options)
    return InProcessEngine(backend)


def create_app(settings: Settings, *, engine: Engine | None = None, phi: PhiPolicy | None = None) -> FastAPI:
    """The ASGI app. ``engine`` and ``phi`` may be passed in (tests reuse one scrubber across apps)."""
    limits = settings.limits
    store = UserStore(settings.users)
    settings.check_exposure(len(store))
    audit = AuditLog(settings.audit, load_key(settings.key_path, create=True))
    policy = phi or PhiPolicy(settings.phi)
    the_engine = engine or build_engine(settings)
    user_limits = UserLimits(limits.rate_per_minute, limits.user_concurrency)
    gate = Gate(limits.max_inflight, limits.max_queue, limits.queue_timeout)
    served = settings.served_name
    chat_request = chat_request_model(limits)
    ready = {"ok": False}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await the_engine.start()
        audit.record(event="start", model=served, phi=settings.phi, recovered_bytes=audit.recovered_bytes)
        ready["ok"] = True
        try:
            yield
        finally:
            ready["ok"] = False
            await the_engine.aclose()
            audit.record(event="stop")
            audit.close()

    app = FastAPI(title="infimed serve", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.add_middleware(GatewayMiddleware, audit=audit, max_body=limits.max_body_bytes, routes=ROUTES)

    async def authenticate(request: Request) -> User:  # async: FastAPI would run a plain def in a thread
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        user = store.authenticate(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if user is None:
            info_of(request).error = "auth"
            raise Refused(401, "missing, invalid or revoked bearer token")
        info_of(request).user = user.name
        return user

    @app.exception_handler(Refused)
    async def _refused(_request: Request, exc: Refused) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.retry_after)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        try:  # FastAPI parses JSON before dependencies run: never tell an anonymous caller more than 401
            await authenticate(request)
        except Refused as refused:
            return error_response(refused.status, refused.message)
        info_of(request).error = "invalid"
        return error_response(422, safe_errors(list(exc.errors())))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(404, "not found")
        return error_response(exc.status_code, "method not allowed" if exc.status_code == 405 else "refused")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        return JSONResponse({"status": "ready" if ready["ok"] else "starting"}, 200 if ready["ok"] else 503)

    @app.get("/v1/models")
    async def models(user: User = Depends(authenticate)) -> dict[str, Any]:
        listed = [served] if user.may_use(served) else []
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "infimed"}
                                           for m in listed]}

    page.mount(app)

    @app.post("/v1/chat/completions")
    async def chat(request: Request, body: chat_request, user: User = Depends(authenticate)) -> Response:  # type: ignore[valid-type]
        return await answer(request, body, user)

    async def answer(request: Request, body: Any, user: User) -> Response:
        info = info_of(request)
        info.model, info.stream = body.model, body.stream
        if body.model != served or not user.may_use(served):
            info.error = "model"
            raise Refused(404, "model not found (see /v1/models)")
        if body.stream and body.n > 1:
            raise Refused(422, "n: streaming supports n = 1 only")
        user_limits.take(user.name, user.rate)
        stack = AsyncExitStack()
        try:
            await stack.enter_async_context(user_limits.slot(user.name))
            await stack.enter_async_context(gate.slot())
            deadline = time.monotonic() + limits.request_timeout
            async with asyncio.timeout(limits.request_timeout):
                messages, params, phi_in = await prepare(body, stack)
            info.phi["input"] = phi_in.to_dict()
            if body.stream:
                gen = stream_answer(body, messages, params, phi_in, info, deadline)
                info.cleanup, stack = stack, AsyncExitStack()  # freed by the middleware once the stream ends
                return StreamingResponse(gen, media_type="text/event-stream",
                                         headers={"X-Infimed-PHI": phi_in.action})
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                done = await the_engine.complete(messages, params, body.n, stop_list(body.stop))
            return JSONResponse(await completion_body(body, done, phi_in, info),
                                headers={"X-Infimed-PHI": phi_in.action})
        except TimeoutError:
            info.error = "timeout"
            raise Refused(504, f"the request took longer than {limits.request_timeout:g} s") from None
        except PhiBlocked as exc:
            info.error, info.phi["input"] = "phi_blocked", exc.report.to_dict()
            raise Refused(422, str(exc)) from None
        except Refused as exc:
            info.error = info.error or f"refused_{exc.status}"
            raise
        finally:
            await stack.aclose()

    async def prepare(body: Any, stack: AsyncExitStack) -> tuple[list[dict[str, Any]], SamplingParams, PhiReport]:
        if has_images(body.messages):  # decoded off the event loop into a folder deleted with the request
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="infimed-serve-")))
            messages = await asyncio.to_thread(to_backend_messages, body.messages, workdir, limits, settings.image_root)
        else:
            messages = to_backend_messages(body.messages, Path(), limits, None)
        parts = text_parts(messages)
        texts, report = await policy.incoming([p["text"] for p in parts])
        for p, text in zip(parts, texts, strict=True):
            p["text"] = text
        max_tokens = body.max_tokens or body.max_completion_tokens or min(limits.default_max_tokens, limits.max_tokens)
        params = SamplingParams(max_tokens, body.temperature, body.top_p, body.seed or 0)
        return messages, params, report

    async def completion_body(body: Any, done: list[Completion], phi_in: PhiReport, info: RequestInfo) -> dict[str, Any]:
        choices, found, action = [], PhiReport(), "none"
        for i, c in enumerate(done):
            text, rep = await policy.outgoing(c.text)
            found.found.update(rep.found)
            action = rep.action if rep.action != "none" else action
            finish = "content_filter" if rep.action == "withheld" else c.finish_reason
            choices.append({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish})
        found.action = action
        info.phi["output"] = found.to_dict()
        completion = sum(c.completion_tokens or 0 for c in done) if any(c.completion_tokens for c in done) else None
        prompt = done[0].prompt_tokens if done else None
        info.prompt_tokens, info.completion_tokens = prompt, completion
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": served, "choices": choices,
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": (prompt or 0) + (completion or 0) if completion is not None else None},
                "infimed": {"phi": {"input": phi_in.to_dict(), "output": found.to_dict()}}}

    async def stream_answer(body: Any, messages: list[dict[str, Any]], params: SamplingParams, phi_in: PhiReport,
                            info: RequestInfo, deadline: float) -> AsyncIterator[bytes]:
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            chunk = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": served,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return b"data: " + json.dumps(chunk).encode() + b"\n\n"

        try:
            yield event({"role": "assistant", "content": ""})
            held: list[str] = []  # under mask/block the answer is checked whole, so it is held back
            last = None
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                async for d in the_engine.stream(messages, params, stop_list(body.stop)):
                    if d.finish_reason is not None:
                        last = d
                    if d.text and policy.mode == "off":
                        yield event({"content": d.text})
                    elif d.text:
                        held.append(d.text)
            finish = last.finish_reason if last else "stop"
            out = PhiReport()
            if held:
                text, out = await policy.outgoing("".join(held))
                finish = "content_filter" if out.action == "withheld" else finish
                yield event({"content": text})
            info.phi["output"] = out.to_dict()
            info.prompt_tokens = last.prompt_tokens if last else None
            info.completion_tokens = last.completion_tokens if last else None
            yield event({}, finish, infimed={"phi": {"input": phi_in.to_dict(), "output": out.to_dict()}})
            if (body.stream_options or {}).get("include_usage"):
                usage = {"prompt_tokens": info.prompt_tokens, "completion_tokens": info.completion_tokens,
                         "total_tokens": (info.prompt_tokens or 0) + (info.completion_tokens or 0)}
                yield b"data: " + json.dumps({"id": cid, "object": "chat.completion.chunk", "created": created,
                                              "model": served, "choices": [], "usage": usage}).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"
        except (TimeoutError, Refused) as exc:
            status, message = (504, "the request took too long") if isinstance(exc, TimeoutError) else (
                exc.status, exc.message)
            info.error = "timeout" if status == 504 else f"refused_{status}"
            yield b"data: " + json.dumps({"error": {"message": message, "code": status}}).encode() + b"\n\n"

    return app


def stop_list(stop: str | list[str] | None) -> list[str]:
    return [stop] if isinstance(stop, str) else list(stop or [])
