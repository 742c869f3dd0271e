"""IU X-ray (Open-i XML and the R2Gen split) and MIMIC-CXR loaders on small fixtures in their real formats,
and a report-generation run on an IU X-ray folder that gives BLEU/ROUGE-L with intervals."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from infimed.cli import app
from infimed.eval.benchmarks import BenchmarkError, load_benchmark
from infimed.eval.benchmarks.mimic_cxr import sections

OPENI_XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <meta type="rr"/>
  <uId id="CXR{n}"/>
  <MedlineCitation Owner="Indiana University" Status="supplied">
    <Article PubModel="Electronic">
      <Abstract>
        <AbstractText Label="COMPARISON">None.</AbstractText>
        <AbstractText Label="INDICATION">Chest pain.</AbstractText>
        <AbstractText Label="FINDINGS">{findings}</AbstractText>
        <AbstractText Label="IMPRESSION">{impression}</AbstractText>
      </Abstract>
    </Article>
  </MedlineCitation>
  <MeSH><major>normal</major></MeSH>
  {images}
</eCitation>
"""
REPORTS = [
    ("The heart is normal in size. The mediastinum is unremarkable.\n   The lungs are clear.", "Normal chest x-ray."),
    ("Mild cardiomegaly. No focal consolidation, pleural effusion or pneumothorax.", "Cardiomegaly without acute disease."),
    ("", "No acute cardiopulmonary abnormality."),
]


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (16, 16), 128).save(path)


def openi_folder(root: Path, *, empty_one: bool = False) -> Path:
    (root / "ecgen-radiology").mkdir(parents=True)
    for n, (findings, impression) in enumerate(REPORTS, start=1):
        ids = [f"CXR{n}_IM-000{n}-1001", f"CXR{n}_IM-000{n}-2001"]
        for image_id in ids:
            _png(root / "NLMCXR_png" / f"{image_id}.png")
        images = "\n  ".join(f'<parentImage id="{i}"><figureId>F{k}</figureId></parentImage>' for k, i in enumerate(ids))
        (root / "ecgen-radiology" / f"{n}.xml").write_text(
            OPENI_XML.format(n=n, findings=findings, impression=impression, images=images), encoding="utf-8")
    if empty_one:
        (root / "ecgen-radiology" / "9.xml").write_text(OPENI_XML.format(n=9, findings="", impression="", images=""))
    return root


def test_openi_reads_findings_and_impression_and_checks_the_count(tmp_path: Path) -> None:
    root = openi_folder(tmp_path / "openi")
    with pytest.raises(BenchmarkError, match="3955"):
        load_benchmark("iu_xray_openi", root)
    samples = load_benchmark("iu_xray_openi", root, strict=False)
    assert [s.id for s in samples] == ["iu_xray_openi-1", "iu_xray_openi-2", "iu_xray_openi-3"]
    first = samples[0]
    assert first.answer_type == "report" and first.task == "report_generation" and first.modality == "xray"
    assert first.answer == ("Findings: The heart is normal in size. The mediastinum is unremarkable. The lungs are "
                            "clear.\nImpression: Normal chest x-ray.")
    assert samples[2].answer == "Impression: No acute cardiopulmonary abnormality."
    assert all(p.exists() for s in samples for p in s.image_paths()) and len(first.images) == 2
    assert first.meta["uid"] == "CXR1"


def test_openi_skips_a_report_without_text_with_a_warning(tmp_path: Path) -> None:
    root = openi_folder(tmp_path / "openi", empty_one=True)
    with pytest.warns(UserWarning, match="1 report"):
        assert len(load_benchmark("iu_xray_openi", root, strict=False)) == 3


def r2gen_folder(root: Path) -> Path:
    data: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    for n, (findings, _imp) in enumerate(REPORTS[:2], start=1):
        study = f"CXR{n}00_IM-0{n}00"
        for k in (0, 1):
            _png(root / "images" / study / f"{k}.png")
        data["test"].append({"id": study, "report": findings, "image_path": [f"{study}/0.png", f"{study}/1.png"],
                             "split": "test"})
    (root / "annotation.json").write_text(json.dumps(data), encoding="utf-8")
    return root


