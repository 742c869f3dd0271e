"""Image-caption pairs from files on disk into sample JSONL (``answer_type: report``, task ``report_generation``).

Three layouts:
- ``import_captions``: a folder of images plus a JSONL or CSV of captions (keys / columns: ``image`` (or
  ``file_name`` / ``path`` / ``filename``) and ``caption``; optional ``id``, ``modality``);
- ``import_roco``: ROCO as published (``data/{train,validation,test}/{radiology,non-radiology}/captions.txt``,
  tab-separated ``ROCO_xxxxx<TAB>caption``, with ``images/ROCO_xxxxx.jpg``; ``keywords.txt``, ``semtypes.txt``,
  ``cuis.txt`` rows go to ``meta``);
- ``import_pmc_oa``: PMC-OA (``pmc_oa.jsonl`` or ``pmc_oa_beta.jsonl``, rows with ``image`` and ``caption``,
  images in ``images/``), the HF dataset axiong/pmc_oa.

Every record references its image relative to the output file (in place, or copied into ``out/images/`` with
``copy=True``). A bad row (missing image, empty caption, unreadable line) is a ``RowError`` naming file:line and
field; errors are collected and the good rows still written, or ``strict`` raises on the first. The dataset
loaders compare the pairs found with the published counts and raise ``CountError`` on a partial copy unless
``allow_partial`` (then the shortfall is a warning in the summary).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infimed.io.images import ImagePathError, resolve_image_path
from infimed.io.jsonl import copy_private, write_json, write_jsonl
from infimed.progress import track
from infimed.schema import MODALITIES, Sample, parse_sample

DEFAULT_PROMPT = "Write a caption for this image."
IMAGE_KEYS = ("image", "file_name", "filename", "path", "image_path")
# ROCO v1 (Pelka et al., LABELS 2018) as published at github.com/razorx89/roco-dataset (commit a1f0ad6): the
# rows of captions.txt / licences.txt per split and subset. The paper's radiology figures (65,460 / 8,183 /
# 8,182) are 12 / 3 / 3 more than the repository lists. A copy fetched with its scripts/fetch.py usually misses
# some images (dead links; HF mirrors hold 65,419-65,423 train pairs): import it with allow_partial.
ROCO_COUNTS: dict[tuple[str, str], int | None] = {
    ("train", "radiology"): 65_448, ("validation", "radiology"): 8_180, ("test", "radiology"): 8_179,
    ("train", "non-radiology"): 4_895, ("validation", "non-radiology"): 611, ("test", "non-radiology"): 612,
}
ROCO_SPLITS = ("train", "validation", "test")
# ROCOv2 (Rückert et al., Scientific Data 2024, Zenodo): <split>_captions.csv (ID,Caption) + <split>/<ID>.jpg.
ROCO2_COUNTS: dict[str, int] = {"train": 59_958, "validation": 9_904, "test": 9_927}
ROCO2_DIRS = {"train": "train", "validation": "valid", "test": "test"}
ROCO_SUBSETS = ("radiology", "non-radiology")
ROCO_META_FILES = ("keywords", "semtypes", "cuis")
# PMC-OA (Lin et al. 2023, PMC-CLIP): "1.65M image-caption pairs" (the HF loader says "1.6M"), no exact count
# published: a complete copy must round to 1.65M, i.e. lie in [1.645M, 1.655M].
# PMC-OA-Beta has no published count we could verify; only missing images are checked for it.
PMC_OA_IMAGE_SUBDIR = "caption_T060_filtered_top4_sep_v0_subfigures"  # the folder inside images.zip
PMC_OA_COUNTS: dict[str, tuple[int, int] | None] = {"pmc_oa": (1_645_000, 1_655_000), "pmc_oa_beta": None}


class CaptionImportError(ValueError):
    """A caption file or dataset folder that cannot be imported (one line: file, line, field)."""


class CountError(CaptionImportError):
    """Fewer (or more) pairs than the dataset's published count: a partial or mixed copy."""


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} field '{self.field}': {self.message}"


@dataclass(frozen=True)
class RawPair:
    """One caption row as read: where it is, the image name, the text and optional extras."""

    file: str
    line: int
    image: str
    caption: str
    id: str | None = None
    modality: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportResult:
    out_file: Path
    n_rows: int = 0
    n_written: int = 0
    n_missing_images: int = 0
    skipped: list[RowError] = field(default_factory=list)  # published rows a record cannot hold (one-word text)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"out_file": str(self.out_file), "rows": self.n_rows, "written": self.n_written,
                "missing_images": self.n_missing_images, "errors": [str(e) for e in self.errors],
                "skipped": [str(e) for e in self.skipped],
                "warnings": self.warnings}


