"""``image``: corruptions that keep the diagnosis, at several severities; accuracy vs severity and flip rate.

JPEG re-encoding, Gaussian noise, a small rotation with a crop, and a contrast/windowing change, each at
severity 1-3. Images are decoded with ``infimed.io.images.load_image`` (the one decoder: DICOM comes
windowed to 8-bit), corrupted with a seed drawn from the image path, and written once under the run's
``probe-inputs/images`` (atomically; a rerun reuses them, so the cached answers stay valid). A flip is
a variant whose extracted answer differs from the plain one.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from infimed.eval.probes.base import (
    Group,
    ProbeContext,
    Stats,
    image_files,
    make_variant,
    pct,
    register,
    scored,
)
from infimed.eval.probes.paraphrase import same_answer
from infimed.schema import Sample

VERSION = "v1"  # part of every written file name: a change of the corruptions invalidates nothing cached
SEVERITY = {
    "jpeg": (60, 30, 12),  # JPEG quality
    "noise": (4.0, 9.0, 18.0),  # Gaussian sigma on 0..255
    "rotate_crop": ((3.0, 0.03), (6.0, 0.06), (10.0, 0.10)),  # degrees, fraction cropped per side
    "contrast": ((0.85, 0.9), (0.7, 0.8), (0.55, 0.7)),  # contrast factor around the mean, gamma
}
CORRUPTIONS = tuple(SEVERITY)


def _jpeg(im: Image.Image, quality: int, _rng: np.random.Generator) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def _noise(im: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(im, dtype=np.float32)
    noisy = arr + rng.normal(0.0, sigma, size=arr.shape[:2])[..., None]  # same noise in every channel
    return Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))


def _rotate_crop(im: Image.Image, setting: tuple[float, float], rng: np.random.Generator) -> Image.Image:
    degrees, crop = setting
    w, h = im.size
    turned = im.rotate(degrees * (1 if rng.random() < 0.5 else -1), resample=Image.Resampling.BILINEAR)
    dx, dy = round(w * crop), round(h * crop)
    return turned.crop((dx, dy, w - dx, h - dy)).resize((w, h), Image.Resampling.BILINEAR)


def _contrast(im: Image.Image, setting: tuple[float, float], _rng: np.random.Generator) -> Image.Image:
    factor, gamma = setting
    arr = np.asarray(im, dtype=np.float32) / 255.0
    windowed = np.clip(arr.mean() + factor * (arr - arr.mean()), 0.0, 1.0) ** gamma
    return Image.fromarray((windowed * 255).round().astype(np.uint8))


APPLY: dict[str, Callable[[Image.Image, Any, np.random.Generator], Image.Image]] = {
    "jpeg": _jpeg, "noise": _noise, "rotate_crop": _rotate_crop, "contrast": _contrast,
}


def corrupt_file(src: Path, corruption: str, severity: int, out_dir: Path) -> Path:
    """Write (once) ``src`` corrupted at ``severity`` (1-3) under ``out_dir`` and return the new path."""
    from infimed.io.images import load_image

    digest = hashlib.sha1(f"{VERSION}:{Path(src).resolve()}".encode()).hexdigest()[:16]
    suffix = ".jpg" if corruption == "jpeg" else ".png"
    dest = out_dir / f"{digest}-{corruption}-s{severity}{suffix}"
    if dest.exists():
        return dest
    setting = SEVERITY[corruption][severity - 1]
    rng = np.random.default_rng(int(digest, 16) % 2**32 + severity)
    out = APPLY[corruption](load_image(src), setting, rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    out.save(tmp, format="JPEG" if corruption == "jpeg" else "PNG", **({"quality": 95} if suffix == ".jpg" else {}))
    os.replace(tmp, dest)
    return dest


def image_metric(groups: list[Group], stats: Stats) -> dict[str, Any]:
    base = [g for g in groups if scored(g.plain)]
    cells: dict[str, dict[str, Any]] = {}
    by_severity: dict[int, list[tuple[bool, bool]]] = {}
    for corruption in CORRUPTIONS:
        for severity in (1, 2, 3):
            name = f"{corruption}@{severity}"
            pairs = [(g.plain, g.variants[name]) for g in base if scored(g.variants.get(name))]
            if not pairs:
                continue
            flips = [not same_answer(p, v) for p, v in pairs]
            cells[name] = {
                "corruption": corruption, "severity": severity,
                "accuracy": stats.rate(f"acc={name}", sum(bool(v["correct"]) for _, v in pairs), len(pairs)),
                "flip_rate": stats.rate(f"flip={name}", sum(flips), len(pairs)),
            }
            by_severity.setdefault(severity, []).extend(
                (bool(v["correct"]), f) for (_, v), f in zip(pairs, flips, strict=True))
    plain = stats.rate("plain", sum(bool(g.plain["correct"]) for g in base if g.variants),
                       sum(1 for g in base if g.variants))
    severity_rows = {str(s): {"accuracy": stats.rate(f"sev={s}", sum(c for c, _ in v), len(v)),
                              "flip_rate": stats.rate(f"sevflip={s}", sum(f for _, f in v), len(v))}
                     for s, v in sorted(by_severity.items())}
    return {"plain_accuracy": plain, "by_corruption": cells, "by_severity": severity_rows}


def image_summary(m: dict[str, Any]) -> str:
    parts = [f"plain {pct(m['plain_accuracy']['rate'])}"]
    parts += [f"severity {s}: accuracy {pct(r['accuracy']['rate'])}, flips {pct(r['flip_rate']['rate'])}"
              for s, r in m["by_severity"].items()]
    return "; ".join(parts)


@register("image", image_metric, summary=image_summary)
def image_variants(sample: Sample, ctx: ProbeContext) -> list[Sample]:
    from infimed.io.images import ImageLoadError

    if not sample.images:
        return []
    out_dir = ctx.work_dir / "images"
    out = []
    try:
        for corruption in CORRUPTIONS:
            for severity in ctx.severities:
                paths = [str(corrupt_file(Path(p), corruption, severity, out_dir)) for p in image_files(sample)]
                out.append(make_variant(sample, "image", f"{corruption}@{severity}", images=paths))
    except ImageLoadError:
        return []  # the plain sample reports the broken image as its error
    return out
