"""What answers behind the gateway: a shared backend in process (micro-batched) or an upstream server.

``InProcessEngine`` feeds any ``infimed.backends`` backend from one worker task: requests that arrive
together and share sampling settings go to ``generate`` as one batch, in a thread, so the event loop
stays free. It has no token streaming (the protocol returns whole answers), so a stream carries the
answer as one chunk. ``UpstreamEngine`` forwards to an OpenAI-compatible server with httpx; only the
fields the gateway knows are forwarded, and the upstream's own error text is never passed on.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from infimed.backends.base import Backend, GenRequest, GenResult, SamplingParams
from infimed.serve.limits import Refused

log = logging.getLogger("infimed.serve")


@dataclass
class Completion:
    text: str
    finish_reason: str = "stop"
    completion_tokens: int | None = None
    prompt_tokens: int | None = None


@dataclass
class Delta:
    """One piece of a streamed answer; the last one has ``finish_reason`` set (and token counts if known)."""

    text: str = ""
    finish_reason: str | None = None
    completion_tokens: int | None = None
    prompt_tokens: int | None = None


class Engine(Protocol):
    async def start(self) -> None: ...
    async def aclose(self) -> None: ...
    async def complete(self, messages: list[dict[str, Any]], params: SamplingParams, n: int,
                       stop: list[str]) -> list[Completion]: ...
    def stream(self, messages: list[dict[str, Any]], params: SamplingParams,
               stop: list[str]) -> AsyncIterator[Delta]: ...


@dataclass
class _Job:
    request: GenRequest
    params: SamplingParams
    future: asyncio.Future[GenResult] = field(repr=False)


class InProcessEngine:
    def __init__(self, backend: Backend, *, batch_size: int = 8):
        self.backend = backend
        self.batch_size = batch_size
        self._pending: list[_Job] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._worker())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _worker(self) -> None:
        while True:
            await self._wake.wait()
            self._pending = [j for j in self._pending if not j.future.done()]  # cancelled while queued
            if not self._pending:
                self._wake.clear()
                continue
            params = self._pending[0].params
            batch = [j for j in self._pending if j.params == params][: self.batch_size]
            self._pending = [j for j in self._pending if j not in batch]
            try:
                await asyncio.to_thread(self.backend.generate, [j.request for j in batch], params,
                                        _deliverer(asyncio.get_running_loop(), batch))
            except Exception as exc:  # the protocol says backends do not raise; guard anyway
                log.error("backend raised %s", type(exc).__name__)
                for j in batch:
                    if not j.future.done():
                        j.future.set_result(GenResult(j.request.id, None, error="backend raised"))

    async def _one(self, messages: list[dict[str, Any]], params: SamplingParams) -> Completion:
        future: asyncio.Future[GenResult] = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(GenRequest(uuid.uuid4().hex, messages), params, future))
        self._wake.set()
        result = await future
        if result.response is None:
            log.error("backend error for one request (%s)", (result.error or "").split(":", 1)[0][:40])
            raise Refused(502, "the model failed to answer this request")
        hit_cap = result.tokens is not None and result.tokens >= params.max_new_tokens
        return Completion(result.response, "length" if hit_cap else "stop", result.tokens)

    async def complete(self, messages: list[dict[str, Any]], params: SamplingParams, n: int,
                       stop: list[str]) -> list[Completion]:
        variants = [params if params.temperature == 0 else
                    SamplingParams(params.max_new_tokens, params.temperature, params.top_p, params.seed + i)
                    for i in range(n)]
        done = await asyncio.gather(*(self._one(messages, p) for p in variants))
        return [_apply_stop(c, stop) for c in done]

    async def stream(self, messages: list[dict[str, Any]], params: SamplingParams,
                     stop: list[str]) -> AsyncIterator[Delta]:
        (c,) = await self.complete(messages, params, 1, stop)
        yield Delta(c.text)
        yield Delta("", c.finish_reason, c.completion_tokens, c.prompt_tokens)


def _deliverer(loop: asyncio.AbstractEventLoop, batch: list[_Job]) -> Callable[[GenResult], None]:
    """``on_result`` for a batch: called in the backend's thread, it resolves futures on the loop's thread."""
    jobs = {j.request.id: j for j in batch}

    def settle(job: _Job, result: GenResult) -> None:
        if not job.future.done():
            job.future.set_result(result)

    def deliver(result: GenResult) -> None:
        loop.call_soon_threadsafe(settle, jobs[result.id], result)

    return deliver


def _apply_stop(c: Completion, stop: list[str]) -> Completion:
    cut = min((i for s in stop if (i := c.text.find(s)) >= 0), default=-1)
    return Completion(c.text[:cut], "stop", c.completion_tokens, c.prompt_tokens) if cut >= 0 else c


def openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Backend messages back to the wire format; each image is the gateway's own PNG as a data URI."""
    out = []
    for m in messages:
        parts: list[dict[str, Any]] = []
        for p in m["content"]:
            if p["type"] == "image":
                data = base64.b64encode(Path(p["path"]).read_bytes()).decode("ascii")
                parts.append({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}})
            else:
                parts.append(p)
        text_only = all(p["type"] == "text" for p in parts)
        out.append({"role": m["role"], "content": "\n".join(p["text"] for p in parts) if text_only else parts})
    return out


