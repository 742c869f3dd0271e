"""``dedup_exact``: drop exact copies, keeping the first occurrence (input order, so deterministic).

The key is a hash of the normalised question, the answer type, the option texts (sorted, so a copy with
shuffled option letters still matches), the answer as text, and each image's decoded-pixel hash. Hashing
decoded pixels rather than file bytes catches a copy saved under another name, re-saved losslessly or with
different metadata; a lossy re-encode changes pixels and is left to ``dedup_near``. Memory: one 16-byte key
and one id per kept sample.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from infimed.curate.base import STEPS, Drop
from infimed.curate.hashing import WorkerPool, answer_key, chunks, normalize_text
from infimed.schema import Sample


def exact_key(sample: Sample, pixel_hashes: list[str]) -> bytes:
    parts = [
        normalize_text(sample.question),
        sample.answer_type,
        "\x1f".join(sorted(normalize_text(t) for t in (sample.options or {}).values())),
        answer_key(sample.answer_type, sample.answer, sample.options),
        *pixel_hashes,
    ]
    return hashlib.blake2b("\x1e".join(parts).encode("utf-8"), digest_size=16).digest()


def exact_keys(samples: list[Sample], pool: WorkerPool, *, use_pixels: bool = True) -> list[bytes]:
    """``exact_key`` of each sample; an unreadable image (when validate did not run) counts by its path."""
    sigs = pool.signatures(str(p) for s in samples for p in s.image_paths()) if use_pixels else {}
    keys = []
    for s in samples:
        hashes = []
        for p in s.image_paths():
            sig = sigs.get(str(p))
            hashes.append(sig.pixel_hash if sig is not None and sig.ok else f"path:{p}")
        keys.append(exact_key(s, hashes))
    return keys


class DedupExact:
    name = "dedup_exact"

    def __init__(self, *, workers: int = 1, chunk_size: int = 2048, use_pixels: bool = True):
        self.workers = workers
        self.chunk_size = chunk_size
        self.use_pixels = use_pixels
        self._first: dict[bytes, str] = {}

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        with WorkerPool(self.workers) as pool:
            for chunk in chunks(samples, self.chunk_size):
                yield from self._chunk(chunk, pool)

    def _chunk(self, chunk: list[Sample], pool: WorkerPool) -> Iterator[Sample | Drop]:
        for s, key in zip(chunk, exact_keys(chunk, pool, use_pixels=self.use_pixels), strict=True):
            first = self._first.get(key)
            if first is None:
                self._first[key] = s.id
                yield s
            else:
                yield Drop(s, "exact_duplicate", f"same text, answer and image pixels as {first}", of=first)

    def report(self) -> dict[str, Any]:
        return {"unique_keys": len(self._first)}


@STEPS.register("dedup_exact")
def dedup_exact(**options: Any) -> DedupExact:
    return DedupExact(**options)
