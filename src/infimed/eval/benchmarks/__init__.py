"""Loaders for the published files of medical VQA / QA benchmarks, registered by name in ``BENCHMARKS``.

Each loader reads the layout the benchmark's authors publish (a local folder, parquet files from the Hub,
or a ``datasets.save_to_disk`` folder) and turns every row into a validated ``Sample``. ``load_benchmark``
adds what all of them share: split names, the image cache for embedded images, ``limit``, and the checks
that catch partial downloads: the number of rows against the published count of the split, duplicate
ids, and image files that are not there. Those checks raise ``BenchmarkError``; ``strict=False`` turns
them into warnings (for subsets and small fixtures).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from infimed.eval.benchmarks import (  # noqa: F401 - importing a loader module registers it
    iu_xray,
    medmcqa,
    medmnist,
    medqa,
    medxpertqa,
    mimic_cxr,
    mmmu_med,
    omnimedvqa,
    pathvqa,
    phantom,
    pmc_vqa,
    pubmedqa,
    slake,
    vqa_rad,
)
from infimed.eval.benchmarks.common import BENCHMARKS, BenchmarkError, BenchmarkSpec
from infimed.progress import track
from infimed.schema import Sample

__all__ = ["BENCHMARKS", "BenchmarkError", "BenchmarkSpec", "get_spec", "load_benchmark"]


def get_spec(name: str) -> BenchmarkSpec:
    try:
        return BENCHMARKS.get(name)
    except KeyError as exc:
        raise BenchmarkError(exc.args[0]) from None


def load_benchmark(
    name: str,
    root: Path | str,
    *,
    split: str | None = None,
    image_cache: Path | str | None = None,
    limit: int | None = None,
    strict: bool = True,
    expected: int | None = None,
) -> list[Sample]:
    """Load one split of a benchmark as samples whose ``image_paths()`` resolve.

    ``split`` defaults to the split the benchmark is usually reported on. Embedded images are written
    once to ``image_cache`` (default ``<root>/.infimed_cache/<name>/``, beside ``root`` when it is a
    file). ``expected`` overrides the published row count; ``limit`` loads the first rows only and
    skips the count check.
    """
    spec = get_spec(name)
    root = Path(root).expanduser()
    if not root.exists():
        raise BenchmarkError(f"{root}: not found; {name} expects {spec.layout}")
    split = spec.resolve_split(split)
    base = root if root.is_dir() else root.parent
    cache = (Path(image_cache) if image_cache else base / ".infimed_cache" / name) / split
    want = expected if expected is not None else spec.counts[split]
    if limit is not None and limit < 1:
        raise BenchmarkError(f"limit must be at least 1, got {limit}")

    samples: list[Sample] = []
    seen: set[str] = set()
    for sample in track(spec.loader(root, split, cache), f"{name}/{split}", total=limit or want):
        if sample.id in seen:
            raise BenchmarkError(f"{name}/{split}: duplicate sample id {sample.id!r} in {root}")
        seen.add(sample.id)
        samples.append(sample)
        if limit is not None and len(samples) >= limit:
            break

    problems = _count_problem(name, split, root, len(samples), want, limit)
    problems += _missing_images(samples)
    for problem in problems:
        if strict:
            raise BenchmarkError(problem)
        warnings.warn(problem, stacklevel=2)
    return samples


def _count_problem(name: str, split: str, root: Path, found: int, want: int | None, limit: int | None) -> list[str]:
    if limit is not None or want is None or found == want:
        return []
    if found < want:
        return [
            f"{name}/{split} in {root}: expected {want} rows, found {found} (partial download?); "
            "to use a subset on purpose, pass limit (--limit) or strict=False"
        ]
    # more rows than published is a different release rather than a broken download: say so, go on
    warnings.warn(f"{name}/{split} in {root}: expected {want} rows, found {found} (a newer release?)", stacklevel=3)
    return []


def _missing_images(samples: list[Sample]) -> list[str]:
    missing = [(s.id, p) for s in samples for p in s.image_paths() if not p.is_file()]
    if not missing:
        return []
    shown = "; ".join(f"{sid}: {path}" for sid, path in missing[:3])
    return [f"{len(missing)} image file(s) missing (images not unzipped / partial download?), e.g. {shown}"]
