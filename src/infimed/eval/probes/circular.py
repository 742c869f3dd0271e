"""``circular``: every cyclic rotation of a choice question's options (VLMEvalKit's CircularEval).

With k options the plain question is rotation 0 and the probe adds rotations 1..k-1, so the right answer
sits under every letter once. Figures: circular accuracy (right under every rotation; a uniform guesser
gets (1/k)^k), accuracy over all rotations (pooled over every question's k rows: a model that always picks
one letter is right exactly once per question), consistency (the
same option *text* chosen under every rotation) and the position bias: how often each letter is chosen
against how often it is the right one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from infimed.eval.probes.base import Group, ProbeContext, Stats, make_variant, rate_text, register, scored
from infimed.schema import Sample


def rotate(options: dict[str, str], answer: str, shift: int) -> tuple[dict[str, str], str]:
    """Options moved ``shift`` places up (letter i gets the text of letter i+shift), and the new answer."""
    letters = sorted(options)
    k = len(letters)
    rotated = {letters[i]: options[letters[(i + shift) % k]] for i in range(k)}
    new_answer = letters[(letters.index(answer) - shift) % k]
    return rotated, new_answer


def _chosen_text(row: dict[str, Any]) -> str | None:
    letter = row.get("extracted")
    return (row.get("options") or {}).get(letter) if letter else None


def circular_metric(groups: list[Group], stats: Stats) -> dict[str, Any]:
    full = [g for g in groups if scored(g.plain) and g.variants and all(scored(r) for r in g.variants.values())]
    all_right = sum(all(r["correct"] for r in [g.plain, *g.variants.values()]) for g in full)
    consistent = sum(len({_chosen_text(r) for r in [g.plain, *g.variants.values()]} - {None}) == 1
                     and all(r.get("extracted") for r in [g.plain, *g.variants.values()]) for g in full)
    rows = [r for g in full for r in [g.plain, *g.variants.values()]]
    chosen = Counter(str(r["extracted"]) for r in rows if r.get("extracted"))
    right = Counter(str(r["answer"]) for r in rows)
    n_rows = len(rows)
    bias = {letter: {"chosen": chosen[letter] / n_rows, "right": right[letter] / n_rows}
            for letter in sorted(set(chosen) | set(right))} if n_rows else {}
    k_mean = sum(len(g.plain.get("options") or {}) for g in full) / len(full) if full else None
    return {
        "n_questions": len(full),
        "plain_accuracy": stats.rate("plain", sum(bool(g.plain["correct"]) for g in full), len(full)),
        "circular_accuracy": stats.rate("circular", all_right, len(full)),
        "rotation_accuracy": stats.rate("rotations", sum(bool(r["correct"]) for r in rows), n_rows),
        "consistency": stats.rate("consistency", consistent, len(full)),
        "position_bias": bias,
        # a uniform guess, and any model that always picks one letter, is right once per question's k rows
        "chance_rotation_accuracy": len(full) / n_rows if n_rows else None,
        "mean_options": k_mean,
    }


def circular_summary(m: dict[str, Any]) -> str:
    top = max(m["position_bias"].items(), key=lambda kv: kv[1]["chosen"], default=None)
    bias = f"; most chosen letter {top[0]} ({top[1]['chosen']:.0%} of answers, right {top[1]['right']:.0%})" if top else ""
    return (f"circular accuracy {rate_text(m['circular_accuracy'])} vs plain {rate_text(m['plain_accuracy'])}; "
            f"consistency {rate_text(m['consistency'])}{bias}")


@register("circular", circular_metric, summary=circular_summary)
def circular_variants(sample: Sample, ctx: ProbeContext) -> list[Sample]:
    if sample.answer_type != "choice" or not sample.options or len(sample.options) < 2:
        return []
    out = []
    for shift in range(1, len(sample.options)):
        options, answer = rotate(sample.options, sample.answer, shift)
        out.append(make_variant(sample, "circular", f"rot{shift}", options=options, answer=answer))
    return out
