"""Budgeted subset selection on embeddings: k-center greedy, DEITA-style threshold, random; stratified.

All functions take an (n, d) float32 matrix of L2-normalised rows (cosine = dot product) and return
selected row indices in selection order.

- ``kcenter_greedy``: farthest-point (Gonzalez) selection, optionally weighted by quality (pick the point
  maximising ``distance * weight``). Pruned with the triangle inequality: points are grouped by their
  nearest selected centre, and a new centre ``c`` can only capture points of a group whose centre ``a``
  satisfies ``radius(a) > d(a, c) / 2``; other groups are skipped. On clustered data later iterations
  touch a small neighbourhood. On data of high intrinsic dimension pruning stops paying and it switches
  to dense mat-vec passes; ``project`` (a random projection to e.g. 32-64 dims) then cuts each pass ~10x
  at a small cost in coverage (see ``bench/curate_select.py``).
- ``kcenter_partitioned``: cluster-then-select for very large pools (1M x 384 -> 10k in minutes).
- ``deita_threshold``: in descending quality order, admit a sample only when its nearest already-admitted
  neighbour has cosine similarity below ``threshold`` (DEITA, Liu et al. 2024); checked in blocks; topped up
  in quality order when the threshold admits fewer than the budget.
- ``random_subset``: the baseline.
- ``allocate``: split a budget over strata (e.g. modality x task) towards target shares, capped by what
  each stratum has, redistributing the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

CHUNK = 32768  # rows gathered at a time: bounds temporary memory to CHUNK x d floats


def _sqdist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of rows of ``x`` to one point ``c`` (float32)."""
    diff = x - c
    return np.einsum("ij,ij->i", diff, diff)


