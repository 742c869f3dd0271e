"""Any OpenAI-compatible chat server (``vllm serve``, sglang, a hosted API), over http:// or https://.

``OpenAIClient`` is the reusable part (the reasoning teacher uses it; so can a judge or a gateway):
``concurrency`` workers, each with its own ``httpx.AsyncClient``, pull jobs lazily. Each request is
retried on 408/409/425/429, 5xx, timeouts, connection, proxy, TLS and protocol errors with exponential
backoff and jitter, honouring ``Retry-After``; other 4xx and an untrusted certificate fail at once. A request
that still fails comes back as an error reply, never as an exception, so one bad request never stops a
run and is never scored as an answer.

Why httpx and not the ``openai`` SDK: the SDK is a layer over the same httpx client whose own retries
would have to be switched off for the policy above, and whose typed response models cost CPU per request
for fields nobody reads here. httpx brings what a hospital network needs (proxies from the environment,
redirects, HTTP/2, a hospital's own CA bundle) at ~1 ms of CPU per request, invisible beside a
vision-language model's seconds of GPU (``bench/eval_openai.py``).
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from infimed import __version__
from infimed.backends.base import BACKENDS, GenRequest, GenResult, SamplingParams

if TYPE_CHECKING:
    import ssl

    import httpx

RETRY_STATUS = frozenset({408, 409, 425, 429})
MAX_REDIRECTS = 5


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
    """Async chat-completions client with a concurrency limit and retries. Use ``chat_many`` from sync code.

    Each of the ``concurrency`` workers sends its requests through its own ``httpx.AsyncClient``
    (``connect()``) over one keep-alive connection; proxies from the environment (``HTTPS_PROXY``,
    ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``); certificates checked against certifi's bundle, or a hospital's own CA named by
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``; HTTP/2 over https when ``h2`` is installed (``http2=None``: auto;
    plain http:// stays HTTP/1.1). Redirects: 307/308 are followed with the same POST (at most 5; httpx
    drops the API key when the origin changes); a 301/302/303 would turn the POST into a GET, so it ends
    the request with an error naming the new address to use as ``base_url``.
    """

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
        http2: bool | None = None,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if max_retries < 0 or timeout <= 0:
            raise ValueError(f"max_retries must be >= 0 and timeout > 0, got {max_retries} and {timeout}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        parsed = urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"base URL {base_url!r} is not an http:// or https:// URL")
        try:
            parsed.port  # noqa: B018  (a port that is not a number raises here)
        except ValueError as exc:
            raise ValueError(f"base URL {base_url!r}: {exc}") from exc
        self.model = model
        self.api_key = api_key
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        # HTTP/2 is negotiated in the TLS handshake (ALPN); plain http:// always speaks HTTP/1.1
        auto = parsed.scheme == "https" and importlib.util.find_spec("h2") is not None
        self.http2 = auto if http2 is None else http2
        self._ssl: ssl.SSLContext | None = None
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "User-Agent": f"infimed/{__version__}"}
        if api_key:
            if any(c in api_key for c in "\r\n\0"):
                raise ValueError("the API key contains a line break: it cannot go into the Authorization header")
            self.headers["Authorization"] = f"Bearer {api_key}"

    def connect(self, connections: int = 1) -> httpx.AsyncClient:
        """An HTTP client for ``chat`` keeping up to ``connections`` alive; open it in the loop that uses it.

        ``achat_many`` gives each worker its own one-connection client (as a browser tab would): httpcore's
        pool spends CPU on every request in proportion to connections x waiting requests
        (encode/httpcore#1035), about 3 ms per request for one pool of 64, against ~1 ms for 64 pools of 1.
        """
        import httpx

        if self._ssl is None:  # built once (certifi or SSL_CERT_FILE/SSL_CERT_DIR), shared by every client
            self._ssl = httpx.create_ssl_context(trust_env=True)
        return httpx.AsyncClient(
            headers=self.headers, timeout=self.timeout, http2=self.http2, trust_env=True, verify=self._ssl,
            follow_redirects=True, max_redirects=MAX_REDIRECTS,
            event_hooks={"response": [_refuse_method_change]},
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (1-based): the server's Retry-After, else jittered 2^n."""
        if retry_after is not None:
            return min(retry_after, self.backoff_max * 4)
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return cap * (0.5 + random.random() / 2)

    async def chat(self, http: httpx.AsyncClient, job: ChatJob) -> ChatReply:
        """One request with retries over ``http`` (from ``connect()``); returns an error reply, never raises."""
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
                async with asyncio.timeout(self.timeout):  # bounds the whole attempt, not each read
                    resp = await http.post(self.url, content=payload)
            except TimeoutError:
                error = f"TimeoutError: no complete response within {self.timeout:g} s"
            except MethodChangingRedirect as exc:
                return self._failed(str(exc), start, attempt)
            except (httpx.TransportError, httpx.DecodingError) as exc:  # refused, reset, proxy, TLS, bad bytes
                error = _describe(exc)
                if _untrusted_certificate(exc):  # not transient: say how to trust it instead of retrying
                    return self._failed(f"{error}; if the server uses your organisation's CA, point SSL_CERT_FILE "
                                        "at its bundle", start, attempt)
            except httpx.HTTPError as exc:  # too many redirects: retrying cannot help
                return self._failed(_describe(exc), start, attempt)
            else:
                if resp.status_code == 200:
                    return _reply_from(resp, start, attempt)
                error = f"HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code not in RETRY_STATUS and resp.status_code < 500:
                    return self._failed(error, start, attempt)
                retry_after = retry_after_seconds(resp.headers.get("retry-after"))
            if attempt <= self.max_retries:
                await asyncio.sleep(self.backoff(attempt, retry_after))
        return self._failed(f"failed after {self.max_retries + 1} attempts: {error}", start, self.max_retries + 1)

    @staticmethod
    def _failed(error: str, start: float, attempts: int) -> ChatReply:
        return ChatReply(None, error=error, seconds=time.perf_counter() - start, attempts=attempts)

    async def achat_many(self, jobs: Iterable[ChatJob], on_reply: Callable[[ChatJob, ChatReply], None]) -> None:
        """Run jobs with at most ``concurrency`` in flight; ``on_reply`` is called as each one finishes.

        ``concurrency`` workers pull jobs lazily from one iterator, so a million-job run holds only
        ``concurrency`` requests (and their base64 images) in memory.
        """
        pending = iter(jobs)

        async def worker() -> None:
            job = next(pending, None)  # a shared iterator: each job is taken by exactly one worker
            if job is None:
                return  # fewer jobs than workers: no client opened for nothing
            async with self.connect() as http:
                while job is not None:
                    on_reply(job, await self.chat(http, job))
                    job = next(pending, None)

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    def chat_many(self, jobs: Iterable[ChatJob], on_reply: Callable[[ChatJob, ChatReply], None]) -> None:
        """Synchronous wrapper around ``achat_many`` (runs its own event loop)."""
        asyncio.run(self.achat_many(jobs, on_reply))


class MethodChangingRedirect(Exception):
    """A 301/302/303 answer to a POST: following it would send a GET without the request."""


async def _refuse_method_change(resp: httpx.Response) -> None:
    if resp.status_code in (301, 302, 303) and resp.request.method == "POST":
        raise MethodChangingRedirect(
            f"HTTP {resp.status_code}: the server redirects this POST to {resp.headers.get('location', '?')}"
            " (following would turn it into a GET); use that address as the base URL"
        )


def _innermost(exc: BaseException) -> BaseException:
    for _ in range(8):  # a chain is a few links long; bounded all the same
        if (inner := exc.__cause__ or exc.__context__) is None:
            break
        exc = inner
    return exc


def _untrusted_certificate(exc: BaseException) -> bool:
    import ssl

    return isinstance(_innermost(exc), ssl.SSLCertVerificationError)


def _describe(exc: Exception) -> str:
    """``ConnectError: All connection attempts failed (ConnectionRefusedError: ...)``: httpx's words plus the
    innermost OS error under them, which says what actually happened."""
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    cause = _innermost(exc)
    if cause is not exc and isinstance(cause, OSError) and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return text


def _reply_from(resp: httpx.Response, start: float, attempt: int) -> ChatReply:
    seconds = time.perf_counter() - start
    try:
        data = json.loads(resp.content)
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
