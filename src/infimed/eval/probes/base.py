"""What a probe is: a registered function turning one ``Sample`` into its variants, and a metric over rows.

A variant is an ordinary sample (its own id ``ORIGINAL~probe:variant``, ``meta.probe``, ``meta.variant``,
``meta.variant_of``), so generation is the ordinary runner with its crash-safe cache and scoring is the one
checker. A probe's metric reads the scored rows grouped by original sample (``Group``: the plain row and
the probe's variant rows) and returns its figures with 95% intervals (``Stats``). A probe marked
``after_plain`` builds its variants from the plain responses (a second turn), so it runs in a second pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infimed.eval.metrics import accuracy_ci, group_seed, mcnemar_exact, paired_bootstrap_diff
from infimed.prompts import Mode
from infimed.registry import Registry
from infimed.schema import Sample


@dataclass(frozen=True)
class ProbeContext:
    """What a probe may need beyond the sample itself."""

    samples: Sequence[Sample]  # the whole set (blind draws another image of the same modality from it)
    work_dir: Path  # where derived inputs (corrupted images) are written
    seed: int = 0
    mode: Mode = "direct"
    severities: tuple[int, ...] = (1, 2, 3)
    responses: Mapping[str, str] = field(default_factory=dict)  # plain responses by id (after_plain probes)
    rewordings: Mapping[str, Sequence[str]] = field(default_factory=dict)  # a teacher's paraphrases by id
    cache: dict[str, Any] = field(default_factory=dict)  # indexes a probe builds once over ``samples``


@dataclass
class Group:
    """One original sample's plain row, this probe's variant rows (by variant name) and every variant row
    of the sample (``"probe:variant"``), for metrics that cross probes."""

    plain: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    others: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Stats:
    """Intervals for a metric: proportions and paired differences, each seeded by its own name."""

    n_boot: int = 1000
    seed: int = 0
    prefix: str = ""

    def rate(self, key: str, k: int, n: int) -> dict[str, Any]:
        ci = accuracy_ci(k, n, n_boot=self.n_boot, seed=group_seed(self.seed, f"{self.prefix}{key}"))
        return {"n": n, "k": k, "rate": k / n if n else None, "ci95": ci}

    def diff(self, key: str, a: Sequence[bool], b: Sequence[bool]) -> dict[str, Any]:
        """rate(b) - rate(a) over aligned pairs, paired-bootstrap interval and McNemar's exact p."""
        a_arr, b_arr = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
        better, worse = int((b_arr & ~a_arr).sum()), int((a_arr & ~b_arr).sum())
        n = int(a_arr.size)
        ci = paired_bootstrap_diff(a_arr, b_arr, n_boot=self.n_boot, seed=group_seed(self.seed, f"{self.prefix}{key}"))
        return {"n": n, "diff": (better - worse) / n if n else None, "ci95": ci,
                "p_value": mcnemar_exact(worse, better), "n_better": better, "n_worse": worse}


Variants = Callable[[Sample, ProbeContext], list[Sample]]
Metric = Callable[[list[Group], Stats], dict[str, Any]]


@dataclass(frozen=True)
class Probe:
    name: str
    variants: Variants
    metric: Metric
    after_plain: bool = False
    summary: Callable[[dict[str, Any]], str] | None = None  # one line of the report from the metric


PROBES: Registry[Probe] = Registry("probe")


def register(name: str, metric: Metric, *, after_plain: bool = False,
             summary: Callable[[dict[str, Any]], str] | None = None) -> Callable[[Variants], Variants]:
    """Decorate a variants function: ``@register("circular", metric=circular_metric)``."""

    def deco(fn: Variants) -> Variants:
        PROBES.register(name)(Probe(name, fn, metric, after_plain, summary))
        return fn

    return deco


def make_variant(sample: Sample, probe: str, variant: str, **changes: Any) -> Sample:
    """A validated copy of ``sample`` with its own id and the probe's marks in ``meta``."""
    extra_meta = changes.pop("meta", {})
    meta = {**sample.meta, "probe": probe, "variant": variant, "variant_of": sample.id, **extra_meta}
    record = {**sample.to_json_dict(), **changes, "id": f"{sample.id}~{probe}:{variant}", "meta": meta}
    return Sample.model_validate(record).with_base_dir(sample.base_dir)


def image_files(sample: Sample) -> list[str]:
    """A sample's image paths, absolute, so a variant that moves them keeps resolving them."""
    return [str(p.resolve()) for p in sample.image_paths()]


def scored(row: dict[str, Any] | None) -> bool:
    return row is not None and row.get("error") is None


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def rate_text(r: dict[str, Any]) -> str:
    ci = r.get("ci95")
    return pct(r.get("rate")) + (f" [{pct(ci[0])}, {pct(ci[1])}]" if ci else "") + f" (n={r['n']})"
