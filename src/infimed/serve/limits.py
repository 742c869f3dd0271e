"""Per-user rate and concurrency limits and the global admission gate (a bounded queue, never unbounded).

Everything runs on the event loop thread, so plain counters need no locks.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


class Refused(Exception):
    """A request refused by a limit: HTTP ``status`` with ``Retry-After`` seconds and a message."""

    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass
class Bucket:
    tokens: float
    stamp: float


@dataclass
class UserLimits:
    """A token bucket of ``rate`` requests per minute (burst = rate) and a cap on requests in flight."""

    default_rate: int
    concurrency: int
    _buckets: dict[str, Bucket] = field(default_factory=dict)
    _inflight: dict[str, int] = field(default_factory=dict)

    def take(self, user: str, rate: int | None) -> None:
        rate = rate or self.default_rate
        now = time.monotonic()
        b = self._buckets.setdefault(user, Bucket(float(rate), now))
        b.tokens = min(float(rate), b.tokens + (now - b.stamp) * rate / 60.0)
        b.stamp = now
        if b.tokens < 1.0:
            wait = math.ceil((1.0 - b.tokens) * 60.0 / rate)
            raise Refused(429, f"rate limit: {rate} requests per minute", retry_after=max(1, wait))
        b.tokens -= 1.0

    @asynccontextmanager
    async def slot(self, user: str) -> AsyncIterator[None]:
        if self._inflight.get(user, 0) >= self.concurrency:
            raise Refused(429, f"concurrency limit: {self.concurrency} requests in flight per user", retry_after=1)
        self._inflight[user] = self._inflight.get(user, 0) + 1
        try:
            yield
        finally:
            self._inflight[user] -= 1


class Gate:
    """At most ``inflight`` requests at the model; at most ``queue`` more wait (each up to ``timeout`` s)."""

    def __init__(self, inflight: int, queue: int, timeout: float):
        self.inflight, self.queue, self.timeout = inflight, queue, timeout
        self._sem = asyncio.Semaphore(inflight)
        self.admitted = 0  # running + waiting

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.admitted >= self.inflight + self.queue:
            raise Refused(429, "server busy: the request queue is full", retry_after=1)
        self.admitted += 1
        try:
            try:
                await asyncio.wait_for(self._sem.acquire(), self.timeout)
            except TimeoutError:
                raise Refused(503, f"server busy: no slot within {self.timeout:g} s", retry_after=5) from None
            try:
                yield
            finally:
                self._sem.release()
        finally:
            self.admitted -= 1