def _dist_rows(x: np.ndarray, idx: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Euclidean distance of rows ``x[idx]`` to ``c``, gathering at most ``CHUNK`` rows at a time."""
    out = np.empty(len(idx), np.float32)
    for start in range(0, len(idx), CHUNK):
        part = idx[start:start + CHUNK]
        out[start:start + len(part)] = _sqdist(x[part], c)
    return np.sqrt(np.maximum(out, 0.0, out=out), out=out)


def random_projection(x: np.ndarray, dim: int, *, seed: int = 0, block: int = 65536) -> np.ndarray:
    """Johnson-Lindenstrauss projection to ``dim`` columns (float32, blockwise): distances kept ~ +-10%."""
    r = np.random.default_rng(seed).standard_normal((x.shape[1], dim), dtype=np.float32) / np.sqrt(dim)
    out = np.empty((len(x), dim), np.float32)
    for start in range(0, len(x), block):
        out[start:start + block] = x[start:start + block] @ r
    return out


def kcenter_greedy(
    x: np.ndarray,
    k: int,
    *,
    weights: np.ndarray | None = None,
    first: int | None = None,
    seed: int = 0,
    project: int | None = None,
    dense_switch: float = 0.5,
) -> np.ndarray:
    """Greedy k-center; ``weights`` (>0) favour high-quality points; ``project`` runs it on a random projection.

    Pruned by the triangle inequality while that pays; when a new centre keeps touching more than
    ``dense_switch`` of the pool (high intrinsic dimension: every group is "near"), it switches to dense
    passes (one mat-vec per centre), which is the same computation without the bookkeeping.
    """
    n = len(x)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if project is not None and project < x.shape[1]:
        x = random_projection(x, project, seed=seed)
    x = np.ascontiguousarray(x, dtype=np.float32)
    w = np.ones(n, np.float32) if weights is None else np.asarray(weights, np.float32)
    if first is None:
        first = int(np.argmax(w)) if weights is not None else int(np.random.default_rng(seed).integers(n))
    centres = [first]
    mind = _dist_rows(x, np.arange(n), x[first])  # distance to nearest centre
    members: list[np.ndarray] = [np.arange(n)]
    radius = [float(mind.max())]
    best = [int(np.argmax(mind * w))]  # member maximising weighted distance, per group
    best_score = [float(mind[best[0]] * w[best[0]])]
    mind[first] = 0.0
    cx = [x[first]]
    touched_recent: list[float] = []
    while len(centres) < k:
        g = int(np.argmax(best_score))
        if best_score[g] <= 0:
            return np.asarray(centres, dtype=np.int64)  # every point is a centre (duplicates)
        c = best[g]
        centres.append(c)
        cx.append(x[c])
        dcc = np.sqrt(np.maximum(_sqdist(np.stack(cx[:-1]), x[c]), 0.0))
        touched = np.nonzero(np.asarray(radius) > dcc / 2)[0]
        touched_recent.append(sum(len(members[a]) for a in touched) / n)
        if len(touched_recent) >= 8 and np.mean(touched_recent[-8:]) > dense_switch:
            _dense_update(x, mind, c)
            return _kcenter_dense(x, k, w, mind, centres)
        moved: list[np.ndarray] = []
        for a in touched:
            idx = members[a]
            d = _dist_rows(x, idx, x[c])
            closer = d < mind[idx]
            if closer.any():
                take = idx[closer]
                mind[take] = d[closer]
                moved.append(take)
                idx = idx[~closer]
                members[a] = idx
            if len(idx):
                r = mind[idx]
                radius[a] = float(r.max())
                b = int(np.argmax(r * w[idx]))
                best[a], best_score[a] = int(idx[b]), float(r[b] * w[idx[b]])
            else:
                radius[a], best_score[a] = 0.0, -1.0
        new = np.concatenate(moved) if moved else np.array([c], np.int64)
        mind[c] = 0.0
        members.append(new)
        r = mind[new]
        radius.append(float(r.max()))
        b = int(np.argmax(r * w[new]))
        best.append(int(new[b]))
        best_score.append(float(r[b] * w[new[b]]))
    return np.asarray(centres, dtype=np.int64)


def _dense_update(x: np.ndarray, mind: np.ndarray, c: int, sq: np.ndarray | None = None) -> None:
    """``mind = min(mind, |x - x[c]|)`` in one mat-vec, blockwise; ``sq`` = squared row norms if known."""
    xc = x[c]
    cc = float(xc @ xc)
    for start in range(0, len(x), 262144):
        xb = x[start:start + 262144]
        rows = (xb * xb).sum(1) if sq is None else sq[start:start + 262144]
        d = rows + cc - 2.0 * (xb @ xc)
        np.sqrt(np.maximum(d, 0.0, out=d), out=d)
        np.minimum(mind[start:start + 262144], d, out=mind[start:start + 262144])
    mind[c] = 0.0


def _kcenter_dense(x: np.ndarray, k: int, w: np.ndarray, mind: np.ndarray, centres: list[int]) -> np.ndarray:
    sq = np.einsum("ij,ij->i", x, x)
    score = np.empty_like(mind)
    while len(centres) < k:
        np.multiply(mind, w, out=score)
        c = int(np.argmax(score))
        if score[c] <= 0:
            break
        centres.append(c)
        _dense_update(x, mind, c, sq)
    return np.asarray(centres, dtype=np.int64)


def coarse_partition(x: np.ndarray, parts: int, *, seed: int = 0, sample: int = 50_000, iters: int = 8) -> np.ndarray:
    """Part label per row: Lloyd k-means fitted on a random sample, then every row assigned (blockwise)."""
    rng = np.random.default_rng(seed)
    fit = x[np.sort(rng.choice(len(x), size=min(sample, len(x)), replace=False))].astype(np.float32)
    centres = fit[rng.choice(len(fit), size=min(parts, len(fit)), replace=False)].copy()

    def assign(rows: np.ndarray) -> np.ndarray:
        return np.argmin((centres * centres).sum(1)[None, :] - 2.0 * rows @ centres.T, axis=1)

    for _ in range(iters):
        labels = assign(fit)
        for p in range(len(centres)):
            members = fit[labels == p]
            if len(members):
                centres[p] = members.mean(0)
    out = np.empty(len(x), np.int64)
    for start in range(0, len(x), CHUNK):
        out[start:start + CHUNK] = assign(x[start:start + CHUNK])
    return out


def kcenter_partitioned(
    x: np.ndarray,
    k: int,
    *,
    parts: int = 64,
    weights: np.ndarray | None = None,
    seed: int = 0,
    project: int | None = None,
) -> np.ndarray:
    """Cluster-then-select: coarse k-means into ``parts``, budget split by part size, k-center in each part.

    Cost ~ n * k * d / parts instead of n * k * d; coverage stays close to global k-center because each
    part is covered on its own (seams between parts cost a little; see the benchmark).
    """
    n = len(x)
    k = min(k, n)
    labels = coarse_partition(x, parts, seed=seed)
    groups = [np.nonzero(labels == p)[0] for p in range(int(labels.max()) + 1)]
    sizes = {str(p): len(g) for p, g in enumerate(groups)}
    quotas = allocate(sizes, k, {p: float(v) for p, v in sizes.items()})
    chosen: list[np.ndarray] = []
    for p, idx in enumerate(groups):
        quota = quotas[str(p)]
        if quota:
            w = None if weights is None else weights[idx]
            chosen.append(idx[kcenter_greedy(x[idx], quota, weights=w, seed=seed, project=project)])
    return np.concatenate(chosen) if chosen else np.zeros(0, np.int64)


def coverage_radius(x: np.ndarray, selected: np.ndarray, *, block: int = 65536) -> float:
    """Largest distance from any point to its nearest selected point (lower = better coverage)."""
    s = np.ascontiguousarray(x[selected], dtype=np.float32)
    s_sq = (s * s).sum(1)
    worst = 0.0
    for start in range(0, len(x), block):
        xb = x[start:start + block]
        d2 = (xb * xb).sum(1)[:, None] - 2.0 * xb @ s.T + s_sq[None, :]
        worst = max(worst, float(np.sqrt(max(d2.min(1).max(), 0.0))))
    return worst


def deita_threshold(
    x: np.ndarray, k: int, *, quality: np.ndarray | None = None, threshold: float = 0.9, block: int = 512,
    fill: bool = True,
) -> np.ndarray:
    """Admit in descending quality while the max cosine to admitted rows is < ``threshold``.

    When too few rows pass (a pool of near-identical templates), ``fill`` tops the budget up with the
    best remaining rows in quality order, so the budget is always met."""
    n = len(x)
    order = np.argsort(-quality, kind="stable") if quality is not None else np.arange(n)
    chosen: list[int] = []
    bank = np.zeros((min(k, n), x.shape[1]), np.float32)
    for start in range(0, n, block):
        if len(chosen) >= k:
            break
        cand = order[start:start + block]
        xc = x[cand].astype(np.float32)
        if chosen:
            ok = (xc @ bank[: len(chosen)].T).max(1) < threshold
            cand, xc = cand[ok], xc[ok]
        if not len(cand):
            continue
        within = xc @ xc.T
        admitted: list[int] = []
        for a in range(len(cand)):
            if len(chosen) + len(admitted) >= k:
                break
            if admitted and within[a, admitted].max() >= threshold:
                continue
            admitted.append(a)
        for a in admitted:
            bank[len(chosen)] = xc[a]
            chosen.append(int(cand[a]))
    if len(chosen) < min(k, n) and fill:
        taken = set(chosen)
        chosen += [int(i) for i in order if int(i) not in taken][: min(k, n) - len(chosen)]
    return np.asarray(chosen, dtype=np.int64)


def random_subset(n: int, k: int, *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n)[: min(k, n)].astype(np.int64)


def allocate(available: Mapping[str, int], budget: int, targets: Mapping[str, float] | None = None) -> dict[str, int]:
    """Budget per stratum: proportional to ``targets`` (default: equal), capped by availability.

    Largest-remainder rounding; whatever a full stratum cannot take goes to the others, so the total is
    ``min(budget, sum(available))``.
    """
    strata = [s for s, n in available.items() if n > 0]
    share = {s: float((targets or {}).get(s, 0.0 if targets else 1.0)) for s in strata}
    if targets and not any(share.values()):
        share = dict.fromkeys(strata, 1.0)
    out = dict.fromkeys(available, 0)
    left = min(budget, sum(available[s] for s in strata))
    open_ = [s for s in strata if share[s] > 0] or strata
    while left > 0 and open_:
        total = sum(share[s] or 1.0 for s in open_)
        raw = {s: left * (share[s] or 1.0) / total for s in open_}
        give = {s: min(int(raw[s]), available[s] - out[s]) for s in open_}
        rest = left - sum(give.values())
        for s in sorted(open_, key=lambda s: raw[s] - int(raw[s]), reverse=True):
            if rest <= 0:
                break
            if out[s] + give[s] < available[s]:
                give[s] += 1
                rest -= 1
        for s, g in give.items():
            out[s] += g
        left -= sum(give.values())
        open_ = [s for s in open_ if out[s] < available[s]]
        if not sum(give.values()):
            break
    return out


def allocate_nested(available: Mapping[tuple[str, ...], int], budget: int) -> dict[tuple[str, ...], int]:
    """Equal shares level by level: first over the first key field (e.g. modality), then within each value
    over the next (e.g. task), so every level stays balanced to within one sample where supply allows."""
    if not available:
        return {}
    if len(next(iter(available))) == 0:
        return {(): min(budget, available.get((), 0))}
    top: dict[str, int] = {}
    for key, n in available.items():
        top[key[0]] = top.get(key[0], 0) + n
    out: dict[tuple[str, ...], int] = {}
    for value, quota in allocate(top, budget).items():
        sub = {key[1:]: n for key, n in available.items() if key[0] == value}
        out.update({(value, *rest): q for rest, q in allocate_nested(sub, quota).items()})
    return out
