"""MIMIC-CXR (Johnson et al. 2019) for report generation, from a local copy of the credentialed release.

Layout (PhysioNet): the JPGs of MIMIC-CXR-JPG, ``files/p10/p10000032/s50414267/<dicom_id>.jpg``, the
official split ``mimic-cxr-2.0.0-split.csv(.gz)`` (``dicom_id, study_id, subject_id, split`` with split
``train|validate|test``), and the free-text reports of MIMIC-CXR, ``files/p10/p10000032/s50414267.txt``
(from ``mimic-cxr-reports.zip``), beside the study folders or under ``mimic-cxr-reports/``. One sample per
study of the split: its images and its report's FINDINGS and IMPRESSION sections (upper-case headers
ending in a colon). The published split counts are checked in studies (222,758 / 1,808 / 3,269); a study
whose report file is missing is an error that names it (a partial download), never a silent skip.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import BenchmarkError, BenchmarkSpec, Row, first_existing, register
from infimed.eval.benchmarks.reports import clean, report_sample
from infimed.schema import Sample

_HEADER = re.compile(r"^[ \t]*([A-Z][A-Z /&()-]{2,40}):", re.M)


def sections(text: str) -> dict[str, str]:
    """Upper-case ``HEADER:`` sections of a report, each as one paragraph (headers normalised)."""
    heads = list(_HEADER.finditer(text))
    out: dict[str, str] = {}
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        out[" ".join(m.group(1).split())] = clean(text[m.end():end])
    return out


def _split_rows(root: Path) -> tuple[Path, list[dict[str, str]]]:
    path = first_existing([root / "mimic-cxr-2.0.0-split.csv.gz", root / "mimic-cxr-2.0.0-split.csv"],
                          what="MIMIC-CXR split file mimic-cxr-2.0.0-split.csv(.gz)")
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8")))
    missing = [c for c in ("dicom_id", "study_id", "subject_id", "split") if c not in (reader.fieldnames or [])]
    if missing:
        raise BenchmarkError(f"{path}: missing columns {missing}; found {reader.fieldnames}")
    return path, list(reader)


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    split_file, rows = _split_rows(root)
    files = first_existing([root / "files"], what="MIMIC-CXR-JPG files/")
    reports = next((p for p in (root / "mimic-cxr-reports" / "files", files) if p.is_dir()), files)
    studies: dict[tuple[str, str], list[str]] = {}
    for line in rows:
        if line["split"] == split:
            studies.setdefault((line["subject_id"], line["study_id"]), []).append(line["dicom_id"])
    for i, ((subject, study), dicoms) in enumerate(studies.items(), start=1):
        group = f"p{subject[:2]}"
        folder = files / group / f"p{subject}" / f"s{study}"
        report_path = reports / group / f"p{subject}" / f"s{study}.txt"
        row = Row(str(split_file), i, {"subject_id": subject, "study_id": study})
        if not report_path.exists():
            raise BenchmarkError(f"{report_path}: report of study s{study} (subject p{subject}) not found; "
                                 "unzip mimic-cxr-reports.zip beside files/ or into mimic-cxr-reports/")
        parts = sections(report_path.read_text(encoding="utf-8", errors="replace"))
        yield report_sample(
            row, id=f"mimic_cxr-{split}-s{study}", images=[str((folder / f"{d}.jpg").resolve()) for d in dicoms],
            findings=parts.get("FINDINGS", ""), impression=parts.get("IMPRESSION", ""), source="mimic_cxr",
            split=split, meta={"subject_id": subject, "study_id": study, "dicom_ids": dicoms},
        )


SPEC = register(BenchmarkSpec(
    name="mimic_cxr", loader=load, counts={"train": 222758, "validate": 1808, "test": 3269}, default_split="test",
    layout="MIMIC-CXR-JPG files/ + mimic-cxr-2.0.0-split.csv.gz, reports files/p*/p*/s*.txt (mimic-cxr-reports.zip)",
    aliases={"val": "validate", "validation": "validate"},
))
