"""VQA-RAD (Lau et al. 2018), as published on the Hub by flaviagiammarino/vqa-rad: parquet with
``image`` (embedded bytes), ``question``, ``answer``; 1,793 train and 451 test pairs over 315 radiology
images (CT, MRI, X-ray). The set carries no per-question modality, so ``modality`` stays unset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import BenchmarkSpec, register
from infimed.eval.benchmarks.hf_vqa import load_hf_vqa
from infimed.schema import Sample


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    return load_hf_vqa("vqa_rad", root, split, cache, modality=None)


SPEC = register(
    BenchmarkSpec(
        name="vqa_rad",
        loader=load,
        counts={"train": 1793, "test": 451},
        default_split="test",
        layout="flaviagiammarino/vqa-rad: data/{train,test}-*.parquet or a save_to_disk folder",
    )
)
