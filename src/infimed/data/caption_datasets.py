"""The ROCO and PMC-OA caption datasets, as published, into sample JSONL with their counts checked.

ROCO v1 (github.com/razorx89/roco-dataset, after ``scripts/fetch.py``): ``data/<split>/<subset>/`` with
``captions.txt`` (``ROCO_xxxxx<TAB>caption``, one pair a line), ``images/ROCO_xxxxx.jpg`` and the tab-separated
``keywords.txt``, ``semtypes.txt``, ``cuis.txt`` (``ROCO_xxxxx<TAB>item<TAB>item...``) and ``licences.txt`` (``ROCO_ID,PMC_ID,CC``), kept in ``meta``.
PMC-OA (huggingface.co/datasets/axiong/pmc_oa): ``pmc_oa.jsonl`` / ``pmc_oa_beta.jsonl`` rows with ``image``
and ``caption`` (other keys, e.g. ``alignment_type``, ``alignment_score``, ``pmcid``, kept in ``meta``), images
from ``images.zip`` (which unpacks into ``caption_T060_filtered_top4_sep_v0_subfigures/``).
ROCOv2 (Zenodo, Scientific Data 2024): ``<split>_captions.csv`` (``ID,Caption``) beside ``train/``, ``valid/``,
``test/`` image folders (``<ID>.jpg``); ``<split>_concepts.csv`` (``ID,CUIs``, ``;``-separated) goes to ``meta``.
A pair whose image is absent counts as missing; fewer present pairs than published is a ``CountError``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infimed.data.caption_import import (
    DEFAULT_PROMPT,
    PMC_OA_COUNTS,
    PMC_OA_IMAGE_SUBDIR,
    ROCO2_COUNTS,
    ROCO2_DIRS,
    ROCO_COUNTS,
    ROCO_META_FILES,
    ROCO_SPLITS,
    ROCO_SUBSETS,
    CaptionImportError,
    ImportResult,
    RawPair,
    RowError,
    check_count,
    iter_caption_csv,
    iter_caption_jsonl,
    write_pairs,
)
from infimed.io.jsonl import write_json


def roco_folder(root: Path, split: str, subset: str) -> Path:
    """``<root>/data/<split>/<subset>`` (``root`` may be the clone or its ``data`` folder)."""
    if split not in ROCO_SPLITS:
        raise CaptionImportError(f"unknown ROCO split {split!r}; expected one of {', '.join(ROCO_SPLITS)}")
    if subset not in ROCO_SUBSETS:
        raise CaptionImportError(f"unknown ROCO subset {subset!r}; expected one of {', '.join(ROCO_SUBSETS)}")
    for base in (root / "data", root):
        if (base / split / subset / "captions.txt").is_file():
            return base / split / subset
    raise CaptionImportError(f"{root / 'data' / split / subset / 'captions.txt'}: not found (ROCO layout: "
                             "data/{train,validation,test}/{radiology,non-radiology}/captions.txt + images/)")


def _tab_lines(path: Path) -> Iterator[tuple[int, list[str] | None]]:
    with path.open(encoding="utf-8", errors="strict", newline="") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield lineno, (line.split("\t") if "\t" in line else None)


def _roco_meta(folder: Path) -> dict[str, dict[str, Any]]:
    """Per ROCO id: keywords, cuis, semtypes (``T060 Diagnostic Procedure``), licence and PMC image name."""
    meta: dict[str, dict[str, Any]] = {}
    for name in ROCO_META_FILES:
        path = folder / f"{name}.txt"
        if not path.is_file():
            continue
        for _, cells in _tab_lines(path):
            if cells:
                items = [c.strip() for c in cells[1:] if c.strip()]
                if name == "semtypes":  # code, name, code, name, ...
                    items = [f"{code} {label}" for code, label in zip(items[::2], items[1::2], strict=False)]
                meta.setdefault(cells[0].strip(), {})[name] = items
    licences = folder / "licences.txt"  # ROCO_ID,PMC_ID,CC
    if licences.is_file():
        with licences.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                rid = (row.get("ROCO_ID") or "").strip()
                if rid:
                    entry = meta.setdefault(rid, {})
                    entry["licence"] = (row.get("CC") or "").strip()
                    entry["pmc_image"] = (row.get("PMC_ID") or "").strip()
    return meta


def iter_roco(folder: Path, subset: str) -> Iterator[RawPair | RowError]:
    path = folder / "captions.txt"
    meta = _roco_meta(folder)
    try:
        for lineno, cells in _tab_lines(path):
            if cells is None:
                yield RowError(str(path), lineno, "record", "expected 'ROCO_xxxxx<TAB>caption'")
                continue
            rid, caption = cells[0].strip(), "\t".join(cells[1:])
            if not rid:
                yield RowError(str(path), lineno, "id", "is empty")
                continue
            yield RawPair(str(path), lineno, f"{rid}.jpg", caption, rid, None,
                          {"subset": subset, **meta.get(rid, {})})
    except UnicodeDecodeError as exc:
        raise CaptionImportError(f"{path}: not UTF-8 text ({exc})") from None


def roco_version(root: Path) -> int:
    """2 when ``root`` holds ROCOv2's ``<split>_captions.csv`` files, else 1."""
    return 2 if any((root / f"{d}_captions.csv").is_file() for d in ROCO2_DIRS.values()) else 1


