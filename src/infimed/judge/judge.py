"""The LLM judge: an ordinary backend asked one templated question per candidate, with a verdict cache.

``Judge.grade`` takes ``JudgeItem`` values and returns one ``JudgeVerdict`` per item id. Work is bounded
whatever the judge does (MedEvalKit retries a down judge up to 1,000 times and hangs a run for hours):
- a verdict in the cache is never asked again; identical (question, reference, candidate) items share one
  request;
- each item gets at most ``max_attempts`` rounds (transport errors are retried inside the backend as
  well); a round that got an unparsable reply asks again with ``retry_temperature``; rounds are spaced by
  exponential backoff;
- requests go in chunks (a small first one); when a whole chunk comes back as errors with no verdict so
  far in the round, the judge is taken as down and the round ends at once, so a run against a dead server
  finishes in seconds with every affected item ``judge_error``.
A verdict that cannot be had is ``correct=None`` with ``error`` set: counted and reported, never scored.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infimed.backends.base import Backend, GenRequest, GenResult, SamplingParams
from infimed.judge.cache import VerdictCache, verdict_key
from infimed.judge.templates import INFIMED, REPORT, JudgeTemplate


@dataclass(frozen=True)
class JudgeItem:
    id: str
    question: str
    reference: str
    candidate: str
    images: tuple[str, ...] = ()  # sent only when the judge is built with ``with_image``
    report: bool = False  # a generated report: graded with the judge's report template


@dataclass(frozen=True)
class JudgeVerdict:
    id: str
    correct: bool | None  # None: judge_error
    reply: str | None
    error: str | None = None
    cached: bool = False
    attempts: int = 0


@dataclass
class JudgeStats:
    n_items: int = 0
    n_cached: int = 0
    n_calls: int = 0
    n_errors: int = 0
    seconds: float = 0.0
    down: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"n_items": self.n_items, "n_cached": self.n_cached, "n_calls": self.n_calls,
                "n_judge_errors": self.n_errors, "seconds": round(self.seconds, 3), "judge_down": self.down}


@dataclass
class Judge:
    backend: Backend
    template: JudgeTemplate = INFIMED
    report_template: JudgeTemplate = REPORT
    cache_path: Path | None = None
    max_attempts: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    max_new_tokens: int = 512
    retry_temperature: float = 0.5
    with_image: bool = False
    chunk_size: int = 256
    probe_size: int = 32
    seed: int = 0
    stats: JudgeStats = field(default_factory=JudgeStats)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.chunk_size < 1:
            raise ValueError("judge: max_attempts and chunk_size must be >= 1")
        self.model = str(self.backend.describe().get("model"))

    def template_for(self, item: JudgeItem) -> JudgeTemplate:
        return self.report_template if item.report else self.template

    def key(self, item: JudgeItem) -> str:
        template = self.template_for(item)
        return verdict_key(model=self.model, template=template.name, version=template.version,
                           question=item.question, reference=item.reference, candidate=item.candidate,
                           images=item.images if self.with_image else ())

    def request(self, key: str, item: JudgeItem) -> GenRequest:
        text = self.template_for(item).prompt(question=item.question, reference=item.reference,
                                              candidate=item.candidate)
        content: list[dict[str, Any]] = (
            [{"type": "image", "path": p} for p in item.images] if self.with_image else []
        )
        content.append({"type": "text", "text": text})
        return GenRequest(key, [{"role": "user", "content": content}])

    def grade(self, items: Sequence[JudgeItem]) -> dict[str, JudgeVerdict]:
        """One verdict per item id (cached, asked, or judge_error); appends every reply to the cache."""
        start = time.perf_counter()
        cache = VerdictCache(self.cache_path) if self.cache_path is not None else None
        keys = {item.id: self.key(item) for item in items}
        by_key = {keys[item.id]: item for item in items}
        finished: dict[str, dict[str, Any]] = {}
        if cache is not None:
            finished = {k: row for k in by_key if (row := cache.get(k)) is not None}
        cached = set(finished)
        failed: dict[str, dict[str, Any]] = {}
        try:
            todo = [k for k in by_key if k not in finished]
            for attempt in range(1, self.max_attempts + 1):
                if not todo:
                    break
                if attempt > 1:
                    time.sleep(min(self.backoff_max, self.backoff_base * 2 ** (attempt - 2)))
                self._round(todo, by_key, attempt, cache, finished, failed)
                todo = [k for k in todo if k not in finished]
        finally:
            if cache is not None:
                cache.close()
        out: dict[str, JudgeVerdict] = {}
        for item in items:
            k = keys[item.id]
            row = finished.get(k) or failed.get(k) or {"reply": None, "error": "not asked", "attempts": 0}
            out[item.id] = JudgeVerdict(item.id, row.get("correct") if k in finished else None, row.get("reply"),
                                        error=None if k in finished else str(row.get("error")),
                                        cached=k in cached, attempts=int(row.get("attempts") or 0))
        self.stats.n_items += len(items)
        self.stats.n_cached += sum(1 for item in items if keys[item.id] in cached)
        self.stats.n_errors += sum(1 for v in out.values() if v.correct is None)
        self.stats.seconds += time.perf_counter() - start
        return out

    def _round(self, todo: list[str], by_key: dict[str, JudgeItem], attempt: int, cache: VerdictCache | None,
               finished: dict[str, dict[str, Any]], failed: dict[str, dict[str, Any]]) -> None:
        unparsable = {k for k, row in failed.items() if row.get("reply") is not None}
        temperature = self.retry_temperature if attempt > 1 and unparsable else 0.0
        got_verdict = False
        first = min(self.chunk_size, self.probe_size)  # a small first chunk finds a dead judge quickly
        bounds = [0, *range(first, len(todo), self.chunk_size), len(todo)]
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            chunk = todo[lo:hi]
            results: list[GenResult] = []

            def on_result(result: GenResult, results: list[GenResult] = results) -> None:
                results.append(result)
                row = self._row(result, attempt, self.template_for(by_key[result.id]))
                if cache is not None:
                    cache.put(row)
                (finished if isinstance(row["correct"], bool) else failed)[result.id] = row

            params = SamplingParams(max_new_tokens=self.max_new_tokens, temperature=temperature,
                                    seed=self.seed + attempt - 1)
            self.backend.generate([self.request(k, by_key[k]) for k in chunk], params, on_result)
            self.stats.n_calls += len(results)
            for k in chunk:  # a backend that dropped a request: the item is failed, not lost
                if k not in finished and k not in failed:
                    failed[k] = {"key": k, "reply": None, "error": "judge backend returned no result",
                                 "attempts": attempt}
            got_verdict = got_verdict or any(isinstance(finished.get(k, {}).get("correct"), bool) for k in chunk)
            if not got_verdict and all(r.error for r in results):
                self.stats.down = True
                for k in todo[hi:]:
                    failed.setdefault(k, {"key": k, "reply": None, "attempts": attempt,
                                          "error": f"judge unavailable: {results[0].error if results else 'no reply'}"})
                return

    def _row(self, result: GenResult, attempt: int, template: JudgeTemplate) -> dict[str, Any]:
        correct = None if result.error else template.parse(result.response)
        error = result.error or (None if correct is not None else "unparsable verdict")
        return {"key": result.id, "model": self.model, "template": template.name, "version": template.version, "correct": correct, "reply": result.response, "error": error,
                "attempts": attempt}

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend.describe(), "model": self.model, "template": self.template.describe(),
            "report_template": self.report_template.describe(),
            "with_image": self.with_image, "max_attempts": self.max_attempts, "max_new_tokens": self.max_new_tokens,
            "retry_temperature": self.retry_temperature,
            "cache": str(self.cache_path) if self.cache_path is not None else None,
        }
