"""DICOM files and series as samples: a windowed 8-bit PNG plus a modality-recognition question.

Only non-identifying DICOM fields reach the sample (Modality, BodyPartExamined, Rows, Columns); sample ids
are hashes of the SOP/Series instance UIDs, and file paths (which often carry patient names) are not
recorded. Pixels may still carry burned-in text: a file whose BurnedInAnnotation is YES, or unstated in a
modality that usually has it (``infimed.privacy.dicom.burned_in_risk``), is refused unless
``allow_burned_in``. Pixel handling (rescale slope/intercept, VOI window or percentile window, MONOCHROME1 inversion,
middle frame of multi-frame files) is ``infimed.io.images.dicom_to_array``.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from infimed.io.images import ImageLoadError, dicom_to_array, is_dicom
from infimed.schema import Sample

MODALITY_QUESTION = "What imaging modality was used to acquire this image?"
# DICOM Modality tag -> sample modality.
DICOM_MODALITIES = {
    "CT": "ct", "MR": "mri", "CR": "xray", "DX": "xray", "DR": "xray", "RG": "xray", "MG": "xray",
    "US": "ultrasound", "XC": "fundus", "OP": "fundus", "SM": "pathology", "OPT": "oct",
}
MODALITY_NAMES = {
    "ct": "CT", "mri": "MRI", "xray": "X-ray", "ultrasound": "Ultrasound", "fundus": "Fundus photography",
    "pathology": "Pathology", "oct": "OCT",
}
COMMON_MODALITIES = ("ct", "mri", "xray", "ultrasound")
META_FIELDS = ("Modality", "BodyPartExamined", "Rows", "Columns")


class DicomError(ValueError):
    """A DICOM file that cannot become a sample, with the path and reason in the message."""


@dataclass
class DicomSeries:
    """Files of one SeriesInstanceUID, sorted by InstanceNumber (then slice position, then file name)."""

    uid: str
    files: list[Path] = field(default_factory=list)

    @property
    def id(self) -> str:
        return "dcm-" + hashlib.sha256(self.uid.encode()).hexdigest()[:12]


def sample_modality(dicom_modality: str | None) -> str:
    return DICOM_MODALITIES.get((dicom_modality or "").strip().upper(), "other")


def modality_options(modality: str, rng: random.Random) -> tuple[dict[str, str], str]:
    """Four shuffled modality names including the true one; returns (options, answer letter)."""
    if modality not in MODALITY_NAMES:
        raise ValueError(f"modality: no modality question for {modality!r}")
    pool = [m for m in COMMON_MODALITIES if m != modality]
    if len(pool) > 3:
        pool = rng.sample(pool, 3)
    if len(pool) < 3:
        pool += rng.sample([m for m in MODALITY_NAMES if m != modality and m not in pool], 3 - len(pool))
    choices = [modality, *pool]
    rng.shuffle(choices)
    options = {letter: MODALITY_NAMES[m] for letter, m in zip("ABCD", choices, strict=True)}
    return options, "ABCD"[choices.index(modality)]


def _read(path: Path, *, pixels: bool) -> Any:
    import pydicom

    try:
        return pydicom.dcmread(str(path), stop_before_pixels=not pixels)
    except Exception as exc:
        raise DicomError(f"{path}: cannot read DICOM ({type(exc).__name__}: {exc})") from exc


def _save_png(array: Any, path: Path) -> None:
    """Write a PNG atomically (temp file in the same folder, then rename)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(array).save(fh, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _meta(ds: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in META_FIELDS:
        value = ds.get(name)
        if value is not None and value != "":
            out[name] = int(value) if name in ("Rows", "Columns") else str(value)
    return out


def dicom_to_sample(
    path: str | Path,
    out_dir: str | Path,
    *,
    question: str | None = None,
    answer: str | None = None,
    options: dict[str, str] | None = None,
    sample_id: str | None = None,
    source: str = "dicom",
    split: str = "test",
    seed: int = 0,
    extra_meta: dict[str, Any] | None = None,
    allow_burned_in: bool = False,
) -> Sample:
    """Write ``out_dir/images/<id>.png`` and return a sample whose image path is relative to ``out_dir``.

    Without ``question`` the sample asks for the imaging modality (4 options, true one from the Modality
    tag; options shuffled deterministically by ``seed`` and id). With ``question`` an ``answer`` is required;
    the type is choice when ``options`` are given, yes_no for a yes/no answer, else open.
    """
    from infimed.privacy.dicom import burned_in_risk

    path, out_dir = Path(path), Path(out_dir)
    ds = _read(path, pixels=True)
    risk = burned_in_risk(ds)
    if risk and not allow_burned_in:
        raise DicomError(f"{path}: {risk}; pass allow_burned_in (--allow-burned-in) to import it anyway")
    sop_uid = str(ds.get("SOPInstanceUID") or "")
    sid = sample_id or "dcm-" + hashlib.sha256((sop_uid or str(path.resolve())).encode()).hexdigest()[:16]
    modality = sample_modality(ds.get("Modality"))
    fields: dict[str, Any]
    if question is None:
        if modality not in MODALITY_NAMES:
            raise DicomError(
                f"{path}: field 'Modality': {ds.get('Modality')!r} has no modality question; pass question and answer"
            )
        opts, letter = modality_options(modality, random.Random(f"{seed}:{sid}"))
        fields = {"question": MODALITY_QUESTION, "options": opts, "answer": letter, "answer_type": "choice",
                  "task": "modality_recognition"}
    else:
        if answer is None:
            raise DicomError(f"{path}: a custom question needs an answer")
        kind = "choice" if options else "yes_no" if answer in ("yes", "no") else "open"
        fields = {"question": question, "options": options, "answer": answer, "answer_type": kind}
    try:
        array = dicom_to_array(ds)
    except Exception as exc:
        raise ImageLoadError(f"{path}: cannot read DICOM pixel data ({type(exc).__name__}: {exc})") from exc
    rel = Path("images") / f"{sid}.png"
    _save_png(array, out_dir / rel)
    meta = {"dicom": _meta(ds), **(extra_meta or {})}
    record = {"id": sid, "images": [rel.as_posix()], "modality": modality, "source": source, "split": split,
              "meta": meta, **fields}
    return Sample.model_validate(record).with_base_dir(out_dir)


def _sort_key(ds: Any, path: Path) -> tuple[float, float, str]:
    number = ds.get("InstanceNumber")
    position = ds.get("ImagePositionPatient")
    try:
        z = float(position[2]) if position is not None else 0.0
    except (TypeError, ValueError, IndexError):
        z = 0.0
    return (float(number) if number not in (None, "") else float("inf"), z, path.name)


def iter_dicom_series(folder: str | Path) -> Iterator[DicomSeries]:
    """Group the DICOM files under ``folder`` (recursive) by SeriesInstanceUID; non-DICOM files are skipped.

    Series come out in order of their UID; files inside a series by InstanceNumber.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DicomError(f"{folder}: not a folder")
    groups: dict[str, list[tuple[tuple[float, float, str], Path]]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if not is_dicom(path):
            continue
        try:
            ds = _read(path, pixels=False)
        except DicomError:
            continue
        if "PixelData" not in ds and "SOPInstanceUID" not in ds:
            continue
        uid = str(ds.get("SeriesInstanceUID") or f"unknown:{path.parent}")
        groups.setdefault(uid, []).append((_sort_key(ds, path), path))
    for uid in sorted(groups):
        yield DicomSeries(uid, [p for _, p in sorted(groups[uid])])


def series_to_samples(
    series: DicomSeries,
    out_dir: str | Path,
    *,
    slices: Literal["middle", "all"] = "middle",
    **options: Any,
) -> list[Sample]:
    """One sample for the middle slice of a series (or one per slice), ids ``<series id>-s<index>``.

    ``options`` go to ``dicom_to_sample`` (question, answer, source, split, seed).
    """
    if not series.files:
        return []
    indices = [len(series.files) // 2] if slices == "middle" else list(range(len(series.files)))
    return [
        dicom_to_sample(
            series.files[i], out_dir, sample_id=f"{series.id}-s{i}",
            extra_meta={"slice_index": i, "n_slices": len(series.files)}, **options,
        )
        for i in indices
    ]


def import_dicom_folder(
    folder: str | Path,
    out_dir: str | Path,
    *,
    slices: Literal["middle", "all"] = "middle",
    **options: Any,
) -> dict[str, Any]:
    """Write ``out_dir/samples.jsonl`` (+ ``images/``) from every DICOM series under ``folder``.

    A series that cannot be converted (unmapped modality without a question, unreadable pixels) is skipped
    and reported in ``errors`` as ``{"series": <series id>, "error": <message>}``; the rest still import.
    """
    from infimed.io.jsonl import write_jsonl
    from infimed.progress import track

    out_dir = Path(out_dir)
    series = list(iter_dicom_series(folder))
    samples: list[Sample] = []
    errors: list[dict[str, str]] = []
    for one in track(series, "DICOM series"):
        try:
            samples.extend(series_to_samples(one, out_dir, slices=slices, **options))
        except (DicomError, ImageLoadError) as exc:
            errors.append({"series": one.id, "error": str(exc)})
    write_jsonl(out_dir / "samples.jsonl", samples)
    modalities: dict[str, int] = {}
    for sample in samples:
        key = sample.modality or "other"
        modalities[key] = modalities.get(key, 0) + 1
    return {"n_series": len(series), "n_samples": len(samples), "modalities": modalities, "errors": errors,
            "path": str(out_dir / "samples.jsonl")}
