"""Step ``dedup_against``: drop samples that already stand in other sample files (e.g. the SFT set).

An RL prompt that the policy was supervised on is a memorised answer, not a reasoning problem, and counting it
twice skews the mixture. The key is ``dedup_exact``'s: normalised question, answer type, option texts, answer
and decoded-pixel hash of every image, so a copy saved under another name or with its options reshuffled is
found too. Drops: ``in_other_set`` with the id and file of the match.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from infimed.curate.base import STEPS, Drop
from infimed.curate.hashing import WorkerPool, chunks
from infimed.curate.steps.dedup_exact import exact_keys
from infimed.io.jsonl import read_samples
from infimed.schema import Sample


class DedupAgainst:
    name = "dedup_against"

    def __init__(self, *, files: Sequence[str] = (), workers: int = 1, chunk_size: int = 2048):
        if not files:
            raise ValueError("files: name at least one sample file to deduplicate against")
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise ValueError(f"files: not found: {', '.join(missing)}")
        self.files, self.workers, self.chunk_size = [str(f) for f in files], workers, chunk_size
        self._index: dict[bytes, tuple[str, str]] = {}
        self._hits = 0

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        with WorkerPool(self.workers) as pool:
            for f in self.files:
                for chunk in chunks(read_samples(f), self.chunk_size):
                    for s, key in zip(chunk, exact_keys(chunk, pool), strict=True):
                        self._index.setdefault(key, (s.id, f))
            for chunk in chunks(samples, self.chunk_size):
                for s, key in zip(chunk, exact_keys(chunk, pool), strict=True):
                    match = self._index.get(key)
                    if match is None:
                        yield s
                    else:
                        self._hits += 1
                        yield Drop(s, "in_other_set", f"same question, answer and images as {match[0]} in {match[1]}",
                                   of=match[0])

    def report(self) -> dict[str, Any]:
        return {"indexed": len(self._index), "matched": self._hits, "files": self.files}


@STEPS.register("dedup_against")
def build(**options: Any) -> DedupAgainst:
    return DedupAgainst(**options)
