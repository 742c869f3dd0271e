"""Benchmark: budgeted selection on embeddings (prints figures; not a test).

    .venv/bin/python bench/curate_select.py                 # 10k from 1M x 384 (about 1.5 GB of RAM)
    .venv/bin/python bench/curate_select.py --n 200000 --k 2000 --check-n 20000 --check-k 300

Embeddings are synthetic but shaped like sentence embeddings: unit vectors around ``--clusters`` topic
centres with per-cluster spread. Reports wall time of pruned k-center greedy (``infimed.curate.select``),
DEITA-threshold and random on the full size, and on a smaller size the coverage radius of pruned vs naive
k-center (identical selections expected) and vs random.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from infimed.curate import select as alg


def synthetic_embeddings(n: int, d: int, clusters: int, seed: int, block: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d)).astype(np.float32)
    spread = rng.uniform(0.15, 0.6, size=clusters).astype(np.float32)
    x = np.empty((n, d), np.float32)
    for start in range(0, n, block):
        m = min(block, n - start)
        which = rng.integers(clusters, size=m)
        part = centres[which] + spread[which, None] * rng.standard_normal((m, d), dtype=np.float32)
        part /= np.linalg.norm(part, axis=1, keepdims=True)
        x[start:start + m] = part
    return x


def naive_kcenter(x: np.ndarray, k: int, first: int) -> np.ndarray:
    chosen = [first]
    mind = np.linalg.norm(x - x[first], axis=1)
    for _ in range(1, k):
        c = int(mind.argmax())
        chosen.append(c)
        np.minimum(mind, np.linalg.norm(x - x[c], axis=1), out=mind)
    return np.asarray(chosen)


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    print(f"{label:<46} {time.perf_counter() - t:8.1f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="pool size")
    ap.add_argument("--d", type=int, default=384, help="embedding dimension")
    ap.add_argument("--k", type=int, default=10_000, help="budget")
    ap.add_argument("--clusters", type=int, default=2_000, help="topic clusters in the synthetic pool")
    ap.add_argument("--check-n", type=int, default=50_000, help="pool size for the naive comparison")
    ap.add_argument("--check-k", type=int, default=500, help="budget for the naive comparison")
    ap.add_argument("--project", type=int, default=32, help="random-projection dims for k-center (0: none)")
    ap.add_argument("--parts", type=int, default=64, help="coarse k-means parts for cluster-then-select")
    ap.add_argument("--skip-global", action="store_true", help="skip global (unpartitioned) k-center at full size")
    ap.add_argument("--skip-deita", action="store_true", help="skip the DEITA-threshold timing")
    args = ap.parse_args()

    project = args.project or None
    print(f"== coverage check: {args.check_k} from {args.check_n} x {args.d}")
    small = synthetic_embeddings(args.check_n, args.d, max(args.clusters // 20, 10), seed=1)
    fast = timed("pruned k-center", lambda: alg.kcenter_greedy(small, args.check_k, seed=0))
    slow = timed("naive k-center", lambda: naive_kcenter(small, args.check_k, int(fast[0])))
    proj = timed(f"k-center on a {project}-d projection", lambda: alg.kcenter_greedy(small, args.check_k, project=project))
    part = timed(f"cluster-then-select ({args.parts // 8} parts)",
                 lambda: alg.kcenter_partitioned(small, args.check_k, parts=max(args.parts // 8, 2)))
    rand = alg.random_subset(len(small), args.check_k, seed=0)
    same = len(set(fast.tolist()) & set(slow.tolist())) / len(slow)
    print(f"pruned vs naive: {same:.1%} of picks identical (float ties may differ; compare the radii)")
    for name, sel in (("pruned k-center", fast), ("naive k-center", slow), (f"{project}-d projected k-center", proj),
                      ("cluster-then-select", part), ("random", rand)):
        print(f"coverage radius {name:<30} {alg.coverage_radius(small, sel):.4f}")


    print(f"== full size: {args.k} from {args.n} x {args.d} float32 ({args.n * args.d * 4 / 2**30:.2f} GiB)")
    x = timed("generate embeddings", lambda: synthetic_embeddings(args.n, args.d, args.clusters, seed=0))
    sel = timed(f"cluster-then-select k-center ({args.parts} parts)",
                lambda: alg.kcenter_partitioned(x, args.k, parts=args.parts, seed=0))
    quality = np.random.default_rng(0).random(args.n).astype(np.float32)
    timed("  the same, quality-weighted", lambda: alg.kcenter_partitioned(x, args.k, parts=args.parts,
                                                                         weights=0.05 + quality))
    if not args.skip_global:
        glob = timed(f"global k-center greedy (project={project})",
                     lambda: alg.kcenter_greedy(x, args.k, seed=0, project=project))
        print(f"coverage radius on a 100k probe, {'global':<12} {_probe_radius(x, probe_rows(args.n), glob):.4f}")
    if not args.skip_deita:
        deita = timed("DEITA threshold (cos < 0.9)", lambda: alg.deita_threshold(x, args.k, quality=quality))
        print(f"DEITA selected {len(deita)}")
    rand = timed("random", lambda: alg.random_subset(args.n, args.k, seed=0))
    print(f"k-center selected {len(sel)} unique={len(set(sel.tolist()))}")
    probe = probe_rows(args.n)
    for name, s in (("k-center", sel), ("random", rand)):
        print(f"coverage radius on a 100k probe, {name:<12} {_probe_radius(x, probe, s):.4f}")


def probe_rows(n: int) -> np.ndarray:
    return np.random.default_rng(2).choice(n, size=min(n, 100_000), replace=False)


def _probe_radius(x: np.ndarray, probe: np.ndarray, selected: np.ndarray) -> float:
    s = x[selected]
    worst = 0.0
    for start in range(0, len(probe), 8192):
        xb = x[probe[start:start + 8192]]
        d2 = 2.0 - 2.0 * (xb @ s.T)  # unit vectors
        worst = max(worst, float(np.sqrt(max(d2.min(1).max(), 0.0))))
    return worst


if __name__ == "__main__":
    main()
