"""Content and perceptual signatures of images and text, shared by validation, dedup and decontamination.

Images are decoded by ``infimed.io.images.load_image`` (``mode="auto"``: grey files stay grey, 16-bit ones
are windowed to 8-bit) once per path (``signatures`` fills a process-wide cache, in parallel when asked):
phantom-style sets ask several questions about one image, so the decode cost is paid per image, not per
sample. A signature holds
- ``pixel_hash``: a hash of the decoded pixels (plus size). Exact dedup uses it instead of file bytes so a
  re-saved PNG or a file with different metadata still matches; a lossy re-encode does not (that is a near
  duplicate).
- ``phash``: the 64-bit DCT perceptual hash (32x32 grey -> low 8x8 DCT band -> above median), robust to
  re-encoding, resizing and brightness shifts; compared by Hamming distance.
- ``thumb``: the 16x16 grey thumbnail of ``infimed.io.images.thumb_vector`` (zero mean, unit norm). Medical
  images of one kind look alike to a 64-bit hash (same anatomy, same contrast), so a phash match is only a
  candidate, confirmed when the thumbnails correlate; this keeps different cases of the same organ apart.
- ``views``: (softly) rank-equalised 16x16 grey views of the whole image and of centred crops trimming 2-8 % of it
  (``VIEW_CROPS``), each zero mean and unit norm. ``aligned_similarity`` takes the best correlation of one
  image's whole view with the other's crops (either way round), so a cropped or re-framed copy is compared at
  the right scale; rank equalisation (brightness-shift invariant) keeps a bright lesion or the body outline from
  dominating, so the case's own inner structure decides whether two look-alike pictures are one.
Text uses word shingles: ``minhash`` (datasketch) for LSH over many texts and ``shingles`` for exact checks.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageStat

from infimed.io.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image, thumb_vector

VIEW = 12
VIEW_CROPS = (0.0, 0.015, 0.03, 0.045, 0.06, 0.075)  # fraction of each side trimmed (split over both borders)
RANK_SOFTNESS = 4.0  # grey levels (of 255) below which differences count as noise when equalising views
_CACHE: dict[tuple[str, int], ImageSig] = {}


@dataclass(frozen=True)
class ImageSig:
    """What dedup and validation need to know about one image file (or why it is unusable)."""

    path: str
    error: str | None = None  # message when unusable
    reason: str | None = None  # "image_unreadable" | "image_too_large"
    width: int = 0
    height: int = 0
    std: float = 0.0  # grey-level standard deviation (0 for a blank image)
    pixel_hash: str = ""
    phash: int = 0
    thumb: bytes = b""  # THUMB*THUMB float16, ``thumb_vector``: zero mean, unit norm
    views: bytes = b""  # len(VIEW_CROPS) x VIEW*VIEW float16, rank-equalised, zero mean, unit norm

    def views_array(self) -> np.ndarray:
        return np.frombuffer(self.views, dtype=np.float16).astype(np.float32).reshape(len(VIEW_CROPS), VIEW * VIEW)

    @property
    def ok(self) -> bool:
        return self.error is None

    def thumb_array(self) -> np.ndarray:
        return np.frombuffer(self.thumb, dtype=np.float16).astype(np.float32)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT32 = _dct_matrix(32)


def phash_of(grey32: np.ndarray) -> int:
    """64-bit perceptual hash of a 32x32 grey array."""
    coeffs = (_DCT32 @ grey32 @ _DCT32.T)[:8, :8].ravel()
    bits = coeffs[1:] > np.median(coeffs[1:])  # skip the DC term: brightness must not matter
    return int.from_bytes(np.packbits(np.concatenate([[False], bits])).tobytes(), "big")


def compute_signature(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageSig:
    """Decode one image (grey when it is grey, see ``load_image``) and compute its signature; never raises."""
    try:
        im = load_image(path, max_pixels=max_pixels, mode="auto")
    except ImageLoadError as exc:
        msg = str(exc)
        big = "pixel limit" in msg or "decompression bomb" in msg
        return ImageSig(path, error=msg, reason="image_too_large" if big else "image_unreadable")
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{im.width}x{im.height}".encode())
    h.update(im.tobytes())  # a grey picture hashes the same whether saved as L or RGB ("auto" gives L)
    grey = im if im.mode == "L" else im.convert("L")
    g32 = np.asarray(grey.resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float32)
    std = float(ImageStat.Stat(grey).stddev[0])
    return ImageSig(
        path, width=im.width, height=im.height, std=std, pixel_hash=h.hexdigest(), phash=phash_of(g32),
        thumb=thumb_vector(grey).astype(np.float16).tobytes(), views=_views(grey).astype(np.float16).tobytes(),
    )


_SOFT_STEP = 0.5 + 0.5 * np.tanh(0.5 * np.arange(-255, 256) / RANK_SOFTNESS)  # logistic step per grey offset


def _soft_rank(values: np.ndarray) -> np.ndarray:
    """Each value's share of values below it, counted softly over ``RANK_SOFTNESS`` grey levels (0-255 input).

    Like histogram equalisation (invariant to brightness shifts, no single bright structure dominates), but
    differences smaller than the softness (sensor noise on a flat background) do not get spread over the
    whole range, and ties share one value. Computed on the 256-level histogram: a logistic-smoothed CDF.
    """
    levels = np.clip(np.rint(values), 0, 255).astype(np.intp)
    cdf = np.convolve(np.bincount(levels, minlength=256), _SOFT_STEP)[255:511]
    return (cdf[levels] / len(values)).astype(np.float32)


def _views(grey: Image.Image) -> np.ndarray:
    w, h = grey.size
    out = np.zeros((len(VIEW_CROPS), VIEW * VIEW), dtype=np.float32)
    for k, crop in enumerate(VIEW_CROPS):
        m = crop / 2
        box = (m * w, m * h, (1 - m) * w, (1 - m) * h)
        v = _soft_rank(np.asarray(grey.resize((VIEW, VIEW), Image.Resampling.BOX, box=box), dtype=np.float32).ravel())
        v -= v.mean()
        norm = float(np.linalg.norm(v))
        if norm > 0:
            out[k] = v / norm
    return out


def aligned_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Best view correlation of image pairs: ``a``, ``b`` are (pairs, len(VIEW_CROPS), VIEW*VIEW) view stacks.

    One image's whole view against each crop of the other, both ways round: a copy trimmed by c % matches the
    original's c % crop. In [-1, 1]; 1 for identical pictures.
    """
    best = np.einsum("pd,pd->p", a[:, 0], b[:, 0])
    for k in range(1, a.shape[1]):
        np.maximum(best, np.einsum("pd,pd->p", a[:, k], b[:, 0]), out=best)
        np.maximum(best, np.einsum("pd,pd->p", a[:, 0], b[:, k]), out=best)
    return best