def clean_caption(text: str) -> str:
    """Whitespace (newlines of a multi-line caption included) collapsed to single spaces."""
    return " ".join(text.split())


def write_pairs(
    pairs: Iterable[RawPair | RowError], images_dir: Path, out_file: Path, *, source: str, split: str = "train",
    prompt: str = DEFAULT_PROMPT, modality: str | None = None, copy: bool = False, strict: bool = False,
    missing_is_error: bool = True, id_prefix: str = "", images_within: bool = True, published: bool = False,
) -> ImportResult:
    """Validate each pair, reference (or copy) its image, write ``out_file`` atomically; bad rows collected.

    ``published``: the rows are a dataset as released, so a one-word caption ("Spine.", real ROCO has a few
    dozen) is skipped and listed in ``skipped`` rather than a bad row (a report target needs two words).
    """
    if modality is not None and modality not in MODALITIES:
        raise CaptionImportError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")
    if not prompt.strip():
        raise CaptionImportError("the prompt is empty")
    out_file = out_file.absolute()
    out_dir = out_file.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ImportResult(out_file)
    seen: set[str] = set()

    def fail(pair: RawPair, field_name: str, message: str) -> None:
        err = RowError(pair.file, pair.line, field_name, message)
        if strict:
            raise CaptionImportError(str(err))
        result.errors.append(err)

    def samples() -> Iterator[Sample]:
        for pair in track(pairs, f"importing {source}"):
            result.n_rows += 1
            if isinstance(pair, RowError):
                if strict:
                    raise CaptionImportError(str(pair))
                result.errors.append(pair)
                continue
            sample = _sample(pair)
            if sample is not None:
                result.n_written += 1
                yield sample

    def _sample(pair: RawPair) -> Sample | None:
        if not pair.image.strip():
            fail(pair, "image", "image name is empty")
            return None
        try:
            src = resolve_image_path(images_dir, pair.image.strip(), within=images_within)
        except ImagePathError as exc:
            fail(pair, "image", f"{exc}; pass --allow-outside-images to accept it")
            return None
        if not src.is_file():
            if not missing_is_error:
                result.n_missing_images += 1
                return None
            fail(pair, "image", f"image not found: {src}")
            return None
        text = clean_caption(pair.caption)
        if not text:
            fail(pair, "caption", "caption is empty")
            return None
        if len(text.split()) < 2:
            if published:
                result.skipped.append(RowError(pair.file, pair.line, "caption", f"one-word caption {text!r}"))
                return None
            fail(pair, "caption", f"caption {text!r} has fewer than two words")
            return None
        mod = pair.modality.strip().lower() if pair.modality and pair.modality.strip() else modality
        if mod is not None and mod not in MODALITIES:
            fail(pair, "modality", f"unknown modality {mod!r}; expected one of {', '.join(MODALITIES)}")
            return None
        default_id = Path(pair.image.strip()).with_suffix("").as_posix()
        sid = id_prefix + (pair.id.strip() if pair.id and pair.id.strip() else default_id)
        if sid in seen:
            fail(pair, "id", f"duplicate id {sid!r}")
            return None
        seen.add(sid)
        rel = Path(os.path.relpath(src, os.path.abspath(images_dir))) if copy else None
        if rel is not None and rel.parts[:1] == ("..",):
            fail(pair, "image", f"{src} lies outside the image folder and cannot be copied under images/")
            return None
        if rel is not None:
            dst = out_dir / "images" / rel
            if not dst.exists():
                copy_private(src, dst)
            image = (Path("images") / rel).as_posix()
        else:
            image = Path(os.path.relpath(src, out_dir)).as_posix()
        raw = {"id": sid, "images": [image], "question": prompt, "answer": text, "answer_type": "report",
               "modality": mod, "task": "report_generation", "source": source, "split": split,
               "meta": {"image_name": pair.image.strip(), **pair.meta}}
        sample, errors = parse_sample(raw, file=pair.file, line=pair.line)
        if sample is None:
            fail(pair, errors[0].field, errors[0].message)
            return None
        return sample

    write_jsonl(out_file, samples())
    return result


# ------------------------------------------------------------------------------------- folder + captions


