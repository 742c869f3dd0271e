"""Any OpenAI-compatible chat server (``vllm serve``, sglang, a hosted API) over async httpx.

``OpenAIClient`` is the reusable part (the reasoning teacher uses it too): a fixed pool of ``concurrency``
workers pulls jobs lazily, so a million-request run holds only ``concurrency`` requests (and their base64
images) in memory. Each request is retried on 429, 5xx, timeouts and connection errors with exponential
backoff and jitter, honouring ``Retry-After``. A request that still fails comes back as an error reply,
never as an exception, so one bad request never stops a run and is never scored as an answer.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infimed.eval.backends.base import BACKENDS, GenRequest, GenResult, SamplingParams

if TYPE_CHECKING:
    import httpx

RETRY_STATUS = frozenset({408, 409, 425, 429})
JSON_HEADERS = {"content-type": "application/json"}
RAW_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@dataclass(frozen=True)
class ChatJob:
    """One chat request: ``messages`` in HF chat format (image parts with ``path``) or OpenAI format."""

    id: str
    messages: list[dict[str, Any]]
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # extra body fields, e.g. {"top_k": 20}


@dataclass(frozen=True)
class ChatReply:
    text: str | None
    error: str | None = None
    tokens: int | None = None
    seconds: float = 0.0
    attempts: int = 1


def image_data_url(path: str | Path) -> str:
    """A base64 data URL; PNG/JPEG bytes are sent as they are, anything else (DICOM...) as PNG.

    The image is always decoded first, so a corrupt file fails here with ``ImageLoadError`` and its reason.
    """
    from infimed.io.images import load_image

    path = Path(path)
    image = load_image(path)
    mime = RAW_IMAGE_TYPES.get(path.suffix.lower())
    if mime is not None:
        data = path.read_bytes()
    else:
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        data, mime = buf.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn HF image parts ``{"type": "image", "path"}`` into ``image_url`` data URL parts."""
    out = []
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, list):
            parts = [
                {"type": "image_url", "image_url": {"url": image_data_url(p["path"])}}
                if isinstance(p, dict) and p.get("type") == "image"
                else p
                for p in content
            ]
            msg = {**msg, "content": parts}
        out.append(msg)
    return out


