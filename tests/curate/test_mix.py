from __future__ import annotations

from collections import Counter

import pytest

from infimed.curate.base import Drop
from infimed.curate.steps.mix import MixStep
from infimed.schema import Sample


def _pool() -> list[Sample]:
    out = []
    for source, n in (("med_mm", 100), ("med_text", 50), ("general", 30), ("other", 5)):
        for i in range(n):
            out.append(Sample(id=f"{source}{i}", question=f"q {i}?", answer="yes", answer_type="yes_no",
                              source=source, meta={"scores": {"quality": i / n}, "file": f"{source}.jsonl"}))
    return out


def test_mix_meets_ratios_and_prefers_quality():
    step = MixStep(ratios={"med_mm": 0.6, "med_text": 0.3, "general": 0.1}, budget=100)
    out = list(step(_pool()))
    kept = [o for o in out if isinstance(o, Sample)]
    assert Counter(s.source for s in kept) == {"med_mm": 60, "med_text": 30, "general": 10}
    assert min(s.meta["scores"]["quality"] for s in kept if s.source == "med_mm") >= 0.4  # the best 60 of 100
    report = step.report()
    assert report["pools"]["med_text"] == {"available": 50, "target_share": 0.3, "target": 30.0,
                                           "achieved": 30, "achieved_share": 0.3}
    assert report["unlisted_pools"] == ["other"]
    reasons = {o.sample.source: o.detail for o in out if isinstance(o, Drop)}
    assert "not in the mix ratios" in reasons["other"] and "over its share" in reasons["med_mm"]


def test_short_pool_gives_its_share_to_others_and_report_shows_it():
    step = MixStep(ratios={"med_mm": 1, "general": 1}, budget=100)
    kept = [o for o in step(_pool()) if isinstance(o, Sample)]
    assert Counter(s.source for s in kept) == {"general": 30, "med_mm": 70}
    assert step.report()["pools"]["general"]["achieved_share"] == 0.3


def test_without_budget_the_largest_total_at_the_exact_ratios():
    with pytest.raises(ValueError, match="unknown pool key 'nonsense'"):
        list(MixStep(ratios={"med_mm": 1}, key="nonsense")(_pool()))
    kept = [o for o in MixStep(ratios={"med_mm.jsonl": 2, "general.jsonl": 1}, key="meta.file")(_pool())
            if isinstance(o, Sample)]
    assert Counter(s.source for s in kept) == {"med_mm": 60, "general": 30}


def test_bad_ratios_are_clear_errors():
    with pytest.raises(ValueError, match="ratios must map"):
        MixStep(ratios={})
    with pytest.raises(ValueError, match="ratios must map"):
        MixStep(ratios={"a": -1, "b": 2})
