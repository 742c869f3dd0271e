"""Our synthetic phantom set, as written by ``infimed data synth``: ``{train,test}.jsonl`` in our own
sample format beside ``images/``. Samples are read and validated as they are (image paths resolve
against the folder of the JSONL file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import BenchmarkError, BenchmarkSpec, register
from infimed.schema import Sample, SampleValidationError


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    from infimed.io.jsonl import read_samples

    path = root / f"{split}.jsonl"
    if not path.exists():
        raise BenchmarkError(f"{path}: file not found (write it with `infimed data synth`)")
    try:
        yield from read_samples(path)
    except SampleValidationError as exc:
        raise BenchmarkError(str(exc)) from exc


SPEC = register(
    BenchmarkSpec(
        name="phantom",
        loader=load,
        counts={"train": None, "test": None},
        default_split="test",
        layout="infimed data synth output: {train,test}.jsonl and images/",
    )
)
