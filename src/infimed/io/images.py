"""Image loading for the sample record: PNG/JPEG via Pillow, DICOM via pydicom with windowing to 8-bit.

Every failure (missing file, undecodable bytes, decompression bomb, unsupported DICOM) raises
``ImageLoadError`` with the path and the reason, so callers turn it into a per-sample error.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

DICOM_SUFFIXES = {".dcm", ".dicom", ""}
DEFAULT_MAX_PIXELS = 64 * 1024 * 1024  # anything larger is treated as a decompression bomb


class ImageLoadError(Exception):
    """An image that cannot be used, with the path and reason in the message."""


def is_dicom(path: Path) -> bool:
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"):
        return False
    try:
        with path.open("rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Load an image as RGB. DICOM pixel data is rescaled and windowed to 8-bit grayscale."""
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(f"{path}: image file not found")
    if is_dicom(path):
        return dicom_to_pil(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageLoadError(f"{path}: {w}x{h} exceeds the {max_pixels} pixel limit (decompression bomb?)")
                im.load()
                return _to_rgb(im)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"{path}: decompression bomb rejected ({exc})") from exc
    except Exception as exc:  # PIL raises many types for corrupt data
        raise ImageLoadError(f"{path}: cannot decode image ({type(exc).__name__}: {exc})") from exc


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB of any Pillow mode; 16-bit / 32-bit / float grayscale is scaled to 8-bit (Pillow would clip it)."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return Image.fromarray(window_to_uint8(np.asarray(im))).convert("RGB")
    return im.convert("RGB")


def _first(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value[0]) if hasattr(value, "__len__") and not isinstance(value, str) else float(value)
    except (TypeError, ValueError, IndexError):
        return None


def window_to_uint8(
    pixels: np.ndarray, center: float | None = None, width: float | None = None, *, invert: bool = False
) -> np.ndarray:
    """Map raw (already rescaled) values to 0..255 with a VOI window; without one, the 0.5-99.5 percentiles."""
    arr = pixels.astype(np.float32)
    if center is None or width is None or width <= 1:
        lo, hi = np.percentile(arr, [0.5, 99.5]) if arr.size else (0.0, 1.0)
    else:
        lo, hi = center - width / 2.0, center + width / 2.0
    if hi <= lo:
        hi = lo + 1.0
    out = np.clip((arr - lo) / (hi - lo), 0.0, 1.0) * 255.0
    if invert:
        out = 255.0 - out
    return out.round().astype(np.uint8)


def dicom_to_array(ds: Any) -> np.ndarray:
    """8-bit grayscale (or RGB) array of a pydicom dataset: rescale slope/intercept, window, MONOCHROME1."""
    pixels = ds.pixel_array
    if getattr(ds, "PhotometricInterpretation", "") == "RGB" or pixels.ndim == 3 and pixels.shape[-1] == 3:
        rgb = np.asarray(pixels if pixels.ndim == 3 else pixels[0])
        if rgb.dtype != np.uint8:  # 16/32-bit colour: scale by the stored bit depth instead of wrapping
            bits = int(getattr(ds, "BitsStored", 8 * rgb.dtype.itemsize))
            rgb = np.clip(rgb.astype(np.float64) / ((1 << bits) - 1) * 255.0, 0, 255).round()
        return rgb.astype(np.uint8)
    if pixels.ndim == 3:  # multi-frame: take the middle frame
        pixels = pixels[pixels.shape[0] // 2]
    slope = _first(getattr(ds, "RescaleSlope", None)) or 1.0
    intercept = _first(getattr(ds, "RescaleIntercept", None)) or 0.0
    values = pixels.astype(np.float32) * slope + intercept
    center = _first(getattr(ds, "WindowCenter", None))
    width = _first(getattr(ds, "WindowWidth", None))
    invert = getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1"
    return window_to_uint8(values, center, width, invert=invert)


def dicom_to_pil(path: str | Path) -> Image.Image:
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
        arr = dicom_to_array(ds)
    except Exception as exc:
        raise ImageLoadError(f"{path}: cannot read DICOM pixel data ({type(exc).__name__}: {exc})") from exc
    return Image.fromarray(arr).convert("RGB")
