"""Accuracy with bootstrap confidence intervals, the paired bootstrap and McNemar's exact test.

Bootstrap of a proportion. Resampling n 0/1 outcomes with replacement and counting the successes is, in
distribution, exactly one Binomial(n, k/n) draw. So instead of materialising an n_boot x n index matrix we
draw n_boot binomials at once (numpy, vectorised) and take the 2.5/97.5 percentiles of count/n: the same
percentile interval as index resampling, in O(n_boot) per group whatever its size.

Paired bootstrap. Each sample id gives a pair (a_i, b_i) of correctness values; resampling pairs with
replacement is a multinomial draw over the counts of the three kinds of pair: b right and a wrong
(+1), a right and b wrong (-1), equal (0). The accuracy difference b - a of one draw is
(count(+1) - count(-1)) / n.

McNemar's exact test. Only discordant pairs carry information: under "no difference" each of the
n_10 + n_01 discordant pairs goes either way with probability 1/2, so the two-sided p-value is
min(1, 2 * P[Binomial(n_10 + n_01, 1/2) <= min(n_10, n_01)]), computed in log space (exact, no normal
approximation, fine for large counts).

Every group draws from its own generator seeded by (seed, group name), so a group's interval does not
depend on which other groups exist or in what order they are computed.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

LEVEL = 0.95


def group_seed(seed: int, key: str) -> int:
    """A stable per-group seed (not Python's randomised ``hash``)."""
    return (seed * 1_000_003 + zlib.crc32(key.encode("utf-8"))) % 2**32


def accuracy_ci(
    n_correct: int, n: int, *, n_boot: int = 1000, seed: int = 0, level: float = LEVEL
) -> list[float] | None:
    """Percentile bootstrap interval ``[lo, hi]`` of the accuracy ``n_correct / n``; None when n == 0."""
    if n_correct < 0 or n < 0 or n_correct > n:
        raise ValueError(f"accuracy_ci: need 0 <= n_correct <= n, got {n_correct}/{n}")
    if n == 0:
        return None
    if n_boot <= 0:
        raise ValueError(f"n_boot: must be positive, got {n_boot}")
    draws = np.random.default_rng(seed).binomial(n, n_correct / n, size=n_boot) / n
    return _percentiles(draws, level)


def paired_bootstrap_diff(
    a: Sequence[bool] | np.ndarray, b: Sequence[bool] | np.ndarray, *, n_boot: int = 1000, seed: int = 0,
    level: float = LEVEL,
) -> list[float] | None:
    """Percentile bootstrap interval of accuracy(b) - accuracy(a) over aligned per-sample correctness."""
    a_arr, b_arr = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"paired_bootstrap_diff: vectors differ in length ({a_arr.size} vs {b_arr.size})")
    n = a_arr.size
    if n == 0:
        return None
    better = int(np.count_nonzero(b_arr & ~a_arr))
    worse = int(np.count_nonzero(a_arr & ~b_arr))
    probs = [better / n, worse / n, (n - better - worse) / n]
    counts = np.random.default_rng(seed).multinomial(n, probs, size=n_boot)
    return _percentiles((counts[:, 0] - counts[:, 1]) / n, level)


def mcnemar_exact(n_10: int, n_01: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (a right/b wrong, a wrong/b right)."""
    n = n_10 + n_01
    if n == 0:
        return 1.0
    k = min(n_10, n_01)
    i = np.arange(k, dtype=np.float64)
    log_binom = np.concatenate([[0.0], np.cumsum(np.log(n - i) - np.log(i + 1))])  # log C(n, 0..k)
    top = log_binom.max()
    log_tail = top + math.log(float(np.exp(log_binom - top).sum())) - n * math.log(2)
    return min(1.0, 2 * math.exp(log_tail))


def _percentiles(draws: np.ndarray, level: float) -> list[float]:
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return [float(lo), float(hi)]
