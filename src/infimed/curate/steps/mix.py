"""Step ``mix``: combine several curated pools to configured ratios under a total budget.

Pools are keyed by a field of the sample: ``source`` (default), any top-level field, or ``meta.<key>``
(e.g. ``meta.input_file`` if the pipeline records it). ``ratios`` maps pool -> weight (normalised);
pools absent from ``ratios`` get nothing. ``budget`` is the total (a count, or a fraction of the pool in
(0, 1]); without it, the largest total the ratios allow. Targets are met by largest-remainder rounding; a pool
that runs short gives its share to the others (reported as achieved vs target). Within a pool the best
``meta.scores.quality`` go first (ties and unscored samples in a seeded random order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from infimed.curate.base import STEPS, Drop, keep_chosen
from infimed.curate.config import parse_budget
from infimed.curate.select import allocate
from infimed.schema import Sample


def pool_of(sample: Sample, key: str) -> str:
    if key.startswith("meta."):
        return str(sample.meta.get(key.removeprefix("meta."), ""))
    if key not in Sample.model_fields:
        raise ValueError(f"mix: unknown pool key {key!r}; use a sample field or 'meta.<name>'")
    return str(getattr(sample, key) or "")


class MixStep:
    name = "mix"

    def __init__(self, *, ratios: dict[str, float], budget: int | float | str | None = None, key: str = "source",
                 seed: int = 0):
        if not ratios or any(w < 0 for w in ratios.values()) or not any(w > 0 for w in ratios.values()):
            raise ValueError(f"mix: ratios must map pool -> weight >= 0 with some weight > 0, got {ratios}")
        try:
            budget = None if budget is None else parse_budget(budget)
        except ValueError as exc:
            raise ValueError(f"mix: {exc}") from None
        self.ratios, self.budget, self.key, self.seed = dict(ratios), budget, key, seed
        self.summary: dict[str, Any] = {}

    def choose(self, pool: list[Sample]) -> set[int]:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(pool):
            groups[pool_of(s, self.key)].append(i)
        total_w = sum(self.ratios.values())
        share = {p: w / total_w for p, w in self.ratios.items()}
        available = {p: len(groups.get(p, [])) for p in self.ratios}
        if self.budget is None:
            # the largest total that keeps every positive-weight pool at its ratio
            budget = int(min(available[p] / share[p] for p in share if share[p] > 0))
        else:
            budget = self.budget if isinstance(self.budget, int) else round(self.budget * len(pool))
        quotas = allocate(available, budget, share)
        rng = np.random.default_rng(self.seed)
        chosen: set[int] = set()
        for p, quota in quotas.items():
            members = groups.get(p, [])
            tie = rng.random(len(members))
            quality = [float(pool[i].meta.get("scores", {}).get("quality", 0.0)) for i in members]
            order = sorted(range(len(members)), key=lambda j: (-quality[j], tie[j]))
            chosen.update(members[j] for j in order[:quota])
        achieved = {p: quotas.get(p, 0) for p in self.ratios}
        n = max(sum(achieved.values()), 1)
        self.summary = {
            "key": self.key, "budget": budget, "selected": len(chosen),
            "pools": {p: {"available": available[p], "target_share": round(share[p], 4),
                          "target": round(share[p] * budget, 1), "achieved": achieved[p],
                          "achieved_share": round(achieved[p] / n, 4)} for p in self.ratios},
            "unlisted_pools": sorted(set(groups) - set(self.ratios)),
        }
        return chosen

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        pool = list(samples)

        def why(sample: Sample) -> str:
            p = pool_of(sample, self.key)
            reason = "pool not in the mix ratios" if p not in self.ratios else "pool over its share of the budget"
            return f"mix[{self.key}={p}]: {reason}"

        yield from keep_chosen(pool, self.choose(pool), why)

    def report(self) -> dict[str, Any]:
        return dict(self.summary)


@STEPS.register("mix")
def mix(**options: Any) -> MixStep:
    return MixStep(**options)