def _compute_many(args: tuple[list[str], int]) -> list[ImageSig]:
    paths, max_pixels = args
    return [compute_signature(p, max_pixels) for p in paths]


def signatures(
    paths: Iterable[str | Path], *, workers: int = 1, max_pixels: int = DEFAULT_MAX_PIXELS, pool: object = None
) -> dict[str, ImageSig]:
    """Signatures of many images, from the cache where possible; the rest computed (in ``pool`` if given)."""
    wanted = list(dict.fromkeys(str(p) for p in paths))
    missing = [p for p in wanted if (p, max_pixels) not in _CACHE]
    if missing:
        if pool is not None and len(missing) >= 32:
            chunk = max(8, len(missing) // (4 * max(workers, 1)))
            parts = [(missing[i : i + chunk], max_pixels) for i in range(0, len(missing), chunk)]
            computed = [s for part in pool.map(_compute_many, parts) for s in part]  # type: ignore[attr-defined]
        else:
            computed = _compute_many((missing, max_pixels))
        for sig in computed:
            _CACHE[(sig.path, max_pixels)] = sig
    return {p: _CACHE[(p, max_pixels)] for p in wanted}


def signature(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageSig:
    return signatures([path], max_pixels=max_pixels)[str(path)]


def clear_cache() -> None:
    _CACHE.clear()


T = TypeVar("T")

def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive non-empty lists of at most ``size`` items (streamed: one chunk held at a time)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class WorkerPool:
    """A process pool for per-image work, or nothing when one worker is asked for (``with`` block)."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self.pool: object = None

    def __enter__(self) -> WorkerPool:
        if self.workers > 1:
            import multiprocessing

            self.pool = multiprocessing.get_context("fork").Pool(self.workers)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.terminate()  # type: ignore[attr-defined]
            self.pool.join()  # type: ignore[attr-defined]

    def signatures(self, paths: Iterable[str | Path], max_pixels: int = DEFAULT_MAX_PIXELS) -> dict[str, ImageSig]:
        return signatures(paths, workers=self.workers, max_pixels=max_pixels, pool=self.pool)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def thumb_similarity(a: ImageSig, b: ImageSig) -> float:
    """Pearson correlation of the normalised thumbnails, in [-1, 1]."""
    return float(np.dot(a.thumb_array(), b.thumb_array()))


def images_match(a: ImageSig, b: ImageSig, *, max_hamming: int, min_similarity: float,
                 min_aligned: float = -1.0) -> bool:
    """Hash within ``max_hamming`` bits, thumbnails correlating >= ``min_similarity``, views >= ``min_aligned``."""
    if hamming(a.phash, b.phash) > max_hamming or thumb_similarity(a, b) < min_similarity:
        return False
    return min_aligned <= -1.0 or float(aligned_similarity(a.views_array()[None], b.views_array()[None])[0]) >= min_aligned


# ---- text ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def normalize_text(text: str) -> str:
    """Case-folded NFKC text with punctuation dropped and whitespace collapsed."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def shingles(text: str, n: int = 3) -> set[str]:
    """Word n-grams of the normalised text (the whole text when it is shorter than n words)."""
    words = normalize_text(text).split()
    if len(words) <= n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def minhash(tokens: Sequence[str] | set[str], num_perm: int = 64, seed: int = 1) -> Any:
    """A datasketch LeanMinHash of the given shingles (deterministic: fixed seed)."""
    from datasketch import LeanMinHash, MinHash

    m = MinHash(num_perm=num_perm, seed=seed)
    m.update_batch([t.encode("utf-8") for t in tokens])
    return LeanMinHash(m)


def answer_key(answer_type: str, answer: str, options: dict[str, str] | None) -> str:
    """The answer as normalised text: a choice answer by its option's text, so re-lettered copies agree."""
    if answer_type == "choice" and options and answer in options:
        return normalize_text(options[answer])
    return normalize_text(answer)
