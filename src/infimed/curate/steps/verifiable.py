"""Step ``verifiable``: keep only prompts whose answer the shared checker can verify (RL prompt pools).

A GRPO reward is the answer checker (``infimed.checkers``) applied to a sampled completion, so a prompt is
worth an RL rollout only when that checker can score it. The test is the checker itself: the gold answer,
written as a model would write it, must read back as correct. Choice and yes/no questions pass unless their
record is inconsistent; an open answer must also be short (``max_open_words``), since exact match on a long
free-text answer scores every paraphrase 0 and gives the policy no signal. Drops: ``unverifiable``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from infimed.checkers import check_sample
from infimed.curate.base import STEPS, Drop
from infimed.prompts import target_text
from infimed.schema import Sample


def why_unverifiable(sample: Sample, *, max_open_words: int) -> str | None:
    """None when the checker can score ``sample``; else the reason it cannot."""
    if sample.answer_type == "open" and len(sample.answer.split()) > max_open_words:
        return f"open answer of {len(sample.answer.split())} words (> {max_open_words}): exact match cannot reward it"
    try:
        result = check_sample(sample, target_text(sample, "direct"))
    except ValueError as exc:  # an answer type the checker does not score
        return str(exc)
    if not result.correct:
        return f"the checker reads the gold answer {sample.answer!r} as {result.extracted!r} ({result.rule})"
    return None


class Verifiable:
    name = "verifiable"
    per_sample = True

    def __init__(self, *, max_open_words: int = 5):
        if max_open_words < 1:
            raise ValueError(f"max_open_words: must be >= 1, got {max_open_words}")
        self.max_open_words = max_open_words
        self._types: Counter[str] = Counter()

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        for s in samples:
            why = why_unverifiable(s, max_open_words=self.max_open_words)
            if why is None:
                yield s
            else:
                self._types[s.answer_type] += 1
                yield Drop(s, "unverifiable", why)

    def report(self) -> dict[str, Any]:
        return {"unverifiable_by_answer_type": dict(self._types)}


@STEPS.register("verifiable")
def build(**options: Any) -> Verifiable:
    return Verifiable(**options)
