"""Shared pieces of the benchmark loaders: the spec record, row-level field access, sample building,
and the readers for plain JSON / JSON lines / CSV files (Hub layouts live in ``hub.py``).

Every error a loader raises is a ``BenchmarkError`` naming the file, the row and the field, so a broken
or partial download says where it is broken instead of failing somewhere inside evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infimed.registry import Registry
from infimed.schema import Sample, parse_sample


class BenchmarkError(ValueError):
    """A benchmark's files are missing, partial or malformed; the message names file, row and field."""


# A loader streams the samples of one split: (root, split, image_cache) -> samples.
Loader = Callable[[Path, str, Path], Iterator[Sample]]


@dataclass(frozen=True)
class BenchmarkSpec:
    """One registered benchmark: its loader, its splits with published counts (None = not checked)."""

    name: str
    loader: Loader
    counts: dict[str, int | None]
    default_split: str
    layout: str  # a one-line description of the files the loader expects, shown in errors
    aliases: dict[str, str] = field(default_factory=dict)  # e.g. {"validation": "dev"}

    def resolve_split(self, split: str | None) -> str:
        """The canonical split name; ``None`` picks the split the benchmark is usually reported on."""
        split = self.aliases.get(split, split) if split else self.default_split
        if split not in self.counts:
            raise BenchmarkError(
                f"{self.name}: unknown split {split!r}; known: {', '.join(sorted(self.counts))}"
            )
        return split


@dataclass(frozen=True)
class Row:
    """One raw record of a benchmark file, with where it came from for error messages."""

    file: str
    index: int  # 1-based position in the file (line for JSONL/CSV data rows, element for JSON arrays)
    data: dict[str, Any]

    def where(self) -> str:
        return f"{self.file}: row {self.index}"

    def error(self, field_name: str, message: str) -> BenchmarkError:
        return BenchmarkError(f"{self.where()} field {field_name!r}: {message}")

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def text(self, key: str, *, allow_empty: bool = False) -> str:
        """A required string field (numbers are accepted and turned into text)."""
        if key not in self.data or self.data[key] is None:
            raise self.error(key, "missing")
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(key, f"expected text, got {type(value).__name__}")
        value = str(value).strip()
        if not value and not allow_empty:
            raise self.error(key, "is empty")
        return value


def build_sample(row: Row, **fields: Any) -> Sample:
    """Validate one converted record as a ``Sample``; schema errors keep the benchmark file and row."""
    sample, errors = parse_sample(fields, file=row.file, line=row.index)
    if sample is None:
        raise BenchmarkError("; ".join(str(e) for e in errors))
    return sample


def yes_no(answer: str) -> str | None:
    """``yes``/``no`` for a binary answer (English or Chinese), else None."""
    norm = answer.strip().lower().rstrip(".")
    return {"yes": "yes", "no": "no", "是": "yes", "否": "no"}.get(norm)


def letter_for(options: dict[str, str], answer_text: str) -> str | None:
    """The option letter whose text equals the answer (whitespace and case insensitive)."""
    want = " ".join(answer_text.split()).casefold()
    for letter, text in options.items():
        if " ".join(text.split()).casefold() == want:
            return letter
    return None


BENCHMARKS: Registry[BenchmarkSpec] = Registry("benchmark")


def register(spec: BenchmarkSpec) -> BenchmarkSpec:
    return BENCHMARKS.register(spec.name)(spec)


# ---------------------------------------------------------------------------------------------- files


def require_dir(path: Path, *, what: str) -> Path:
    if not path.is_dir():
        raise BenchmarkError(f"{path}: folder not found ({what})")
    return path


def first_existing(candidates: list[Path], *, what: str) -> Path:
    for path in candidates:
        if path.exists():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise BenchmarkError(f"{what} not found; looked for: {tried}")


def read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"{path}: invalid JSON ({exc}); truncated download?") from exc


def iter_json_array(path: Path) -> Iterator[Row]:
    data = read_json(path)
    if not isinstance(data, list):
        raise BenchmarkError(f"{path}: expected a JSON array of records, got {type(data).__name__}")
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise BenchmarkError(f"{path}: row {i}: expected an object, got {type(item).__name__}")
        yield Row(str(path), i, item)


def iter_jsonl(path: Path) -> Iterator[Row]:
    """JSON lines; a file that is one JSON array is accepted too (some mirrors re-save that way)."""
    if not path.exists():
        raise BenchmarkError(f"{path}: file not found")
    with path.open(encoding="utf-8") as fh:
        head = fh.read(1)
        while head and head.isspace():
            head = fh.read(1)
    if head == "[":
        yield from iter_json_array(path)
        return
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BenchmarkError(f"{path}: line {lineno}: invalid JSON ({exc}); truncated download?") from exc
            if not isinstance(item, dict):
                raise BenchmarkError(f"{path}: line {lineno}: expected an object, got {type(item).__name__}")
            yield Row(str(path), lineno, item)


def iter_csv(path: Path, *, required: tuple[str, ...]) -> Iterator[Row]:
    import csv

    if not path.exists():
        raise BenchmarkError(f"{path}: file not found")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise BenchmarkError(f"{path}: missing columns {missing}; found {reader.fieldnames}")
        for i, item in enumerate(reader, start=1):
            yield Row(str(path), i, dict(item))


_IMAGES_WITHIN: ContextVar[bool] = ContextVar("images_within", default=True)


@contextmanager
def images_within(on: bool) -> Iterator[None]:
    """While loading: whether image paths must stay inside the benchmark's image folder (the default)."""
    token = _IMAGES_WITHIN.set(on)
    try:
        yield
    finally:
        _IMAGES_WITHIN.reset(token)


def local_image(folder: Path, name: str, *, row: Row, field_name: str) -> str:
    """Absolute path of an image shipped as a file in the benchmark's folder (existence checked later).

    A name leaving ``folder`` (``..``, an absolute path elsewhere) is an error unless ``images_within(False)``.
    """
    from infimed.io.images import ImagePathError, resolve_image_path

    if not name:
        raise row.error(field_name, "image name is empty")
    try:
        path = resolve_image_path(folder, name, within=_IMAGES_WITHIN.get())
    except ImagePathError as exc:
        raise row.error(field_name, f"{exc}; pass --allow-outside-images to accept it") from None
    return str(path.resolve())


def iter_sample_file(path: Path) -> Iterator[Sample]:
    """An infimed sample JSONL (phantom, converted MedMNIST), with schema errors raised as ``BenchmarkError``."""
    from infimed.io.jsonl import read_samples
    from infimed.schema import SampleValidationError

    try:
        yield from read_samples(path, images_within=_IMAGES_WITHIN.get())
    except SampleValidationError as exc:
        raise BenchmarkError(str(exc)) from exc
