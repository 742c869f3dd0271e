"""The one image decoder of infimed: every part (curation, training, evaluation, serving) opens images here.

``load_image`` reads PNG/JPEG/TIFF/... with Pillow and DICOM with pydicom, and always gives an 8-bit picture:
- the pixel-count limit is checked from the header, before any pixel is decoded (decompression bombs);
- EXIF orientation is applied, so a phone photo or a rotated scan is seen the right way up;
- 16-bit, 32-bit and float grey (mode ``I;16``, ``I``, ``F``: 12-bit X-rays saved as PNG, float TIFFs) is
  windowed to 8-bit over its 0.5-99.5 percentiles, DICOM by its VOI window (Pillow's own conversion would clip
  a 12-bit X-ray to white);
- transparency (``RGBA``, ``LA``, palette with a transparent colour) is composited on white, the way viewers
  and papers show such figures: dark strokes on a transparent background stay visible (on black they vanish);
- palette, CMYK (Adobe-inverted JPEGs included), YCbCr, 1-bit become RGB or grey.
``mode`` picks the result: ``"RGB"`` (what models take), ``"L"`` (grey), or ``"auto"``: grey when the picture
is grey (however it was stored), else RGB, the fast path of curation, which never builds RGB for a grey file.
``thumb_vector`` is the grey thumbnail curation compares images by (``THUMB`` x ``THUMB``).

``resolve_image_path`` turns an image name of a record into a path and, when asked, refuses one that leaves
the data folder (``..`` or an absolute path elsewhere).

Every failure (missing file, undecodable bytes, too many pixels, unsupported DICOM) raises ``ImageLoadError``
with the path and the reason, so callers turn it into a per-sample error.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import ExifTags, Image, ImageOps

DICOM_SUFFIXES = {".dcm", ".dicom", ""}
DEFAULT_MAX_PIXELS = 64 * 1024 * 1024  # anything larger is treated as a decompression bomb
THUMB = 16  # side of the grey thumbnail that dedup, decontamination and selection compare
ALPHA_BACKGROUND = 255  # transparent pixels are composited on white
_WIDE_GREY = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_ORIENTATION = ExifTags.Base.Orientation
Mode = Literal["RGB", "L", "auto"]


class ImageLoadError(Exception):
    """An image that cannot be used, with the path and reason in the message."""


class ImagePathError(ValueError):
    """An image path that leaves the data folder it must stay in."""


def resolve_image_path(base: str | Path | None, name: str | Path, *, within: bool = True) -> Path:
    """Absolute path of image ``name`` of a record whose data folder is ``base`` (absolute names kept).

    With ``within``, the path (``..`` collapsed) must lie inside ``base``, else ``ImagePathError``. Symbolic
    links are not followed for that check: a link inside the data folder was put there by whoever owns it
    (datasets on shared storage are often linked in), while the path in a record is data.
    """
    root = Path(os.path.abspath(base if base is not None else "."))
    path = Path(name)
    full = Path(os.path.normpath(path if path.is_absolute() else root / path))
    if within and not full.is_relative_to(root):
        raise ImagePathError(f"{str(name)!r} lies outside the data folder {root}")
    return full


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


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, mode: Mode = "RGB") -> Image.Image:
    """The decoded 8-bit picture as ``mode``: ``"RGB"``, ``"L"`` or ``"auto"`` (grey when it is grey)."""
    image, _ = _decode(Path(path), max_pixels)
    if mode == "auto":
        return image if image.mode == "L" or not is_grey(image) else image.convert("L")
    return image if image.mode == mode else image.convert(mode)


def encode_for_model(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[bytes, str]:
    """Bytes and MIME type to send a model server: the file itself when any decoder shows it as we do (8-bit
    grey or RGB PNG/JPEG, no EXIF rotation), else a PNG of the decoded picture (DICOM, 16-bit, alpha,
    palette, CMYK, rotated). The image is decoded either way, so a corrupt file fails with its reason."""
    path = Path(path)
    image, plain = _decode(path, max_pixels)
    if plain:
        return path.read_bytes(), "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue(), "image/png"


def is_grey(image: Image.Image) -> bool:
    """Whether every pixel has equal R, G and B (always for ``L``)."""
    if image.mode == "L":
        return True
    r, g, b = image.convert("RGB").split()
    return r.tobytes() == g.tobytes() == b.tobytes()


def thumb_vector(image: Image.Image, side: int = THUMB) -> np.ndarray:
    """The ``side`` x ``side`` grey thumbnail (bilinear), mean-centred and L2-normalised, as float32.

    Two pictures' vectors have dot product = Pearson correlation of their thumbnails (near-duplicates ~1);
    a flat picture gives zeros.
    """
    grey = image if image.mode == "L" else image.convert("L")
    t = np.asarray(grey.resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32).ravel()
    t = t - t.mean()
    norm = float(np.linalg.norm(t))
    return t / norm if norm > 1e-3 * t.size else np.zeros_like(t)


def _decode(path: Path, max_pixels: int) -> tuple[Image.Image, bool]:
    """The picture as ``L`` or ``RGB``, and whether the file's own bytes show exactly it (see ``encode_for_model``)."""
    if is_dicom(path):
        return dicom_to_pil(path, max_pixels=max_pixels), False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # max_pixels below decides
            with Image.open(path) as im:
                _check_pixels(path, im.width, im.height, max_pixels)
                im.load()
                rotated = im.getexif().get(_ORIENTATION, 1) not in (0, 1)
                plain = im.format in ("PNG", "JPEG") and im.mode in ("L", "RGB") and not rotated and not _has_alpha(im)
                upright: Image.Image = ImageOps.exif_transpose(im) if rotated else im
                return _to_8bit(upright), plain
    except ImageLoadError:
        raise
    except FileNotFoundError as exc:
        raise ImageLoadError(f"{path}: image file not found") from exc
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{path}: decompression bomb rejected ({exc})") from exc
    except Exception as exc:  # PIL raises many types for corrupt data
        raise ImageLoadError(f"{path}: cannot decode image ({type(exc).__name__}: {exc})") from exc


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageLoadError(f"{path}: {width}x{height} exceeds the {max_pixels} pixel limit (decompression bomb?)")


