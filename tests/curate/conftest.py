"""Helpers for the curation tests: tiny images and sample rows written into tmp folders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image


def pattern(seed: int, size: int = 64) -> np.ndarray:
    """A grey image with a few bright discs: different seeds give clearly different pictures."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    img = np.full((size, size), 40.0)
    for _ in range(4):
        cx, cy, r = rng.uniform(8, size - 8), rng.uniform(8, size - 8), rng.uniform(4, 12)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = rng.uniform(120, 250)
    img += rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def make_image(tmp_path: Path) -> Callable[..., str]:
    """``make_image(name, seed, resize=None, fmt="PNG", shift=0)`` -> path relative to tmp_path."""

    def make(name: str, seed: int = 0, *, resize: int | None = None, fmt: str = "PNG", brightness: int = 0) -> str:
        arr = np.clip(pattern(seed).astype(np.int16) + brightness, 0, 255).astype(np.uint8)
        im = Image.fromarray(arr, "L")
        if resize:
            im = im.resize((resize, resize), Image.Resampling.BILINEAR)
        path = tmp_path / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        im.save(path, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
        return f"images/{name}"

    return make


def _row(id: str, images: list[str], question: str, answer: str = "yes", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": id, "images": images, "question": question, "answer": answer,
                            "answer_type": "yes_no", "modality": "ct", "task": "abnormality_detection",
                            "source": "test"}
    base.update(extra)
    return base


@pytest.fixture
def row() -> Callable[..., dict[str, Any]]:
    """``row(id, images, question, answer="yes", **fields)``: a yes/no CT sample record as a dict."""
    return _row


@pytest.fixture
def write_rows(tmp_path: Path) -> Callable[[str, list[dict[str, Any]]], Path]:
    def write(name: str, rows: list[dict[str, Any]]) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True)
def _fresh_signature_cache() -> None:
    from infimed.curate.hashing import clear_cache

    clear_cache()
