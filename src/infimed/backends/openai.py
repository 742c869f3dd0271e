"""Any OpenAI-compatible chat server (``vllm serve``, sglang, a hosted API), over http:// or https://.

``OpenAIClient`` is the reusable part (the reasoning teacher uses it too): a fixed pool of ``concurrency``
workers pulls jobs lazily, so a million-request run holds only ``concurrency`` requests (and their base64
images) in memory. Each worker owns one keep-alive connection of the small HTTP/1.1 client in
``http11.py`` (httpx cost ~0.9 ms of CPU per request, which held a 32-way run on two cores under 90% of
the server's rate). Each request is retried on 408/409/425/429, 5xx, timeouts, connection and protocol
errors with exponential backoff and jitter, honouring ``Retry-After``; other 4xx fail at once with the
server's text. A request that still fails comes back as an error reply, never as an exception, so one bad
request never stops a run and is never scored as an answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from infimed.backends.base import BACKENDS, GenRequest, GenResult, SamplingParams
from infimed.backends.http11 import Connection, ProtocolError, Response, header_block, split_url

RETRY_STATUS = frozenset({408, 409, 425, 429})


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
    """A base64 data URL of the image as ``infimed.io.images`` decodes it (``encode_for_model``): an 8-bit
    PNG/JPEG as its own bytes, anything a server could misread (DICOM, 16-bit, alpha, EXIF rotation) as PNG.
    A corrupt file fails here with ``ImageLoadError`` and its reason."""
    from infimed.io.images import encode_for_model

    data, mime = encode_for_model(path)
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
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.origin, self.target = split_url(self.url)  # ValueError for a URL that is not http(s)
        self.model = model
        self.api_key = api_key
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "Accept-Encoding": "gzip, deflate", "User-Agent": "infimed"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        header_block(self.headers)  # a line break in the API key is a ValueError here, not at every request

    def connect(self) -> Connection:
        """A keep-alive connection to the server (opened on its first request); one per worker."""
        return Connection(self.origin, headers=self.headers, timeout=self.timeout)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (1-based): the server's Retry-After, else jittered 2^n."""
        if retry_after is not None:
            return min(retry_after, self.backoff_max * 4)
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return cap * (0.5 + random.random() / 2)

    async def chat(self, conn: Connection, job: ChatJob) -> ChatReply:
        """One request with retries; returns an error reply instead of raising."""
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
                resp = await conn.request("POST", self.target, payload)
            except (OSError, ProtocolError) as exc:  # refused, reset, timed out (TimeoutError), TLS, bad bytes
                error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            else:
                if resp.status == 200:
                    return _reply_from(resp, start, attempt)
                error = f"HTTP {resp.status}: {resp.text[:300]}"
                if resp.status not in RETRY_STATUS and resp.status < 500:
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

        async def worker(conn: Connection) -> None:
            for job in pending:  # a shared iterator: each job is taken by exactly one worker
                on_reply(job, await self.chat(conn, job))

        conns = [self.connect() for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*(worker(conn) for conn in conns))
        finally:
            for conn in conns:
                conn.close()

    def chat_many(self, jobs: Iterable[ChatJob], on_reply: Callable[[ChatJob, ChatReply], None]) -> None:
        """Synchronous wrapper around ``achat_many`` (runs its own event loop)."""
        asyncio.run(self.achat_many(jobs, on_reply))


def _reply_from(resp: Response, start: float, attempt: int) -> ChatReply:
    seconds = time.perf_counter() - start
    try:
        data = json.loads(resp.body)
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
    ):
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.client = OpenAIClient(
            base_url, model, api_key=os.environ.get(api_key_env) or None, concurrency=concurrency,
            max_retries=max_retries, timeout=timeout, backoff_base=backoff_base,
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