class UpstreamEngine:
    def __init__(self, base_url: str, model: str, *, api_key: str | None, timeout: float, connections: int):
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout, follow_redirects=False,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections), trust_env=False,
        )

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        await self._client.aclose()

    def _body(self, messages: list[dict[str, Any]], params: SamplingParams, n: int, stop: list[str],
              stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": openai_messages(messages), "n": n,
                                "max_tokens": params.max_new_tokens, "temperature": params.temperature,
                                "top_p": params.top_p, "stream": stream}
        if params.temperature > 0:
            body["seed"] = params.seed
        if stop:
            body["stop"] = stop
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _refuse(self, status: int, retry_after: str | None) -> Refused:
        if status == 429 or status == 503:
            return Refused(503, "the model server is busy", retry_after=int(float(retry_after or 1)))
        log.error("upstream answered HTTP %d", status)
        return Refused(502, f"the model server answered HTTP {status}")

    async def complete(self, messages: list[dict[str, Any]], params: SamplingParams, n: int,
                       stop: list[str]) -> list[Completion]:
        import httpx

        try:
            resp = await self._client.post("chat/completions", json=self._body(messages, params, n, stop, False))
        except httpx.HTTPError as exc:
            log.error("upstream unreachable: %s", type(exc).__name__)
            raise Refused(502, "the model server is unreachable") from None
        if resp.status_code != 200:
            raise self._refuse(resp.status_code, resp.headers.get("retry-after"))
        try:
            data = resp.json()
            usage = data.get("usage") or {}
            return [Completion(str(c["message"].get("content") or ""), str(c.get("finish_reason") or "stop"),
                               usage.get("completion_tokens"), usage.get("prompt_tokens"))
                    for c in sorted(data["choices"], key=lambda c: c.get("index", 0))]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise Refused(502, "the model server sent a malformed answer") from None

    async def stream(self, messages: list[dict[str, Any]], params: SamplingParams,
                     stop: list[str]) -> AsyncIterator[Delta]:
        import httpx

        body = self._body(messages, params, 1, stop, True)
        finish: str | None = None
        usage: dict[str, Any] = {}
        try:
            async with self._client.stream("POST", "chat/completions", json=body) as resp:
                if resp.status_code != 200:
                    raise self._refuse(resp.status_code, resp.headers.get("retry-after"))
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    try:
                        chunk = json.loads(payload)
                    except ValueError:
                        raise Refused(502, "the model server sent a malformed stream") from None
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content") or ""
                        finish = choice.get("finish_reason") or finish
                        if text:
                            yield Delta(text)
        except httpx.HTTPError as exc:
            log.error("upstream stream failed: %s", type(exc).__name__)
            raise Refused(502, "the model server is unreachable") from None
        yield Delta("", finish or "stop", usage.get("completion_tokens"), usage.get("prompt_tokens"))
