from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from infimed.curate import select as alg
from infimed.curate.base import Drop
from infimed.curate.config import parse_budget
from infimed.curate.steps.select import SelectStep
from infimed.io.jsonl import load_samples
from infimed.schema import Sample


def _clustered(n: int, d: int, clusters: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    x = centres[rng.integers(clusters, size=n)] + 0.3 * rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def _naive_kcenter(x: np.ndarray, k: int, first: int) -> list[int]:
    chosen, mind = [first], np.linalg.norm(x - x[first], axis=1)
    for _ in range(1, k):
        c = int(mind.argmax())
        chosen.append(c)
        mind = np.minimum(mind, np.linalg.norm(x - x[c], axis=1))
    return chosen


def test_pruned_kcenter_equals_naive_and_beats_random_coverage():
    x = _clustered(3000, 32, 40)
    fast = alg.kcenter_greedy(x, 60, seed=0)
    assert fast.tolist() == _naive_kcenter(x, 60, int(fast[0]))
    rand = alg.random_subset(len(x), 60, seed=0)
    assert alg.coverage_radius(x, fast) < alg.coverage_radius(x, rand)


def test_kcenter_weights_prefer_quality_and_survive_duplicates():
    x = np.repeat(_clustered(10, 8, 10), 5, axis=0)  # every point five times
    sel = alg.kcenter_greedy(x, 30, seed=0)
    assert len(set(sel.tolist())) == len(sel) <= 10  # stops when everything is covered
    w = np.ones(len(x), np.float32)
    w[7] = 10.0
    assert alg.kcenter_greedy(x, 3, weights=w)[0] == 7


def test_deita_threshold_keeps_admitted_rows_dissimilar():
    x = _clustered(2000, 16, 25, seed=1)
    quality = np.random.default_rng(0).random(len(x))
    sel = alg.deita_threshold(x, 100, quality=quality, threshold=0.8, fill=False)
    sims = x[sel] @ x[sel].T
    np.fill_diagonal(sims, -1)
    assert sims.max() < 0.8 and len(sel) < 100  # 25 clusters: the threshold admits fewer than 100
    assert quality[sel[0]] == quality.max()
    filled = alg.deita_threshold(x, 100, quality=quality, threshold=0.8)
    assert len(filled) == 100 and filled[: len(sel)].tolist() == sel.tolist()


def test_allocate_equal_capped_and_redistributed():
    assert alg.allocate({"a": 10, "b": 100, "c": 3}, 60) == {"a": 10, "b": 47, "c": 3}
    assert alg.allocate({"a": 10, "b": 100}, 40, {"a": 1, "b": 3}) == {"a": 10, "b": 30}
    assert sum(alg.allocate({"a": 5, "b": 5}, 100).values()) == 10


def _pool(tmp_path) -> list[Sample]:
    out = []
    for i in range(60):
        modality = "ct" if i < 45 else "mri"
        out.append(Sample(id=f"s{i}", question=f"Question {i % 7} about the {['liver', 'lung', 'brain'][i % 3]}?",
                          answer="yes" if i % 2 else "no", answer_type="yes_no", modality=modality,
                          task="abnormality_detection", meta={"scores": {"quality": (i % 10) / 10}}))
    return out


@pytest.mark.parametrize("method", ["random", "deita", "kcenter"])
def test_step_balances_strata_and_reports_not_selected(tmp_path, method):
    pool = _pool(tmp_path)
    step = SelectStep(budget=0.5, method=method, image_weight=0.0, threshold=0.99)
    out = list(step(pool))
    kept = [o for o in out if isinstance(o, Sample)]
    drops = [o for o in out if isinstance(o, Drop)]
    assert len(kept) == 30 and len(drops) == 30
    assert Counter(s.modality for s in kept) == {"ct": 15, "mri": 15}  # equal shares despite 45:15
    assert all(d.reason == "not_selected" for d in drops)
    assert step.report()["by_stratum"]["mri/abnormality_detection"]["selected"] == 15


def test_step_errors_name_the_option():
    with pytest.raises(ValueError, match="method must be one of"):
        SelectStep(budget=10, method="best")
    with pytest.raises(ValueError, match="select: budget 0: a count must be >= 1"):
        SelectStep(budget=0)
    with pytest.raises(ValueError, match=r"select: budget 2.0: a fraction must be in \(0, 1\]; for a count of 2 write 2"):
        SelectStep(budget=2.0)


@pytest.mark.parametrize(("text", "value"), [("5000", 5000), ("1", 1), (" 12 ", 12), ("0.2", 0.2), ("1.0", 1.0),
                                             ("20%", 0.2), ("100%", 1.0), ("2.5%", 0.025), (7, 7), (0.5, 0.5)])
def test_budget_spellings(text, value):
    got = parse_budget(text)
    assert got == value and type(got) is type(value)  # a count stays an int, a fraction a float


@pytest.mark.parametrize("text", ["0", "-3", "2.0", "1.5", "0.0", "150%", "0%", "lots", "", True, None, "1e3"])
def test_budgets_that_cannot_be_meant_are_refused(text):
    with pytest.raises(ValueError, match="budget"):
        parse_budget(text)


def test_budget_counts_and_fractions_of_a_pool():
    assert SelectStep(budget=1, method="random").n_budget(50) == 1  # a count of one, not the whole pool
    assert SelectStep(budget=1.0, method="random").n_budget(50) == 50
    assert SelectStep(budget="20%", method="random").n_budget(50) == 10
    assert SelectStep(budget=500, method="random").n_budget(50) == 50  # clamped, and the report says so
    with pytest.raises(ValueError, match="budget 0.0001 of the 50 samples left is 0 samples"):
        SelectStep(budget=0.0001, method="random").n_budget(50)


def test_phantom_selection_is_balanced(phantom_dir):
    pool = load_samples(phantom_dir / "train.jsonl")
    step = SelectStep(budget=0.2, method="kcenter", text_weight=0.0)
    kept = [o for o in step(pool) if isinstance(o, Sample)]
    assert len(kept) == round(0.2 * len(pool))
    counts = Counter(s.modality for s in kept)
    assert max(counts.values()) - min(counts.values()) <= 0.15 * len(kept)


def test_allocate_nested_balances_each_level():
    avail = {("ct", "a"): 50, ("ct", "b"): 1, ("mri", "a"): 3, ("mri", "b"): 3, ("us", "a"): 40}
    q = alg.allocate_nested(avail, 18)
    assert sum(q.values()) == 18
    assert {m: sum(v for k, v in q.items() if k[0] == m) for m in ("ct", "mri", "us")} == {"ct": 6, "mri": 6, "us": 6}
    assert q[("ct", "b")] == 1 and q[("ct", "a")] == 5


def test_dense_fallback_and_projection_still_cover_well():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, 64)).astype(np.float32)  # no clusters: pruning cannot help
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    dense = alg.kcenter_greedy(x, 50, seed=0)
    assert dense.tolist() == _naive_kcenter(x, 50, int(dense[0]))  # the dense path is the same algorithm
    projected = alg.kcenter_greedy(x, 50, seed=0, project=16)
    rand = alg.random_subset(len(x), 50, seed=0)
    assert alg.coverage_radius(x, projected) <= alg.coverage_radius(x, rand)


