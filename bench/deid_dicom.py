"""Benchmark: DICOM de-identification on every file pydicom-data ships (prints figures; not a test).

    .venv/bin/python bench/deid_dicom.py

Each readable DICOM instance gets a known identifier in every text-valued attribute it carries, plus
OperatorsName, InstitutionName, a text in a new sequence item, a private tag and an unknown public tag
(``infimed.privacy.dicom_audit``); it is de-identified and written, and the written bytes are searched for
every identifier (ASCII/UTF-8/UTF-16). A second pass plants every attribute of PS3.15 Table E.1-1 into
one CT. Prints files covered (and why others were skipped), identifiers planted and surviving (goal 0),
attributes kept vs removed, pixel data unchanged, and seconds per file (the scrubber is built beforehand).
"""

from __future__ import annotations

import argparse
import io
import time
import warnings
from collections import Counter
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "tests" / "privacy" / "data" / "ps3_15_table_e1_1.tsv"


def table_tags(path: Path) -> list[int]:
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line[:1] not in "#t"]
    return [int(tag, 16) for tag, *_ in rows if len(tag) == 8 and "X" not in tag]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, default=TABLE, help="PS3.15 Table E.1-1 as TSV")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # pydicom warns about the deliberately broken test files
    import pydicom
    from pydicom.data import get_testdata_file, get_testdata_files

    from infimed.privacy.dicom import DeidReport, DicomDeidError, default_scrubber, deidentify_dataset
    from infimed.privacy.dicom_audit import plant_attributes, plant_identifiers, surviving

    t0 = time.perf_counter()
    default_scrubber()
    print(f"text scrubber built in {time.perf_counter() - t0:.1f} s")
    skipped: Counter[str] = Counter()
    total, kept_names = DeidReport(), Counter[str]()
    planted = survived = covered = pixels_same = with_pixels = 0
    seconds = 0.0
    for path in sorted(get_testdata_files()):
        try:
            ds = pydicom.dcmread(path)
            pixels = ds["PixelData"].value if "PixelData" in ds else None
        except Exception:
            skipped["pydicom cannot read it"] += 1
            continue
        if "SOPClassUID" not in ds:
            skipped["no SOPClassUID (DICOMDIR or fragment)"] += 1
            continue
        marks = plant_identifiers(ds)
        start = time.perf_counter()
        try:
            report = deidentify_dataset(ds, allow_burned_in=True)
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
        except (DicomDeidError, ValueError, TypeError) as exc:
            skipped[f"refused: {type(exc).__name__}"] += 1
            continue
        seconds += time.perf_counter() - start
        raw = buf.getvalue()
        covered += 1
        planted += len(marks.tokens)
        left = surviving(raw, marks)
        survived += len(left)
        if left:
            print(f"  SURVIVED in {Path(path).name}: {left[:5]}")
        for name in ("kept", "removed", "emptied", "uid_remapped", "text_scrubbed", "private_removed"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        total.removed_names.update(report.removed_names)
        kept_names.update(e.keyword for e in ds)
        if pixels is not None:
            with_pixels += 1
            pixels_same += pydicom.dcmread(io.BytesIO(raw))["PixelData"].value == pixels

    print(f"files covered: {covered} of {covered + sum(skipped.values())} pydicom-data files "
          f"({with_pixels} with pixel data); skipped: {dict(skipped)}")
    print(f"identifiers planted: {planted}; surviving in the written bytes: {survived}")
    print(f"pixel data byte-identical: {pixels_same} / {with_pixels}")
    print(f"attributes kept: {total.kept} (of which emptied {total.emptied}, UIDs remapped {total.uid_remapped}, "
          f"text values scrubbed {total.text_scrubbed}); removed: public {total.removed}, private "
          f"{total.private_removed}")
    print(f"most removed: {dict(total.removed_names.most_common(8))}")
    print(f"seconds per file (de-identify + write): {seconds / max(covered, 1):.4f}")

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    tags = table_tags(args.table)
    marks = plant_attributes(ds, [t for t in tags if t not in ds and t >> 16 not in (0x0000, 0x0002)])
    deidentify_dataset(ds)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    print(f"PS3.15 Table E.1-1: {len(tags)} fixed tags, {marks.elements} planted into CT_small.dcm, "
          f"{len(surviving(buf.getvalue(), marks))} surviving")


if __name__ == "__main__":
    main()
