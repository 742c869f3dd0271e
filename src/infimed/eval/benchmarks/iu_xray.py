"""IU X-ray (Demner-Fushman et al. 2016) for report generation, in its two published layouts.

``iu_xray_openi``: the Open-i release: ``ecgen-radiology/*.xml`` (from ``NLMCXR_reports.tgz``), one XML per
report with ``<AbstractText Label="FINDINGS">`` and ``<AbstractText Label="IMPRESSION">`` and a
``<parentImage id="CXR1_1_IM-0001-3001">`` per image, beside ``NLMCXR_png/<id>.png``. The reference is
findings + impression. Open-i publishes 3,955 reports; a report with neither section is skipped with a
warning, so the count check names how many are missing (pass ``strict=False`` to accept them).

``iu_xray``: the R2Gen split used by most report-generation papers: ``annotation.json`` =
``{"train"|"val"|"test": [{"id", "report", "image_path": [..], "split"}]}`` beside ``images/`` (2,069 /
296 / 590 studies). Its ``report`` is the findings section, kept as the findings.
"""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import (
    BenchmarkError,
    BenchmarkSpec,
    Row,
    first_existing,
    local_image,
    read_json,
    register,
    require_dir,
)
from infimed.eval.benchmarks.reports import clean, report_sample
from infimed.schema import Sample


def load_openi(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    reports = require_dir(first_existing([root / "ecgen-radiology", root / "reports"], what="Open-i ecgen-radiology/"),
                          what="Open-i reports")
    images = first_existing([root / "NLMCXR_png", root / "images"], what="Open-i NLMCXR_png/")
    skipped = 0
    for i, path in enumerate(sorted(reports.glob("*.xml")), start=1):
        row = Row(str(path), i, {})
        try:
            tree = ET.parse(path)
        except ET.ParseError as exc:
            raise BenchmarkError(f"{path}: invalid XML ({exc}); truncated download?") from exc
        sections = {(el.get("Label") or "").upper(): clean("".join(el.itertext())) for el in tree.iter("AbstractText")}
        findings, impression = sections.get("FINDINGS", ""), sections.get("IMPRESSION", "")
        if not findings and not impression:
            skipped += 1
            continue
        ids = [el.get("id") or "" for el in tree.iter("parentImage")]
        uid = next((el.get("id") for el in tree.iter("uId")), None) or path.stem
        yield report_sample(
            row, id=f"iu_xray_openi-{path.stem}", images=[local_image(images, f"{x}.png", row=row, field_name="parentImage")
                                                      for x in ids],
            findings=findings, impression=impression, source="iu_xray_openi", split=split,
            meta={"uid": uid, "file": path.name, "image_ids": ids},
        )
    if skipped:
        warnings.warn(f"{reports}: {skipped} report(s) with neither findings nor impression were skipped", stacklevel=2)


def load_r2gen(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    path = first_existing([root / "annotation.json", root / "iu_xray" / "annotation.json"], what="IU X-ray annotation.json")
    data = read_json(path)
    if not isinstance(data, dict) or split not in data or not isinstance(data[split], list):
        raise BenchmarkError(f"{path}: expected {{\"train\", \"val\", \"test\": [...]}} with a {split!r} list")
    images = path.parent / "images"
    for i, item in enumerate(data[split], start=1):
        if not isinstance(item, dict):
            raise BenchmarkError(f"{path}: {split} row {i}: expected an object, got {type(item).__name__}")
        row = Row(f"{path} [{split}]", i, item)
        paths = item.get("image_path")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise row.error("image_path", "expected a non-empty list of image paths")
        sid = row.text("id")
        yield report_sample(
            row, id=f"iu_xray-{split}-{sid}", images=[local_image(images, p, row=row, field_name="image_path") for p in paths],
            findings=clean(row.text("report")), impression="", source="iu_xray", split=split, meta={"study": sid},
        )


OPENI = register(BenchmarkSpec(
    name="iu_xray_openi", loader=load_openi, counts={"test": 3955}, default_split="test",
    layout="Open-i: ecgen-radiology/*.xml (NLMCXR_reports.tgz) and NLMCXR_png/ (NLMCXR_png.tgz)",
    aliases={"all": "test"},
))
R2GEN = register(BenchmarkSpec(
    name="iu_xray", loader=load_r2gen, counts={"train": 2069, "val": 296, "test": 590}, default_split="test",
    layout="R2Gen IU X-ray: annotation.json ({train,val,test}) and images/<study>/<n>.png",
    aliases={"validation": "val"},
))