def test_r2gen_split(tmp_path: Path) -> None:
    root = r2gen_folder(tmp_path / "iu")
    with pytest.raises(BenchmarkError, match="590"):
        load_benchmark("iu_xray", root)
    samples = load_benchmark("iu_xray", root, strict=False)
    assert samples[0].answer.startswith("Findings: The heart is normal in size.") and len(samples[0].images) == 2
    (root / "annotation.json").write_text(json.dumps({"test": [{"id": "x", "report": "a b", "image_path": []}]}))
    with pytest.raises(BenchmarkError, match="image_path"):
        load_benchmark("iu_xray", root, strict=False)


MIMIC_REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with new onset ascites  // eval for infection

 COMPARISON:  None.

 FINDINGS:

 There is no focal consolidation, pleural effusion or pneumothorax.  Bilateral
 nodular opacities that most likely represent nipple shadows.

 IMPRESSION:

 No acute cardiopulmonary process.
"""


def mimic_folder(root: Path, *, drop_report: bool = False) -> Path:
    rows = [("d1", "50414267", "10000032", "test"), ("d2", "50414267", "10000032", "test"),
            ("d3", "53189527", "10000032", "train"), ("d4", "56699142", "10000764", "test")]
    for dicom, study, subject, _split in rows:
        folder = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("L", (16, 16), 90).save(folder / f"{dicom}.jpg")
        report = root / "mimic-cxr-reports" / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}.txt"
        report.parent.mkdir(parents=True, exist_ok=True)
        if not (drop_report and study == "56699142"):
            report.write_text(MIMIC_REPORT, encoding="utf-8")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["dicom_id", "study_id", "subject_id", "split"])
    writer.writerows(rows)
    (root / "mimic-cxr-2.0.0-split.csv.gz").write_bytes(gzip.compress(buf.getvalue().encode()))
    return root


def test_mimic_cxr_one_sample_per_study_with_its_sections(tmp_path: Path) -> None:
    root = mimic_folder(tmp_path / "mimic")
    with pytest.raises(BenchmarkError, match="3269"):
        load_benchmark("mimic_cxr", root)
    samples = load_benchmark("mimic_cxr", root, strict=False)
    assert [s.id for s in samples] == ["mimic_cxr-test-s50414267", "mimic_cxr-test-s56699142"]
    assert len(samples[0].images) == 2 and all(p.exists() for p in samples[0].image_paths())
    assert samples[0].meta["findings"].startswith("There is no focal consolidation") and "nipple shadows." in samples[0].answer
    assert samples[0].meta["impression"] == "No acute cardiopulmonary process."
    assert load_benchmark("mimic_cxr", root, split="train", strict=False)[0].id == "mimic_cxr-train-s53189527"


def test_mimic_cxr_missing_report_is_named(tmp_path: Path) -> None:
    root = mimic_folder(tmp_path / "mimic", drop_report=True)
    with pytest.raises(BenchmarkError, match="s56699142.txt"):
        load_benchmark("mimic_cxr", root, strict=False)


def test_sections() -> None:
    assert sections(MIMIC_REPORT)["COMPARISON"] == "None."
    assert "FINDINGS" in sections(MIMIC_REPORT) and "FINAL REPORT" not in sections(MIMIC_REPORT)


def test_report_run_on_an_iu_xray_folder_gives_bleu_and_rouge_with_cis(tmp_path: Path) -> None:
    root = openi_folder(tmp_path / "openi")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["eval", "run", "--backend", "mock", "--model", "always:The heart is normal "
                                      "in size. The lungs are clear.", "--benchmark", "iu_xray_openi", "--data-root",
                                      str(root), "--limit", "3", "--out", str(out), "--n-boot", "200"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    metrics = results["report_metrics"]["overall"]
    assert metrics["n"] == 3 and 0 < metrics["bleu1"] < 1 and 0 < metrics["rouge_l"] < 1
    for name in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"):
        lo, hi = metrics[f"{name}_ci95"]
        assert lo <= metrics[name] <= hi
    assert results["overall"]["n"] == 0  # reports are not counted as wrong exact-match answers
    assert "xray" in results["report_metrics"]["by"]["modality"]
    assert "BLEU-4" in (out / "report.md").read_text()