def _has_image(messages: list[dict[str, Any]]) -> bool:
    return any(
        isinstance(p, dict) and p.get("type") == "image"
        for m in messages if isinstance(m.get("content"), list) for p in m["content"]
    )


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class OpenAIClient:
    """Async chat-completions client with a concurrency limit and retries. Use ``chat_many`` from sync code."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 32,
        max_retries: int = 6,
        timeout: float = 120.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.transport = transport

    def _clients(self) -> list[httpx.AsyncClient]:
        """One single-connection client per worker: httpcore's shared pool rescans every connection on
        each request, which costs more CPU than the request itself at a few hundred requests/s."""
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        timeout = httpx.Timeout(self.timeout)
        if self.transport is not None:  # an injected transport (tests) is shared by every worker
            return [httpx.AsyncClient(headers=headers, timeout=timeout, transport=self.transport)] * self.concurrency
        # plain http (a local `vllm serve`) never uses TLS, so skip loading the CA bundle (~0.17 s for 32
        # workers); for https it is built once and shared
        ssl_context: Any = httpx.create_ssl_context() if self.url.startswith("https://") else False
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        return [
            httpx.AsyncClient(
                headers=headers, timeout=timeout,
                transport=httpx.AsyncHTTPTransport(verify=ssl_context, limits=one),
            )
            for _ in range(self.concurrency)
        ]

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (1-based): the server's Retry-After, else jittered 2^n."""
        if retry_after is not None:
            return min(retry_after, self.backoff_max * 4)
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return cap * (0.5 + random.random() / 2)

    async def chat(self, http: httpx.AsyncClient, job: ChatJob) -> ChatReply:
        """One request with retries; returns an error reply instead of raising."""
        import httpx

        start = time.perf_counter()
        try:  # decoding and base64-encoding images runs off the event loop; plain text needs no thread hop
            messages = (
                await asyncio.to_thread(to_openai_messages, job.messages)
                if _has_image(job.messages) else job.messages
            )
        except Exception as exc:  # ImageLoadError, unreadable file: the request cannot be built
            return ChatReply(None, error=f"image: {exc}", seconds=time.perf_counter() - start, attempts=0)
        body: dict[str, Any] = {
            "model": self.model, "messages": messages, "max_tokens": job.max_tokens,
            "temperature": job.temperature, "top_p": job.top_p, **job.extra,
        }
        if job.seed is not None:
            body["seed"] = job.seed
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")  # encoded once for every attempt
        error = "no attempt made"
        for attempt in range(1, self.max_retries + 2):
            retry_after = None
            try:
                resp = await http.post(self.url, content=payload, headers=JSON_HEADERS)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            else:
                if resp.status_code == 200:
                    return _reply_from(resp, start, attempt)
                error = f"HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code not in RETRY_STATUS and resp.status_code < 500:
                    return ChatReply(None, error=error, seconds=time.perf_counter() - start, attempts=attempt)
                retry_after = retry_after_seconds(resp.headers.get("retry-after"))
            if attempt <= self.max_retries:
                await asyncio.sleep(self.backoff(attempt, retry_after))
        return ChatReply(
            None, error=f"failed after {self.max_retries + 1} attempts: {error}",
            seconds=time.perf_counter() - start, attempts=self.max_retries + 1,
        )

    async def achat_many(self, jobs: Iterable[ChatJob], on_reply: Callable[[ChatJob, ChatReply], None]) -> None:
        """Run jobs with at most ``concurrency`` in flight; ``on_reply`` is called as each one finishes."""
        pending = iter(jobs)

        async def worker(http: httpx.AsyncClient) -> None:
            for job in pending:  # a shared iterator: each job is taken by exactly one worker
                on_reply(job, await self.chat(http, job))

        clients = self._clients()
        try:
            await asyncio.gather(*(worker(http) for http in clients))
        finally:
            for http in set(clients):
                await http.aclose()

    def chat_many(self, jobs: Iterable[ChatJob], on_reply: Callable[[ChatJob, ChatReply], None]) -> None:
        """Synchronous wrapper around ``achat_many`` (runs its own event loop)."""
        asyncio.run(self.achat_many(jobs, on_reply))


def _reply_from(resp: httpx.Response, start: float, attempt: int) -> ChatReply:
    seconds = time.perf_counter() - start
    try:
        data = resp.json()
        text = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return ChatReply(None, error=f"malformed response ({exc!r}): {resp.text[:300]}", seconds=seconds,
                         attempts=attempt)
    if text is None:
        return ChatReply(None, error="response has no text content", seconds=seconds, attempts=attempt)
    usage = data.get("usage") or {}
    return ChatReply(str(text), tokens=usage.get("completion_tokens"), seconds=seconds, attempts=attempt)


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "http://localhost:8000/v1",
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 32,
        max_retries: int = 6,
        timeout: float = 120.0,
        backoff_base: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.client = OpenAIClient(
            base_url, model, api_key=os.environ.get(api_key_env) or None, concurrency=concurrency,
            max_retries=max_retries, timeout=timeout, backoff_base=backoff_base, transport=transport,
        )

    def generate(
        self, requests: Sequence[GenRequest], params: SamplingParams, on_result: Callable[[GenResult], None]
    ) -> None:
        jobs = (
            ChatJob(r.id, r.messages, max_tokens=params.max_new_tokens, temperature=params.temperature,
                    top_p=params.top_p, seed=params.seed)
            for r in requests
        )

        def done(job: ChatJob, reply: ChatReply) -> None:
            on_result(GenResult(job.id, reply.text, error=reply.error, seconds=reply.seconds, tokens=reply.tokens))

        self.client.chat_many(jobs, done)

    def describe(self) -> dict[str, Any]:
        c = self.client
        return {
            "backend": self.name, "model": c.model, "base_url": self.base_url, "api_key_env": self.api_key_env,
            "concurrency": c.concurrency, "max_retries": c.max_retries, "timeout": c.timeout,
        }


@BACKENDS.register("openai")
def make_openai(model: str, **options: Any) -> OpenAIBackend:
    return OpenAIBackend(model, **options)
