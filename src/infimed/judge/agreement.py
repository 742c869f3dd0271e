"""Judge scores beside the rule scores: per slice, the judge accuracy, the share judged, and how far the
judge and the rules agree on the samples both scored (raw agreement and Cohen's kappa).

The judge score of a slice counts, for every scored sample, the judge's verdict where the policy sent the
sample to the judge and the rule reading elsewhere (what MedEvalKit-style tables report: closed questions
by rule, open ones by judge). ``judge_error`` samples are left out of it and counted in
``n_judge_errors``. Agreement uses only samples with both a rule score and a judge verdict.

Cohen's kappa = (p_o - p_e) / (1 - p_e), with p_e the agreement expected from the two raters' marginal
rates; it is None (undefined) when p_e = 1, i.e. both raters gave one and the same value throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from infimed.eval.metrics import accuracy_ci, group_seed


def cohen_kappa(pairs: Iterable[tuple[bool, bool]]) -> float | None:
    """Cohen's kappa of two binary raters over aligned pairs; None when undefined or there are no pairs."""
    n = both = a_yes = b_yes = 0
    for a, b in pairs:
        n += 1
        both += a == b
        a_yes += a
        b_yes += b
    if n == 0:
        return None
    p_o = both / n
    p_e = (a_yes / n) * (b_yes / n) + (1 - a_yes / n) * (1 - b_yes / n)
    if p_e >= 1.0:
        return None
    return (p_o - p_e) / (1 - p_e)


@dataclass
class JudgeTally:
    n: int = 0  # samples with a usable score (rule, or judge where judged)
    n_correct: int = 0
    n_rule: int = 0  # samples with a rule score
    n_judged: int = 0  # samples with a judge verdict
    n_judge_errors: int = 0
    n_agree: int = 0
    rule_only_right: int = 0  # rule right, judge wrong
    judge_only_right: int = 0

    def __post_init__(self) -> None:
        self.pairs: list[tuple[bool, bool]] = []

    def add(self, row: Mapping[str, Any]) -> None:
        if row.get("error") is not None:
            return
        rule = row.get("correct")
        rule = rule if isinstance(rule, bool) else None
        self.n_rule += rule is not None
        if row.get("judged"):
            verdict = row.get("judge_correct")
            if not isinstance(verdict, bool):
                self.n_judge_errors += 1
                return
            self.n_judged += 1
            self.n += 1
            self.n_correct += verdict
            if rule is not None:
                self.pairs.append((rule, verdict))
                self.n_agree += rule == verdict
                self.rule_only_right += rule and not verdict
                self.judge_only_right += verdict and not rule
        elif rule is not None:
            self.n += 1
            self.n_correct += rule

    def group(self, *, n_boot: int, seed: int, key: str) -> dict[str, Any]:
        n_pairs = len(self.pairs)
        return {
            "judge_accuracy": self.n_correct / self.n if self.n else None,
            "judge_n": self.n,
            "judge_ci95": accuracy_ci(self.n_correct, self.n, n_boot=n_boot, seed=group_seed(seed, "judge:" + key)),
            "judged_share": self.n_judged / self.n_rule if self.n_rule else None,
            "n_judged": self.n_judged,
            "n_judge_errors": self.n_judge_errors,
            "judge_agreement": self.n_agree / n_pairs if n_pairs else None,
            "judge_kappa": cohen_kappa(self.pairs),
            "n_both_scored": n_pairs,
            "rule_right_judge_wrong": self.rule_only_right,
            "judge_right_rule_wrong": self.judge_only_right,
        }


def add_judge_scores(results: dict[str, Any], rows: Iterable[Mapping[str, Any]],
                     slices: Callable[[Mapping[str, Any]], dict[str, str]], *, n_boot: int, seed: int) -> None:
    """Write the judge fields into ``results['overall']`` and every ``results['by'][breakdown][value]``."""
    overall = JudgeTally()
    by: dict[str, dict[str, JudgeTally]] = {}
    for row in rows:
        overall.add(row)
        for breakdown, value in slices(row).items():
            by.setdefault(breakdown, {}).setdefault(value, JudgeTally()).add(row)
    results["overall"].update(overall.group(n_boot=n_boot, seed=seed, key="overall"))
    for breakdown, groups in by.items():
        for value, tally in groups.items():
            target = results["by"].setdefault(breakdown, {}).setdefault(value, {})
            target.update(tally.group(n_boot=n_boot, seed=seed, key=f"{breakdown}={value}"))
