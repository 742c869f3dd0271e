"""``--limit N``: a seeded sample of N stratified over answer, modality and task, the same for every model.

Published files are often sorted by label (PubMedQA's test file has all "yes" first), so the first N rows
can be 100% for a constant answerer. Here the samples are grouped into strata by (task, modality, answer
type, answer) -- the answer is the option letter or yes/no; open answers form one group per task and
modality -- and each stratum gets its proportional share of N, within one (systematic sampling, see
``stratified_order``). Within a stratum the samples are drawn by a generator seeded from (seed, stratum),
so the subset depends only on the data and the seed: every model evaluated with the same seed sees the
same questions, ``eval score --limit`` picks the same ones, and ``--limit 100`` contains ``--limit 50``.
The subset keeps file order.
"""

from __future__ import annotations

import hashlib
import random
import zlib
from collections.abc import Sequence
from typing import Any

from infimed.schema import Sample

METHOD = "stratified over (task, modality, answer_type, answer): seeded systematic sampling within strata"


def stratum(sample: Sample) -> str:
    answer = sample.answer if sample.answer_type in ("choice", "yes_no") else sample.answer_type
    return f"{sample.task or 'unknown'}|{sample.modality or 'unknown'}|{sample.answer_type}|{answer}"


def stratified_limit(samples: Sequence[Sample], n: int, *, seed: int = 0) -> list[Sample]:
    """The first ``n`` samples of the seeded stratified order (all of them when ``n`` is not smaller)."""
    if n < 1:
        raise ValueError(f"limit must be at least 1, got {n}")
    if n >= len(samples):
        return list(samples)
    return [samples[i] for i in sorted(stratified_order(samples, seed=seed)[:n])]


def stratified_order(samples: Sequence[Sample], *, seed: int = 0) -> list[int]:
    """Indices in an order whose every prefix is a stratified sample: systematic sampling within strata.

    The j-th (shuffled) member of a stratum of size m sits at (j + u) / m, u a seeded offset in [0, 1);
    sorting all samples by that position gives each stratum about prefix * m / total of any prefix (within
    one), and a shorter limit is always part of a longer one, so extending a limited run reuses its cache."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        groups.setdefault(stratum(s), []).append(i)
    keyed: list[tuple[float, float, int]] = []
    for k, members in groups.items():
        rng = random.Random((seed * 1_000_003 + zlib.crc32(k.encode("utf-8"))) % 2**32)
        members = rng.sample(members, len(members))
        offset = rng.random()
        keyed += [((j + offset) / len(members), rng.random(), i) for j, i in enumerate(members)]
    return [i for *_, i in sorted(keyed)]


def subset_record(samples: Sequence[Sample], n_total: int, n: int, seed: int) -> dict[str, Any]:
    """What the manifest records about a limited run."""
    ids = hashlib.sha256("\n".join(s.id for s in samples).encode("utf-8")).hexdigest()
    return {"limit": n, "seed": seed, "method": METHOD, "n_total": n_total, "n_selected": len(samples),
            "n_strata": len({stratum(s) for s in samples}), "ids_sha256": ids}
