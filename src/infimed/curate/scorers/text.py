"""Text quality: sensible length, little repetition, and medical-term density from the bundled lexicon."""

from __future__ import annotations

import functools
import re
from importlib import resources

from infimed.schema import Sample

WORD = re.compile(r"[a-z0-9][a-z0-9-]*")


@functools.cache
def medical_terms() -> frozenset[str]:
    text = resources.files("infimed.curate").joinpath("lexicon", "medical_terms.txt").read_text(encoding="utf-8")
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


def _length_score(n_words: int) -> float:
    if n_words < 3:
        return n_words / 3 * 0.5
    if n_words <= 120:
        return 1.0
    return max(0.3, 1.0 - (n_words - 120) / 400)


def repetition(words: list[str], n: int = 3) -> float:
    """Fraction of word n-grams that repeat an earlier one (0 = none, -> 1 = a loop)."""
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def text_quality(sample: Sample) -> float:
    parts = [sample.question, *(sample.options or {}).values(), sample.rationale or ""]
    if sample.answer_type == "open":
        parts.append(sample.answer)
    words = WORD.findall(" ".join(parts).lower())
    q_words = WORD.findall(sample.question.lower())
    lexicon = medical_terms()
    density = sum(w in lexicon for w in words) / max(len(words), 1)
    term_score = min(density / 0.15, 1.0)  # ~1 medical term in 7 words is "fully medical"
    score = 0.4 * _length_score(len(q_words)) + 0.3 * (1.0 - min(repetition(words) * 2, 1.0)) + 0.3 * term_score
    return round(score, 4)
