"""Benchmark: which DICOM de-identifier removes PS3.15 Table E.1-1, and what it does with everything else.

    .venv/bin/python bench/deid_dicom_libraries.py
    # the libraries are not infimed dependencies: put them in a scratch venv layered on the project's
    python -m venv /tmp/deidvenv
    echo $PWD/.venv/lib/python3.11/site-packages > /tmp/deidvenv/lib/python3.11/site-packages/project.pth
    /tmp/deidvenv/bin/pip install deid dicognito dicom-anonymizer
    PYTHONPATH=src /tmp/deidvenv/bin/python bench/deid_dicom_libraries.py

Two plantings into CT_small.dcm, each de-identified with the library's defaults, written and searched
byte-wise (``infimed.privacy.dicom_audit``): (1) every text-valued or sequence attribute of Table E.1-1;
(2) every public text attribute of the DICOM dictionary that the table does not list (a blocklist keeps
these; an allowlist drops them unless it keeps them on purpose, and then scrubs them). Libraries that are
not installed are skipped.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

TABLE = Path(__file__).resolve().parents[1] / "tests" / "privacy" / "data" / "ps3_15_table_e1_1.tsv"
TEXT_VRS = {"LO", "LT", "SH", "ST", "UT", "UC", "PN"}


def table_tags() -> list[int]:
    rows = [line.split("\t") for line in TABLE.read_text(encoding="utf-8").splitlines() if line[:1] not in "#t"]
    return [int(tag, 16) for tag, *_ in rows if len(tag) == 8 and "X" not in tag]


def infimed(ds: Any) -> None:
    from infimed.privacy.dicom import deidentify_dataset

    deidentify_dataset(ds)


def dicognito(ds: Any) -> None:
    from dicognito.anonymizer import Anonymizer

    Anonymizer(seed="bench").anonymize(ds)


def dicom_anonymizer(ds: Any) -> None:
    from dicomanonymizer import anonymize_dataset
    from dicomanonymizer.simpledicomanonymizer import initialize_actions

    newest = "dicomfields_2026c"
    anonymize_dataset(ds, base_rules_gen=lambda: initialize_actions(newest))


def deid(ds: Any) -> None:
    from deid.config import DeidRecipe
    from deid.dicom import replace_identifiers

    (out,) = replace_identifiers([ds], deid=DeidRecipe(), save=False)
    if out is not ds:
        ds.clear()
        ds.update(out)


def measure(name: str, fn: Callable[[Any], None], tags: list[int]) -> str:
    import pydicom
    from pydicom.data import get_testdata_file

    from infimed.privacy.dicom_audit import plant_attributes, surviving

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    marks = plant_attributes(ds, [t for t in tags if t not in ds and t >> 16 not in (0x0000, 0x0002)])
    start = time.perf_counter()
    fn(ds)
    seconds = time.perf_counter() - start
    buf = io.BytesIO()
    ds.save_as(buf)
    left = len(surviving(buf.getvalue(), marks))
    return f"{left:4d} / {marks.elements} surviving ({left / max(marks.elements, 1):.1%}), {seconds * 1000:.0f} ms"


def main() -> None:
    warnings.filterwarnings("ignore")
    from importlib.util import find_spec

    from pydicom.datadict import DicomDictionary

    from infimed.privacy.dicom import default_scrubber

    default_scrubber()  # built once (~10 s), outside the timings
    in_table = table_tags()
    listed = set(in_table)
    outside = [t for t, entry in DicomDictionary.items()
               if t not in listed and entry[0] in TEXT_VRS and entry[4] and t >> 16 not in (0x0000, 0x0002)]
    modules = {"infimed": "infimed", "dicognito": "dicognito", "dicom_anonymizer": "dicomanonymizer", "deid": "deid"}
    for name, module in modules.items():
        if find_spec(module) is None:
            print(f"{name:18s} not installed")
            continue
        fn = globals()[name]
        try:
            print(f"{name:18s} Table E.1-1: {measure(name, fn, in_table)}")
            print(f"{'':18s} public text attributes outside the table: {measure(name, fn, outside)}")
        except ImportError as exc:
            print(f"{name:18s} cannot be imported here ({exc})")


if __name__ == "__main__":
    main()
