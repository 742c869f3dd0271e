"""``negation`` (yes/no): the question paired with its negation (ProbMed-style); both must be answered
consistently, i.e. with opposite answers.

English questions that open with an auxiliary verb are negated by rule: "Is there a lesion?" -> "Is there
no lesion?", "Does this image show ..." -> "Does this image not show ...", "Is the lesion in ..." ->
"Is the lesion not in ...". A question no rule handles (another language, a statement) gets no variant and
is counted in ``n_skipped``.
"""

from __future__ import annotations

import re
from typing import Any

from infimed.eval.probes.base import Group, ProbeContext, Stats, make_variant, rate_text, register, scored
from infimed.schema import Sample

AUXILIARIES = {"is", "are", "was", "were", "does", "do", "did", "can", "could", "has", "have", "had", "will",
               "would", "should", "may", "might", "must"}
PRONOUNS = {"this", "that", "it", "these", "those", "you", "we", "they", "he", "she", "i"}
DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "its", "his", "her", "their", "any", "each"}
VERBS = {"show", "shows", "contain", "come", "have", "appear", "demonstrate", "reveal", "indicate", "suggest",
         "depict", "involve", "exhibit", "look", "seem", "represent", "belong", "affect", "extend", "include",
         "present", "display", "see", "find", "detect", "identify", "consist", "cross", "compress", "occupy"}
DEMONSTRATIVES = {"this", "that", "these", "those"}
NOUNS = {"image", "picture", "scan", "film", "radiograph", "patient", "lesion", "study", "slide", "photo", "view",
         "section", "examination", "exam", "mass", "organ", "finding", "region", "x-ray", "ct", "mri"}
_WORD = re.compile(r"\S+")


def _bare(word: str) -> str:
    return re.sub(r"[^\w-]", "", word).lower()


def negate(question: str) -> str | None:
    """The negated question, or None when no rule applies."""
    q = question.strip()
    words = _WORD.findall(q)
    if len(words) < 2 or _bare(words[0]) not in AUXILIARIES or not q.endswith("?"):
        return None
    if any(_bare(w) in {"not", "no", "never", "n't"} or w.lower().endswith("n't") for w in words):
        return None  # already negative: negating twice reads badly
    aux = _bare(words[0])
    second = _bare(words[1])
    if second == "there":  # "Is there a lesion" -> "Is there no lesion"; "Are there exactly 2" -> "not exactly"
        if len(words) > 2 and _bare(words[2]) in {"a", "an", "any", "some"}:
            return " ".join([*words[:2], "no", *words[3:]])
        word = "no" if len(words) > 2 and not re.match(r"\d|exactly|more|less|fewer|at\b", _bare(words[2])) else "not"
        return " ".join([*words[:2], word, *words[2:]])
    if aux in {"does", "do", "did"}:  # before the main verb
        for i in range(2, len(words)):
            if _bare(words[i]) in VERBS:
                return " ".join([*words[:i], "not", *words[i:]])
    end = _subject_end(words)
    if end is None or end >= len(words):
        return None
    return " ".join([*words[:end], "not", *words[end:]])


def _subject_end(words: list[str]) -> int | None:
    """Index just after the subject that follows the auxiliary: a pronoun ("Is this a CT image"), or a
    determiner and its noun, with any "of X" ("Is the number of lesions 2", "Was this image acquired")."""
    first = _bare(words[1])
    if first in PRONOUNS and not (first in DEMONSTRATIVES and len(words) > 2 and _bare(words[2]) in NOUNS):
        return 2
    if first in DETERMINERS and len(words) > 2:
        end = 3
        while end + 1 < len(words) and _bare(words[end]) == "of":
            end += 2
        return end
    return None


def negation_metric(groups: list[Group], stats: Stats) -> dict[str, Any]:
    pairs = [(g.plain, g.variants["negated"]) for g in groups if scored(g.plain) and scored(g.variants.get("negated"))]
    parsed = [(p, n) for p, n in pairs if p.get("extracted") and n.get("extracted")]
    consistent = sum(p["extracted"] != n["extracted"] for p, n in parsed)
    return {
        "n_pairs": len(pairs),
        "n_skipped": sum(1 for g in groups if scored(g.plain) and g.plain.get("answer_type") == "yes_no"
                         and "negated" not in g.variants),
        "plain_accuracy": stats.rate("plain", sum(bool(p["correct"]) for p, _ in pairs), len(pairs)),
        "negated_accuracy": stats.rate("negated", sum(bool(n["correct"]) for _, n in pairs), len(pairs)),
        "both_right": stats.rate("both", sum(bool(p["correct"] and n["correct"]) for p, n in pairs), len(pairs)),
        "consistency": stats.rate("consistency", consistent, len(pairs)),
    }


def negation_summary(m: dict[str, Any]) -> str:
    return (f"consistent (opposite answers) {rate_text(m['consistency'])}; both right {rate_text(m['both_right'])}; "
            f"negated accuracy {rate_text(m['negated_accuracy'])}; {m['n_skipped']} questions no rule could negate")


@register("negation", negation_metric, summary=negation_summary)
def negation_variants(sample: Sample, ctx: ProbeContext) -> list[Sample]:
    if sample.answer_type != "yes_no" or sample.language != "en":
        return []
    negated = negate(sample.question)
    if negated is None:
        return []
    return [make_variant(sample, "negation", "negated", question=negated,
                         answer="no" if sample.answer == "yes" else "yes")]
