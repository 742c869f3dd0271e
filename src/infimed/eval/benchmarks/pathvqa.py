"""PathVQA (He et al. 2020), as published on the Hub by flaviagiammarino/path-vqa: parquet with
``image`` (embedded bytes), ``question``, ``answer``; train 19,654 / validation 6,259 / test 6,719.
Every image is a pathology image, so ``modality`` is ``pathology``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import BenchmarkSpec, register
from infimed.eval.benchmarks.hf_vqa import load_hf_vqa
from infimed.schema import Sample


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    return load_hf_vqa("pathvqa", root, split, cache, modality="pathology")


SPEC = register(
    BenchmarkSpec(
        name="pathvqa",
        loader=load,
        counts={"train": 19654, "validation": 6259, "test": 6719},
        default_split="test",
        layout="flaviagiammarino/path-vqa: data/{train,validation,test}-*.parquet or a save_to_disk folder",
        aliases={"val": "validation", "dev": "validation"},
    )
)