def test_cluster_then_select_covers_almost_as_well_as_global():
    x = _clustered(4000, 32, 30, seed=4)
    glob = alg.kcenter_greedy(x, 80, seed=0)
    part = alg.kcenter_partitioned(x, 80, parts=8, seed=0)
    assert len(part) == 80 and len(set(part.tolist())) == 80
    rand = alg.random_subset(len(x), 80, seed=0)
    r_glob, r_part, r_rand = (alg.coverage_radius(x, s) for s in (glob, part, rand))
    assert r_part <= 1.3 * r_glob and r_part < r_rand


def test_budget_spreads_over_distinct_images_before_reusing_one(phantom_dir):
    pool = load_samples(phantom_dir / "train.jsonl")
    n_images = len({s.images[0] for s in pool})
    budget = n_images

    def distinct(weight: float) -> int:
        step = SelectStep(budget=budget, image_reuse_weight=weight)
        list(step(pool))
        return int(step.report()["distinct_images"])

    assert distinct(0.3) > distinct(1.0)
    with pytest.raises(ValueError, match="image_reuse_weight"):
        SelectStep(budget=10, image_reuse_weight=0.0)


@pytest.mark.parametrize(("question", "content"), [
    ("Referral from Dr. [NAME] for [NAME] (MRN [MRN], tel [PHONE]): Where is the lesion?", "Where is the lesion?"),
    ("Which body region is shown? (Pt: [NAME], DOB [DATE], phone [PHONE])", "Which body region is shown?"),
    ("Patient [NAME], MRN [MRN], seen [DATE]. Is this a CT image?", "Is this a CT image?"),
    ("Is there a lesion (see figure)?", "Is there a lesion (see figure)?"),
])
def test_redacted_boilerplate_does_not_count_as_content(question, content):
    from infimed.curate.steps.select import content_text

    assert content_text(question) == content


