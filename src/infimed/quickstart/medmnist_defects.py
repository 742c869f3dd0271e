"""A MedMNIST archive as a quickstart pool: imported, then dirtied the same way as the phantom's train split.

The defect kinds and rates are the phantom's (``infimed.data.defects.DEFECT_RATES``); questions are reworded
and labels corrupted generically since MedMNIST has no question templates. The clean train split is kept as
``train.clean.jsonl``; ``train.jsonl`` is the dirty pool and ``defects.jsonl`` its ground truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from infimed.data.defects import inject
from infimed.data.ids import OpaqueIds
from infimed.data.medmnist import import_medmnist
from infimed.io.jsonl import load_samples, write_jsonl


def medmnist_with_defects(npz: Path, folder: Path, *, seed: int = 0, limit: int | None = None) -> dict[str, Any]:
    summary = import_medmnist(npz, folder, seed=seed, limit=limit)
    train = load_samples(folder / "train.jsonl")
    test = load_samples(folder / "test.jsonl")
    write_jsonl(folder / "train.clean.jsonl", train)
    defect_seq, id_seq, name_seq = np.random.SeedSequence(seed + 1).spawn(3)
    dirty, defects = inject(
        train, test, None, root=folder, rng=np.random.default_rng(defect_seq),
        ids=OpaqueIds(np.random.default_rng(id_seq)), image_names=OpaqueIds(np.random.default_rng(name_seq), n_hex=12),
        id_prefix=f"{summary['name']}-x-",
    )
    write_jsonl(folder / "train.jsonl", dirty)
    write_jsonl(folder / "defects.jsonl", [d.to_json() for d in defects])
    return {**summary, "n_train_dirty": len(dirty), "n_defects": len(defects)}
