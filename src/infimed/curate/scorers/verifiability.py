"""Answer verifiability: closed answers can be checked exactly; short open answers mostly; vague ones not."""

from __future__ import annotations

import re

from infimed.schema import Sample

VAGUE = re.compile(
    r"\b(maybe|perhaps|possibly|probably|likely|unclear|uncertain|various|several|some|depends|"
    r"might|could be|not sure|unknown|etc)\b",
    re.IGNORECASE,
)


def verifiability(sample: Sample) -> float:
    if sample.answer_type == "choice":
        return 1.0
    if sample.answer_type == "yes_no":
        return 0.9
    n_words = len(sample.answer.split())
    score = 0.8 if n_words <= 3 else 0.6 if n_words <= 10 else 0.4
    if VAGUE.search(sample.answer):
        score -= 0.3
    return round(max(score, 0.0), 4)
