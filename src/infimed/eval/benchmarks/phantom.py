"""Our synthetic phantom set, as written by ``infimed data synth``: ``{train,test}.jsonl`` in our own
sample format beside ``images/``. Samples are read and validated as they are (image paths resolve
against the folder of the JSONL file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import BenchmarkError, BenchmarkSpec, iter_sample_file, register
from infimed.schema import Sample


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:

    path = root / f"{split}.jsonl"
    if not path.exists():
        raise BenchmarkError(f"{path}: file not found (write it with `infimed data synth`)")
    yield from iter_sample_file(path)


SPEC = register(
    BenchmarkSpec(
        name="phantom",
        loader=load,
        counts={"train": None, "test": None},
        default_split="test",
        layout="infimed data synth output: {train,test}.jsonl and images/",
    )
)