def _roco2_concepts(path: Path) -> dict[str, list[str]]:
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = csv.DictReader(fh)
        if not {"ID", "CUIs"} <= set(rows.fieldnames or []):
            return {}
        return {r["ID"]: [c.strip() for c in (r["CUIs"] or "").split(";") if c.strip()] for r in rows}


def iter_roco2(root: Path, split: str) -> Iterator[RawPair | RowError]:
    folder = ROCO2_DIRS[split]
    concepts = _roco2_concepts(root / f"{folder}_concepts.csv")
    for item in iter_caption_csv(root / f"{folder}_captions.csv", image_keys=("ID",), caption_key="Caption"):
        if isinstance(item, RawPair):
            rid = item.image
            meta = {"cuis": concepts[rid]} if rid in concepts else {}
            item = RawPair(item.file, item.line, f"{folder}/{rid}.jpg", item.caption, rid, None, meta)
        yield item


def import_roco(
    root: Path, out: Path, *, splits: tuple[str, ...] = ROCO_SPLITS, subset: str = "radiology",
    allow_partial: bool = False, copy: bool = False, strict: bool = False, prompt: str = DEFAULT_PROMPT,
) -> dict[str, ImportResult]:
    """ROCO v1 or v2 ``splits`` of ``subset`` -> ``out/<split>.jsonl`` (modality left unset: CT, MRI, X-ray...)."""
    results: dict[str, ImportResult] = {}
    if roco_version(root) == 2:
        if subset != "radiology":
            raise CaptionImportError("ROCOv2 has the radiology subset only")
        for split in splits:
            if split not in ROCO2_DIRS:
                raise CaptionImportError(f"unknown ROCO split {split!r}; expected one of {', '.join(ROCO2_DIRS)}")
            path = root / f"{ROCO2_DIRS[split]}_captions.csv"
            if not path.is_file():
                raise CaptionImportError(f"{path}: not found (ROCOv2 layout: <split>_captions.csv + <split>/)")
        for split in splits:
            out_file = out / f"{split}.jsonl"
            res = write_pairs(iter_roco2(root, split), root, out_file, source="rocov2", split=split, prompt=prompt,
                              copy=copy, strict=strict, missing_is_error=False, published=True)
            _check(f"ROCOv2 {split}", res, ROCO2_COUNTS[split], allow_partial, out_file)
            results[split] = res
        return results
    folders = {split: roco_folder(root, split, subset) for split in splits}  # every split found before writing
    for split, folder in folders.items():
        res = write_pairs(iter_roco(folder, subset), folder / "images", out / f"{split}.jsonl", source="roco",
                          split=split, prompt=prompt, copy=copy, strict=strict, missing_is_error=False, published=True)
        _check(f"ROCO {split}/{subset}", res, ROCO_COUNTS.get((split, subset)), allow_partial, out / f"{split}.jsonl")
        results[split] = res
    return results


def pmc_oa_image_dirs(root: Path) -> list[Path]:
    """Where PMC-OA's images may lie: images.zip unpacks into ``caption_T060_filtered_top4_sep_v0_subfigures/``."""
    sub = PMC_OA_IMAGE_SUBDIR
    return [root / "images" / sub, root / sub, root / "images"]


def import_pmc_oa(
    root: Path, out: Path, *, variant: str = "pmc_oa", images: Path | None = None, allow_partial: bool = False,
    copy: bool = False, strict: bool = False, prompt: str = DEFAULT_PROMPT,
) -> ImportResult:
    """PMC-OA (``variant`` pmc_oa or pmc_oa_beta) -> ``out/train.jsonl``."""
    if variant not in PMC_OA_COUNTS:
        raise CaptionImportError(f"unknown PMC-OA variant {variant!r}; expected one of {', '.join(PMC_OA_COUNTS)}")
    path = root / f"{variant}.jsonl"
    if not path.is_file():
        raise CaptionImportError(f"{path}: not found (PMC-OA layout: pmc_oa.jsonl / pmc_oa_beta.jsonl + images/)")
    image_dir = images if images is not None else next((d for d in pmc_oa_image_dirs(root) if d.is_dir()), None)
    if image_dir is None or not image_dir.is_dir():
        tried = ", ".join(str(d) for d in ([images] if images else pmc_oa_image_dirs(root)))
        raise CaptionImportError(f"PMC-OA image folder not found (unzip images.zip into {root}, or pass --images); "
                                 f"looked for: {tried}")
    out_file = out / "train.jsonl"
    res = write_pairs(iter_caption_jsonl(path), image_dir, out_file, source=variant, split="train", prompt=prompt,
                      copy=copy, strict=strict, missing_is_error=False, published=True)
    _check(f"PMC-OA {variant}", res, PMC_OA_COUNTS[variant], allow_partial, out_file)
    return res


def _check(what: str, res: ImportResult, expected: Any, allow_partial: bool, out_file: Path) -> None:
    present = res.n_rows - res.n_missing_images
    try:
        warning = check_count(what, present, expected, allow_partial=allow_partial,
                              missing_images=res.n_missing_images)
    except CaptionImportError:
        out_file.unlink(missing_ok=True)  # a partial import is not left looking like a complete one
        raise
    if warning:
        res.warnings.append(warning)
    elif expected is None and res.n_missing_images:
        res.warnings.append(f"{what}: {res.n_missing_images:,} rows whose image is missing (no published count)")
    write_json(out_file.with_suffix(".import.json"), {"dataset": what, **res.summary()})
