"""Opaque, seeded, collision-free ids: nothing in an id tells a clean sample from an injected defect."""

from __future__ import annotations

import numpy as np


class OpaqueIds:
    """Draws ``prefix + hex`` ids from a seeded generator and never returns the same one twice."""

    def __init__(self, rng: np.random.Generator, *, n_hex: int = 10):
        self._rng = rng
        self._n_bytes = (n_hex + 1) // 2
        self._n_hex = n_hex
        self._used: set[str] = set()

    def fork(self, rng: np.random.Generator) -> OpaqueIds:
        """Ids from another generator that still never repeat one of this one's (the used set is shared)."""
        other = OpaqueIds(rng, n_hex=self._n_hex)
        other._used = self._used
        return other

    def new(self, prefix: str = "") -> str:
        while True:
            key = self._rng.bytes(self._n_bytes).hex()[: self._n_hex]
            if key not in self._used:
                self._used.add(key)
                return prefix + key
