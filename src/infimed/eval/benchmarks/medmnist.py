"""MedMNIST v2 (Yang et al. 2023): a ``<name>mnist.npz`` (``{train,val,test}_images`` / ``_labels``) read
through ``infimed.data.medmnist.import_medmnist`` (its default question formats: one yes/no and one
multiple-choice question per image), which writes PNGs and ``{train,val,test}.jsonl`` once into the image
cache; later loads reuse them. ``root`` is the ``.npz`` or a folder holding exactly one; the dataset is
named by the file (``pneumoniamnist.npz``, ``pathmnist_224.npz``). A truncated ``.npz`` fails to open,
so there is no separate count check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import BenchmarkError, BenchmarkSpec, iter_sample_file, register
from infimed.schema import Sample


def find_npz(root: Path) -> Path:
    if root.is_file():
        return root
    found = sorted(root.glob("*.npz"))
    if len(found) != 1:
        raise BenchmarkError(f"{root}: expected exactly one MedMNIST .npz, found {[p.name for p in found]}")
    return found[0]


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    from infimed.data.medmnist import import_medmnist

    npz = find_npz(root)
    out = cache.parent / npz.stem  # one import serves every split, so it sits above the per-split folder
    if not (out / "medmnist.json").exists():  # written last by the import: its completion marker
        try:
            import_medmnist(npz, out)
        except (OSError, ValueError) as exc:
            raise BenchmarkError(f"{npz}: cannot import MedMNIST archive ({exc})") from exc
    target = out / f"{split}.jsonl"
    if not target.exists():
        raise BenchmarkError(f"{npz}: the archive has no '{split}_images' array")
    yield from iter_sample_file(target)


SPEC = register(
    BenchmarkSpec(
        name="medmnist",
        loader=load,
        counts={"train": None, "val": None, "test": None},
        default_split="test",
        layout="MedMNIST: <name>mnist.npz (or its folder)",
        aliases={"validation": "val", "dev": "val"},
    )
)