def _pick(row: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in row and row[key] is not None:
            return str(row[key])
    return None


def _row_pair(file: str, line: int, row: dict[str, Any], image_keys: tuple[str, ...] = IMAGE_KEYS,
              caption_key: str = "caption") -> RawPair | RowError:
    image = _pick(row, image_keys)
    if image is None:
        return RowError(file, line, image_keys[0], f"missing (expected one of: {', '.join(image_keys)})")
    caption = row.get(caption_key)
    if caption is None:
        return RowError(file, line, caption_key, "missing")
    if not isinstance(caption, str):
        return RowError(file, line, caption_key, f"expected text, got {type(caption).__name__}")
    skip = (*image_keys, caption_key, "id", "modality")
    extra = {k: v for k, v in row.items() if k not in skip and v not in (None, "")}
    sid, mod = row.get("id"), row.get("modality")
    return RawPair(file, line, image, caption, str(sid) if sid not in (None, "") else None,
                   str(mod) if mod not in (None, "") else None, extra)


def iter_caption_jsonl(path: Path) -> Iterator[RawPair | RowError]:
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield RowError(str(path), lineno, "record", f"invalid JSON ({exc})")
                continue
            if not isinstance(row, dict):
                yield RowError(str(path), lineno, "record", f"expected an object, got {type(row).__name__}")
                continue
            yield _row_pair(str(path), lineno, row)


def iter_caption_csv(path: Path, *, image_keys: tuple[str, ...] = IMAGE_KEYS,
                     caption_key: str = "caption") -> Iterator[RawPair | RowError]:
    """CSV rows (quoted multi-line captions allowed), each named by the line it starts on."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return
        except csv.Error as exc:
            raise CaptionImportError(f"{path}:1: unreadable CSV header ({exc})") from None
        if _pick(dict.fromkeys(header, ""), image_keys) is None or caption_key not in header:
            raise CaptionImportError(f"{path}:1: the header needs an image column ({', '.join(image_keys)}) and "
                                     f"{caption_key!r}; found {header}")
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RowError(str(path), start, "record", f"unreadable CSV line ({exc})")
                return  # the reader cannot resynchronise inside a broken quoted field
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield RowError(str(path), start, "record", f"{len(cells)} cells, the header has {len(header)}")
                continue
            yield _row_pair(str(path), start, dict(zip(header, cells, strict=True)), image_keys, caption_key)


def import_captions(
    images: Path, captions: Path, out: Path, *, modality: str | None = None, prompt: str = DEFAULT_PROMPT,
    copy: bool = False, strict: bool = False, split: str = "train", images_within: bool = True,
) -> ImportResult:
    """A folder of images plus a JSONL / CSV of captions -> ``out/<split>.jsonl``.

    Image names are relative to ``images``; one leaving it (``..``, an absolute path elsewhere) is a row error
    unless ``images_within=False``.
    """
    if not images.is_dir():
        raise CaptionImportError(f"{images}: image folder not found")
    if not captions.is_file():
        raise CaptionImportError(f"{captions}: caption file not found")
    suffix = captions.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        rows: Iterable[RawPair | RowError] = iter_caption_jsonl(captions)
    elif suffix in (".csv", ".tsv"):
        rows = iter_caption_csv(captions)
    else:
        raise CaptionImportError(f"{captions}: expected a .jsonl or .csv caption file")
    result = write_pairs(rows, images, out / f"{split}.jsonl", source=captions.stem, split=split, prompt=prompt,
                         modality=modality, copy=copy, strict=strict, images_within=images_within)
    _write_report(out, result, split)
    return result


def _write_report(out: Path, result: ImportResult, name: str) -> None:
    write_json(out / f"{name}.import.json", result.summary())


# ---------------------------------------------------------------------------------------------- counts


def check_count(what: str, found: int, expected: int | tuple[int, int] | None, *, allow_partial: bool,
                missing_images: int) -> str | None:
    """None when ``found`` matches the published count; a warning with ``allow_partial``; else ``CountError``."""
    if expected is None:
        return None
    lo, hi = (expected, expected) if isinstance(expected, int) else expected
    if lo <= found <= hi:
        return None
    want = f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"
    msg = (f"{what}: {found:,} pairs with images, the published count is {want} "
           f"({missing_images:,} rows whose image is missing); a partial or mixed copy")
    if not allow_partial:
        raise CountError(msg + "; pass --allow-partial to import it anyway")
    return msg