def _to_8bit(im: Image.Image) -> Image.Image:
    """A new ``L`` or ``RGB`` image of any Pillow mode (see the module docstring for each mode)."""
    if im.mode in _WIDE_GREY:
        return Image.fromarray(window_to_uint8(np.asarray(im)))
    if _has_alpha(im):
        grey = im.mode in ("L", "LA", "La")
        over = im.convert("LA" if grey else "RGBA")
        out = Image.new("L" if grey else "RGB", im.size, ALPHA_BACKGROUND if grey else (ALPHA_BACKGROUND,) * 3)
        out.paste(over.convert(out.mode), mask=over.getchannel("A"))
        return out
    if im.mode in ("L", "RGB"):
        return im.copy()
    if im.mode == "1":
        return im.convert("L")
    return im.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV, RGBX


def _has_alpha(im: Image.Image) -> bool:
    """An alpha channel, or a transparent colour (``tRNS`` of a palette / grey / RGB PNG, GIF transparency)."""
    return im.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in im.info and im.mode in ("L", "P", "RGB")


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
    """Map raw (already rescaled) values to 0..255 with a VOI window; without one, the 0.5-99.5 percentiles.

    Integer pixels (16-bit PNGs, most DICOM) go through a histogram and a lookup table: a 4-megapixel X-ray
    in ~30 ms instead of ~300. Non-finite values (NaN in a float TIFF) are left out of the percentiles and
    map to 0.
    """
    if pixels.dtype.kind in "iub" and pixels.size and int(pixels.max()) - int(pixels.min()) < 1 << 20:
        return _window_integers(pixels, center, width, invert)
    arr = pixels.astype(np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        arr = np.where(finite, arr, np.nan)
    if center is None or width is None or width <= 1:
        values = arr[finite] if not finite.all() else arr
        lo, hi = np.percentile(values, [0.5, 99.5]) if values.size else (0.0, 1.0)
    else:
        lo, hi = center - width / 2.0, center + width / 2.0
    return _scale(arr, float(lo), float(hi), invert)


def _scale(values: np.ndarray, lo: float, hi: float, invert: bool) -> np.ndarray:
    hi = max(hi, lo + 1.0)
    out = np.nan_to_num(np.clip((values - lo) / (hi - lo), 0.0, 1.0), nan=0.0) * 255.0
    return (255.0 - out if invert else out).round().astype(np.uint8)


def _window_integers(pixels: np.ndarray, center: float | None, width: float | None, invert: bool) -> np.ndarray:
    """``window_to_uint8`` of integers: percentiles from the histogram (inverted CDF), a table per value."""
    base = int(pixels.min())
    index = pixels.astype(np.intp) - base if base else pixels.astype(np.intp, copy=False)
    counts = np.bincount(index.ravel())
    if center is None or width is None or width <= 1:
        cdf = np.cumsum(counts)
        lo, hi = (float(np.searchsorted(cdf, q * index.size) + base) for q in (0.005, 0.995))
    else:
        lo, hi = center - width / 2.0, center + width / 2.0
    table = _scale(np.arange(base, base + len(counts), dtype=np.float64), lo, hi, invert)
    return table[index]


def dicom_to_array(ds: Any) -> np.ndarray:
    """8-bit grayscale (or RGB) array of a pydicom dataset: rescale slope/intercept, window, MONOCHROME1.

    Of a multi-frame file only the middle frame is decoded.
    """
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames > 1:
        ds.pixel_array_options(index=frames // 2)
    pixels = ds.pixel_array
    photometric = str(getattr(ds, "PhotometricInterpretation", ""))
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        pixels = apply_color_lut(pixels, ds)
    if photometric in ("RGB", "PALETTE COLOR") or pixels.ndim == 3 and pixels.shape[-1] == 3:
        rgb = np.asarray(pixels if pixels.ndim == 3 else pixels[0])
        if rgb.dtype != np.uint8:  # 16/32-bit colour: scale by the stored bit depth instead of wrapping
            bits = int(getattr(ds, "BitsStored", 8 * rgb.dtype.itemsize))
            if photometric == "PALETTE COLOR":  # 16-bit LUT entries; some writers put 8-bit values in them
                bits = 8 if rgb.max() <= 255 else 16
            rgb = np.clip(rgb.astype(np.float64) / ((1 << bits) - 1) * 255.0, 0, 255).round()
        return rgb.astype(np.uint8)
    if pixels.ndim == 3:  # frames the header did not count: take the middle one
        pixels = pixels[pixels.shape[0] // 2]
    slope = _first(getattr(ds, "RescaleSlope", None)) or 1.0
    intercept = _first(getattr(ds, "RescaleIntercept", None)) or 0.0
    if slope == 1 and float(intercept).is_integer() and pixels.dtype.kind in "iu":  # CT, CR, DX: stay integer
        values = pixels.astype(np.int32) + int(intercept)
    else:
        values = pixels.astype(np.float32) * slope + intercept
    center = _first(getattr(ds, "WindowCenter", None))
    width = _first(getattr(ds, "WindowWidth", None))
    invert = photometric == "MONOCHROME1"
    return window_to_uint8(values, center, width, invert=invert)


def dicom_to_pil(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """``L`` (or ``RGB``) image of a DICOM file; the frame size is checked before pixel data is decoded."""
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
        rows, cols = int(getattr(ds, "Rows", 0) or 0), int(getattr(ds, "Columns", 0) or 0)
    except FileNotFoundError as exc:
        raise ImageLoadError(f"{path}: image file not found") from exc
    except Exception as exc:
        raise ImageLoadError(f"{path}: cannot read DICOM ({type(exc).__name__}: {exc})") from exc
    _check_pixels(Path(path), cols, rows, max_pixels)
    try:
        return Image.fromarray(dicom_to_array(ds))
    except Exception as exc:
        raise ImageLoadError(f"{path}: cannot read DICOM pixel data ({type(exc).__name__}: {exc})") from exc
