"""Reading what the Hugging Face Hub publishes: ``save_to_disk`` folders and parquet shards, with image
cells (``{bytes, path}``) written once to a cache under deterministic names so reruns reuse them."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infimed.eval.benchmarks.common import BenchmarkError, Row, require_dir


def iter_hf_rows(root: Path, split: str, *, hf_split: str | None = None) -> Iterator[Row]:
    """Rows of one split of a dataset published on the Hub, read from what a user has locally.

    Accepted layouts: a folder written by ``datasets.save_to_disk`` (a ``DatasetDict`` with the split,
    or a single ``Dataset``), or the Hub's parquet files (``data/<split>-00000-of-00001-*.parquet``,
    ``<split>-*.parquet``, ``<split>.parquet``), or a single parquet file given as ``root``. Image
    columns come back undecoded as ``{"bytes", "path"}`` so nothing is decoded twice.
    """
    name = hf_split or split
    if root.is_file() and root.suffix == ".parquet":
        yield from _iter_parquet([root])
        return
    require_dir(root, what=f"benchmark root for split {split!r}")
    if (root / "dataset_dict.json").exists() or (root / "state.json").exists():
        yield from _iter_saved(root, name)
        return
    files = _parquet_files(root, name)
    if not files:
        raise BenchmarkError(
            f"{root}: no data for split {name!r}: expected a save_to_disk folder or parquet files "
            f"named like data/{name}-00000-of-00001.parquet"
        )
    yield from _iter_parquet(files)


def _parquet_files(root: Path, split: str) -> list[Path]:
    pattern = re.compile(rf"^{re.escape(split)}(-\d+-of-\d+)?(-[\w]+)?\.parquet$")
    found = [p for p in root.rglob("*.parquet") if pattern.match(p.name) and ".infimed_cache" not in p.parts]
    return sorted(found)


def _iter_parquet(files: list[Path]) -> Iterator[Row]:
    import pyarrow.parquet as pq

    for path in files:
        try:
            parquet = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for truncated files
            raise BenchmarkError(f"{path}: cannot read parquet ({exc}); truncated download?") from exc
        index = 0
        for batch in parquet.iter_batches(batch_size=256):
            for item in batch.to_pylist():
                index += 1
                yield Row(str(path), index, item)


def _iter_saved(root: Path, split: str) -> Iterator[Row]:
    from datasets import Dataset, DatasetDict, Image, load_from_disk

    try:
        loaded = load_from_disk(str(root))
    except Exception as exc:
        raise BenchmarkError(f"{root}: cannot load dataset saved to disk ({exc})") from exc
    if isinstance(loaded, DatasetDict):
        if split not in loaded:
            raise BenchmarkError(f"{root}: saved dataset has no split {split!r}; it has {sorted(loaded)}")
        ds = loaded[split]
    else:
        ds = loaded
    if not isinstance(ds, Dataset):
        raise BenchmarkError(f"{root}: expected a saved Dataset or DatasetDict, got {type(ds).__name__}")
    for col, feature in ds.features.items():
        if isinstance(feature, Image):
            ds = ds.cast_column(col, Image(decode=False))
    for i, item in enumerate(ds, start=1):
        yield Row(f"{root}[{split}]", i, dict(item))


# ------------------------------------------------------------------------------------- image cache


_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"), (b"RIFF", ".webp"))
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def image_suffix(data: bytes) -> str:
    for magic, suffix in _MAGIC:
        if data.startswith(magic):
            return suffix
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    return ".img"


def cache_image(value: Any, *, row: Row, field_name: str, cache_dir: Path, key: str) -> str:
    """An absolute image path for an HF image cell: embedded bytes are written once under ``cache_dir``
    as ``<key><suffix>`` (deterministic, so reruns reuse them); a cell holding only a path is used as is."""
    if isinstance(value, dict):
        data, src = value.get("bytes"), value.get("path")
    elif isinstance(value, bytes | bytearray):
        data, src = bytes(value), None
    else:
        raise row.error(field_name, f"expected an image cell {{bytes, path}}, got {type(value).__name__}")
    if data:
        target = cache_dir / (_SAFE.sub("_", key) + image_suffix(data))
        if not (target.exists() and target.stat().st_size == len(data)):
            write_bytes_atomic(target, data)
        return str(target.resolve())
    if src and Path(src).is_absolute() and Path(src).exists():
        return str(src)
    raise row.error(field_name, "image cell has no bytes and no existing absolute path")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