def _scored(sample: Sample, confidence: float) -> Sample:
    return sample.model_copy(update={"meta": {**sample.meta, "scores": {"label_confidence": confidence}}})


def test_tight_budget_is_spent_on_trusted_labels(tmp_path):
    pool = [_scored(s, 0.05 if i % 5 == 0 else 0.9) for i, s in enumerate(_pool(tmp_path))]
    doubtful = {s.id for s in pool if s.meta["scores"]["label_confidence"] < 0.5}

    def chosen(**options) -> tuple[set[str], dict]:
        step = SelectStep(budget=12, image_weight=0.0, **options)
        return {o.id for o in step(pool) if isinstance(o, Sample)}, step.report()

    # 60 candidates for 12 slots: only the 2 x quota most trusted compete; the doubts fall on both answers,
    # as the cut does (in proportion to each answer's count)
    trusted, report = chosen()
    assert len(trusted) == 12 and not trusted & doubtful
    assert report["cut_for_low_label_confidence"] > 0
    assert chosen(trust=None)[0] & doubtful  # off: k-center alone picks some of them
    loose, report = chosen(trust=10.0)  # fewer than 10 candidates per slot: nothing is cut
    assert report["cut_for_low_label_confidence"] == 0
    unscored = [s.model_copy(update={"meta": {}}) for s in pool]
    step = SelectStep(budget=12, image_weight=0.0)
    list(step(unscored))
    assert step.report()["cut_for_low_label_confidence"] == 0
    with pytest.raises(ValueError, match="trust"):
        SelectStep(budget=10, trust=0.5)


def test_the_trust_cut_keeps_a_rare_answer_s_share():
    from infimed.curate.steps.select import most_trusted

    # 80 "yes" the probe is sure of (0.8-1.0) and 20 "no" it is half as sure of (0.4-0.5), as a probe is of a
    # rarer answer: a ranking of raw confidences would cut every "no"; shared in proportion to the answers,
    # the cut keeps the mix, each answer losing its least confident first (a glaring doubt among them)
    pool = [Sample(id=f"y{i}", question="Pneumonia?", answer="yes", answer_type="yes_no",
                   meta={"scores": {"label_confidence": 0.8 + 0.2 * i / 79}}) for i in range(80)]
    pool += [Sample(id=f"n{j}", question="Pneumonia?", answer="no", answer_type="yes_no",
                    meta={"scores": {"label_confidence": 0.4 + 0.1 * j / 19}}) for j in range(20)]
    pool[80] = pool[80].model_copy(update={"meta": {"scores": {"label_confidence": 0.01}}})
    kept = [pool[i].id for i in most_trusted(pool, list(range(100)), 50)]
    assert len(kept) == 50 and "n0" not in kept and "y79" in kept and "n19" in kept and "y0" not in kept
    assert sum(k.startswith("n") for k in kept) == 10  # 20% of 50
    unscored = [*pool[:10], Sample(id="u", question="Pneumonia?", answer="no", answer_type="yes_no")]
    assert "u" in {unscored[i].id for i in most_trusted(unscored, list(range(11)), 1)}  # never cut
    assert most_trusted(pool, [0, 1], 5) == [0, 1]  # nothing to cut
