from __future__ import annotations

import numpy as np
import pytest

from infimed.eval.metrics import accuracy_ci, group_seed, mcnemar_exact, paired_bootstrap_diff


def test_accuracy_ci_brackets_the_estimate_and_is_deterministic() -> None:
    ci = accuracy_ci(120, 200, n_boot=2000, seed=3)
    assert ci is not None
    lo, hi = ci
    assert lo < 0.6 < hi
    assert 0.05 < hi - lo < 0.2
    assert accuracy_ci(120, 200, n_boot=2000, seed=3) == ci
    assert accuracy_ci(120, 200, n_boot=2000, seed=4) != ci


def test_binomial_draws_match_index_resampling() -> None:
    """The documented shortcut gives the same interval as resampling the 0/1 vector itself."""
    outcomes = np.array([1] * 120 + [0] * 80)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, outcomes.size, size=(20000, outcomes.size))
    ref = np.percentile(outcomes[idx].mean(axis=1), [2.5, 97.5])
    ci = accuracy_ci(120, 200, n_boot=20000, seed=0)
    assert ci == pytest.approx(list(ref), abs=0.01)


def test_accuracy_ci_edges() -> None:
    assert accuracy_ci(0, 0) is None
    assert accuracy_ci(0, 10) == [0.0, 0.0]
    assert accuracy_ci(10, 10) == [1.0, 1.0]
    with pytest.raises(ValueError, match="n_correct"):
        accuracy_ci(11, 10)
    with pytest.raises(ValueError, match="n_boot"):
        accuracy_ci(1, 10, n_boot=0)


def test_mcnemar_exact_known_values() -> None:
    # two-sided binomial test values (e.g. scipy.stats.binomtest(2, 12).pvalue = 0.038574...)
    assert mcnemar_exact(10, 2) == pytest.approx(0.03857421875)
    assert mcnemar_exact(2, 10) == pytest.approx(0.03857421875)
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625)
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(40000, 41000) == pytest.approx(4.478218e-4, rel=1e-5)  # large counts, no overflow


def test_paired_bootstrap_diff() -> None:
    rng = np.random.default_rng(1)
    a = rng.random(1000) < 0.6
    b = a | (rng.random(1000) < 0.3)  # b is right wherever a is, and more
    lo, hi = paired_bootstrap_diff(a, b, n_boot=2000, seed=0) or (None, None)
    observed = b.mean() - a.mean()
    assert lo is not None and hi is not None
    assert 0 < lo < observed < hi
    idx = rng.integers(0, a.size, size=(4000, a.size))
    ref = np.percentile(b[idx].mean(axis=1) - a[idx].mean(axis=1), [2.5, 97.5])
    assert [lo, hi] == pytest.approx(list(ref), abs=0.01)
    assert paired_bootstrap_diff([True, False], [True, False]) == [0.0, 0.0]
    assert paired_bootstrap_diff([], []) is None
    with pytest.raises(ValueError, match="length"):
        paired_bootstrap_diff([True], [True, False])


def test_group_seed_is_stable() -> None:
    assert group_seed(0, "modality=ct") == group_seed(0, "modality=ct")
    assert group_seed(0, "modality=ct") != group_seed(0, "modality=mri")
    assert group_seed(1, "modality=ct") != group_seed(0, "modality=ct")
