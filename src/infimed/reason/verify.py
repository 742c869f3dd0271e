"""Rejection sampling of teacher rationales: keep one only if the shared checker confirms its answer.

Reasons a rationale is rejected (each counted in the synthesis report):
``unparsable`` (no readable final answer, or an unclosed <think>), ``wrong_answer``, ``too_long``,
``repetitive`` (looping text), ``answer_leaked`` (the first sentence already states the final answer,
so the "reasoning" is a justification written backwards), ``empty``, ``error`` (the request failed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from infimed.checkers import check_sample, settle
from infimed.schema import Sample

REJECT_REASONS = ("error", "empty", "unparsable", "wrong_answer", "too_long", "repetitive", "answer_leaked")

_THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)
_ANSWER_TAG = re.compile(r"<answer>.*?</answer>", re.S | re.I)
_MARKER = re.compile(
    r"(answer\s*(is|:)|final\s+answer|correct\s+(option|answer|choice)\s+is|\\boxed|答案)", re.I
)
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+|\n+")


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str | None  # one of REJECT_REASONS when rejected
    rationale: str | None  # the reasoning text to store (think content, or the response without the answer tag)


def rationale_text(response: str) -> str:
    """The reasoning part of a response: the <think> block if there is one, else the text without <answer>."""
    m = _THINK.search(response)
    if m:
        return m.group(1).strip()
    return _ANSWER_TAG.sub("", response).strip()


def is_repetitive(text: str, *, n: int = 4, max_dup_fraction: float = 0.35) -> bool:
    """True when too many word n-grams repeat, or one line repeats three times or more."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines and max(lines.count(ln) for ln in set(lines)) >= 3:
        return True
    words = text.lower().split()
    if len(words) < 3 * n:
        return False
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) > max_dup_fraction


def leaks_answer(rationale: str) -> bool:
    """True when the first sentence already announces the final answer."""
    first = _SENTENCE_END.split(rationale.strip(), maxsplit=1)[0]
    return bool(_MARKER.search(first))


def verify(sample: Sample, response: str | None, *, error: str | None = None, max_chars: int = 6000,
           judged: bool | None = None) -> Verdict:
    """Accept or reject one teacher response. ``judged`` is an LLM judge's verdict on its final answer (see
    ``infimed.judge``), which then decides correctness in place of the rule reading."""
    if error is not None:
        return Verdict(False, "error", None)
    if not response or not response.strip():
        return Verdict(False, "empty", None)
    result = settle(check_sample(sample, response), judged)
    if result.extracted is None and judged is None:
        return Verdict(False, "unparsable", None)
    if not result.correct:
        return Verdict(False, "wrong_answer", None)
    rationale = rationale_text(response)
    if len(response) > max_chars:
        return Verdict(False, "too_long", None)
    if is_repetitive(rationale):
        return Verdict(False, "repetitive", None)
    if leaks_answer(rationale):
        return Verdict(False, "answer_leaked", None)
    if not rationale:
        return Verdict(False, "empty", None)
    return Verdict(True, None, rationale)
