"""Helpers that write tiny benchmark files in each benchmark's published format (imported by the tests)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image


def png_bytes(shade: int = 128) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (shade % 256,) * 3).save(buf, format="PNG")
    return buf.getvalue()


def write_png(path: Path, shade: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(shade))
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Rows as one parquet file; image cells use the Hub's ``{bytes, path}`` struct."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_json(path: Path, data: Any, *, lines: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if lines:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data)
    else:
        text = json.dumps(data, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path
