"""Reflective chain-of-thought from templates grounded in the sample's own fields.

For terse-answer datasets (a letter, yes/no, a phrase) there is no reasoning to learn from. Following
Infi-Med's reflective-pattern injection, each trace has three parts: a first reading, a self-check
("Wait, let me re-examine ...") that names a specific visual finding from the modality's checklist or a
competing option, and a confirmed (or corrected) final answer that always equals the gold answer.

Patterns (chosen deterministically from ``seed`` and the sample id):
- ``recheck_finding``: read, re-examine one finding from the checklist, confirm.
- ``rule_out_option``: read, weigh a competing option and rule it out, confirm.
- ``self_correction``: a first reading that leans to a competing option, a re-examination that
  corrects it to the gold answer (closed questions only).
- ``systematic_review``: walk the modality checklist, conclude, then re-check the question's wording.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from infimed.reason.guidance import modality_guide, task_guide
from infimed.schema import Sample

PATTERNS = ("recheck_finding", "rule_out_option", "self_correction", "systematic_review")


def _pick(seed: int, sample_id: str, salt: str, n: int) -> int:
    digest = hashlib.sha256(f"{seed}:{sample_id}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def answer_phrase(sample: Sample, value: str | None = None) -> str:
    """The gold (or another) answer in words: 'B (pneumothorax)', 'yes', or the open phrase."""
    value = sample.answer if value is None else value
    if sample.answer_type == "choice" and sample.options:
        return f"{value} ({sample.options.get(value, '').strip()})"
    return value


def competitors(sample: Sample) -> list[str]:
    """Other answers a reader could confuse with the gold one (option letters or the opposite yes/no)."""
    if sample.answer_type == "choice" and sample.options:
        return [k for k in sorted(sample.options) if k != sample.answer]
    if sample.answer_type == "yes_no":
        return ["no" if sample.answer == "yes" else "yes"]
    return []


def _finding(sample: Sample, value: str) -> str:
    """What the image would have to show for ``value`` to be the answer."""
    if sample.answer_type == "yes_no":
        q = sample.question.rstrip("?").strip()
        return f"the findings support '{value}' to the question \"{q}?\""
    return f"the appearance matches {answer_phrase(sample, value)}"


def _first_reading(sample: Sample, value: str) -> str:
    guide = modality_guide(sample.modality)
    return (
        f"This is a {guide.name}. {task_guide(sample.task)} "
        f"At first reading, {_finding(sample, value)}, so the answer looks like {answer_phrase(sample, value)}."
    )


def _conclude(sample: Sample) -> str:
    return f"Final answer: {answer_phrase(sample)}."


def _recheck_finding(sample: Sample, seed: int) -> str:
    looks = modality_guide(sample.modality).look_at
    look = looks[_pick(seed, sample.id, "look", len(looks))]
    return (
        f"{_first_reading(sample, sample.answer)}\n"
        f"Wait, let me re-examine {look} before committing.\n"
        f"On re-examination, {_finding(sample, sample.answer)}; nothing there contradicts the first reading.\n"
        f"{_conclude(sample)}"
    )


def _rule_out_option(sample: Sample, seed: int) -> str:
    others = competitors(sample)
    if not others:
        return _recheck_finding(sample, seed)
    other = others[_pick(seed, sample.id, "other", len(others))]
    looks = modality_guide(sample.modality).look_at
    look = looks[_pick(seed, sample.id, "look", len(looks))]
    return (
        f"{_first_reading(sample, sample.answer)}\n"
        f"Wait, could the answer be {answer_phrase(sample, other)} instead? Let me check {look}.\n"
        f"That check does not support {answer_phrase(sample, other)}: {_finding(sample, sample.answer)}.\n"
        f"{_conclude(sample)}"
    )


def _self_correction(sample: Sample, seed: int) -> str:
    others = competitors(sample)
    if not others:
        return _recheck_finding(sample, seed)
    first = others[_pick(seed, sample.id, "first", len(others))]
    looks = modality_guide(sample.modality).look_at
    look = looks[_pick(seed, sample.id, "look", len(looks))]
    return (
        f"{_first_reading(sample, first)}\n"
        f"Wait, let me re-examine {look}; the first reading may have been hasty.\n"
        f"Looking again, {_finding(sample, sample.answer)}, which rules out {answer_phrase(sample, first)}. "
        f"I correct my answer.\n"
        f"{_conclude(sample)}"
    )


def _systematic_review(sample: Sample, seed: int) -> str:
    guide = modality_guide(sample.modality)
    steps = "\n".join(f"{i}. Check {look}." for i, look in enumerate(guide.look_at, start=1))
    return (
        f"This is a {guide.name}. I will review it systematically.\n{steps}\n"
        f"Together, {_finding(sample, sample.answer)}.\n"
        f"Wait, let me re-read the question to be sure I answer what it asks: \"{sample.question.strip()}\". "
        f"The finding answers exactly that.\n"
        f"{_conclude(sample)}"
    )


_BUILDERS: dict[str, Callable[[Sample, int], str]] = {
    "recheck_finding": _recheck_finding,
    "rule_out_option": _rule_out_option,
    "self_correction": _self_correction,
    "systematic_review": _systematic_review,
}


def choose_pattern(sample: Sample, seed: int, patterns: tuple[str, ...] = PATTERNS) -> str:
    return patterns[_pick(seed, sample.id, "pattern", len(patterns))]


def reflective_trace(sample: Sample, *, seed: int = 0, pattern: str | None = None) -> tuple[str, str]:
    """Return ``(pattern, rationale)`` for a sample; the rationale ends with the gold answer."""
    pattern = pattern or choose_pattern(sample, seed)
    if pattern not in _BUILDERS:
        raise ValueError(f"unknown reflection pattern {pattern!r}; known: {', '.join(PATTERNS)}")
    return pattern, _BUILDERS[pattern](sample, seed)
