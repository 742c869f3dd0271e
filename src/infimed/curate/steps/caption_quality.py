"""Step ``caption_quality``: clean and check the text of caption and report samples (``answer_type: report``).

Figure boilerplate is stripped from the text, not a reason to drop it: figure labels ("Fig. 2(b)", "Figure 3."),
"see text", pointer marks ("(arrow)", "(arrowheads)", "(asterisk)") and reference brackets ("[12]", "[3, 4-6]")
go, and the sample is kept with ``meta.caption_cleaned`` naming what was removed when what remains passes.
Then, in order, a sample is dropped as ``caption_too_short`` / ``caption_too_long`` (word bounds),
``caption_language`` (a text declared English that is mostly non-Latin letters, or of six words or more
without one English function word) or ``caption_truncated`` (no closing full stop, a dangling last word such
as "and" / "the", or a ``Findings:`` report with no ``Impression:``). Other answer types pass untouched.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from infimed.curate.base import STEPS, Drop
from infimed.schema import Sample

BOILERPLATE = {
    "figure_label": re.compile(r"\b(?:Fig(?:ure)?s?\.?)\s*\d+[A-Za-z]?(?:\s*\([a-z]\))?\s*[.:,]?(?:\s*see text\.?)?",
                               re.IGNORECASE),
    "see_text": re.compile(r"[(\[]?\bsee (?:the )?(?:main )?text\b[)\]]?\.?", re.IGNORECASE),
    "pointer": re.compile(r"\s*\((?:(?:white|black|red|yellow) )?(?:arrows?|arrowheads?|asterisks?|stars?|\*)\)",
                          re.IGNORECASE),
    "reference": re.compile(r"\s*\[\d+(?:\s*[,\u2013-]\s*\d+)*\]"),
}
DANGLING = {"a", "an", "the", "and", "or", "of", "in", "on", "with", "without", "at", "to", "for", "by", "is",
            "are", "showing", "demonstrating", "shows", "from", "than", "as"}
FUNCTION_WORDS = {"the", "a", "an", "of", "in", "on", "and", "with", "no", "is", "are", "there", "at", "to",
                  "for", "by", "or", "not", "this", "from"}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def strip_boilerplate(text: str) -> tuple[str, list[str]]:
    """The text without figure labels, "see text", pointer marks and references; the kinds removed."""
    removed = []
    for kind, pattern in BOILERPLATE.items():
        text, n = pattern.subn("", text)
        if n:
            removed.append(kind)
    text = re.sub(r"\s+([.,;:])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()
    text = re.sub(r"^[.,;:\s]+", "", text)
    if removed and text and text[0].islower():
        text = text[0].upper() + text[1:]
    if removed and text and text[-1].isalnum():
        text += "."
    return text, removed


def why_truncated(text: str) -> str | None:
    stripped = re.sub(r"\s*\([^()]*\)\s*$", "", text.strip())  # a closing aside: "... quadrant. (Pt: ...)"
    stripped = stripped.rstrip(" )\"'\u201d")
    if not stripped.endswith((".", "!", "?")):
        words = _WORD.findall(stripped)
        last = words[-1].lower() if words else ""
        return f"ends with {last!r}, no closing full stop" if last not in DANGLING else f"ends with dangling {last!r}"
    if re.match(r"\s*findings\s*:", text, re.IGNORECASE) and not re.search(r"impression\s*:", text, re.IGNORECASE):
        return "a Findings report with no Impression"
    return None


def why_not_language(text: str, language: str) -> str | None:
    if language != "en":
        return None
    words = _WORD.findall(text)
    letters = "".join(words)
    latin = sum(ch.isascii() for ch in letters)
    if letters and latin / len(letters) < 0.8:
        return f"declared English, {latin / len(letters):.0%} Latin letters"
    if len(words) >= 6 and not FUNCTION_WORDS & {w.lower() for w in words}:
        return "declared English, no English function word"
    return None


class CaptionQuality:
    name = "caption_quality"
    per_sample = True

    def __init__(self, *, min_words: int = 4, max_words: int = 400, strip: bool = True):
        if min_words < 1 or max_words < min_words:
            raise ValueError(f"min_words / max_words: need 1 <= min_words <= max_words, got {min_words} / {max_words}")
        self.min_words, self.max_words, self.strip = min_words, max_words, strip
        self.cleaned: Counter[str] = Counter()
        self.checked = 0

    def check(self, sample: Sample) -> Sample | Drop:
        if sample.answer_type != "report":
            return sample
        self.checked += 1
        text, removed = strip_boilerplate(sample.answer) if self.strip else (sample.answer, [])
        n = len(text.split())
        if n < self.min_words:
            return Drop(sample, "caption_too_short", f"{n} words (< {self.min_words}) after cleaning: {text!r}")
        if n > self.max_words:
            return Drop(sample, "caption_too_long", f"{n} words (> {self.max_words})")
        why = why_not_language(text, sample.language) or None
        if why:
            return Drop(sample, "caption_language", why)
        why = why_truncated(text)
        if why:
            return Drop(sample, "caption_truncated", f"{why}: ...{text[-40:]!r}")
        if not removed:
            return sample
        self.cleaned.update(removed)
        meta = {**sample.meta, "caption_cleaned": removed}
        return sample.model_copy(update={"answer": text, "meta": meta}).with_base_dir(sample.base_dir)

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        for s in samples:
            yield self.check(s)

    def report(self) -> dict[str, Any]:
        return {"checked": self.checked, "cleaned": dict(self.cleaned)}


@STEPS.register("caption_quality")
def build(**options: Any) -> CaptionQuality:
    return CaptionQuality(**options)
