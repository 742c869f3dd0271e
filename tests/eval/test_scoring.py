from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infimed.eval.scoring import score_run
from infimed.schema import Sample

OPTS = {"A": "Pneumonia", "B": "Pneumothorax", "C": "Normal"}


def _samples() -> list[Sample]:
    return [
        Sample(id="c1", question="Dx?", options=OPTS, answer="B", answer_type="choice", modality="xray",
               task="disease_diagnosis", source="slake"),
        Sample(id="c2", question="Dx?", options=OPTS, answer="A", answer_type="choice", modality="xray",
               task="disease_diagnosis", source="slake"),
        Sample(id="y1", question="Nodule?", answer="yes", answer_type="yes_no", modality="ct",
               task="abnormality_detection", source="slake"),
        Sample(id="y2", question="结节?", answer="no", answer_type="yes_no", modality="ct",
               task="abnormality_detection", language="zh", source="slake"),
        Sample(id="o1", question="Where?", answer="left lung", answer_type="open", modality="ct",
               task="lesion_localization", source="slake"),
        Sample(id="o2", question="Where?", answer="liver", answer_type="open", source="vqa_rad"),
        Sample(id="e1", question="Dx?", options=OPTS, answer="C", answer_type="choice", modality="xray",
               task="disease_diagnosis"),
        Sample(id="m1", question="Nodule?", answer="yes", answer_type="yes_no", modality="ct",
               task="abnormality_detection"),
    ]


PREDICTIONS: dict[str, dict[str, Any]] = {
    "c1": {"id": "c1", "response": "The answer is: B"},
    "c2": {"id": "c2", "response": ""},  # unparsed, wrong (not option A)
    "y1": {"id": "y1", "response": "Yes, a nodule is present."},
    "y2": {"id": "y2", "response": "否，未见结节。"},
    "o1": {"id": "o1", "response": "The left lower lung."},
    "o2": {"id": "o2", "response": "Liver."},
    "e1": {"id": "e1", "response": None, "error": "image: cannot decode x.png"},
    "zz": {"id": "zz", "response": "A"},  # no such sample
}


@pytest.fixture
def scored(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    return score_run(_samples(), PREDICTIONS, tmp_path / "run", manifest={"model": "tiny"}, n_boot=200), tmp_path / "run"


def test_files_are_written(scored: tuple[dict[str, Any], Path]) -> None:
    results, out = scored
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "report.md", "results.json", "samples.jsonl"]
    assert json.loads((out / "results.json").read_text()) == results
    assert json.loads((out / "manifest.json").read_text()) == {"model": "tiny"}


def test_sample_rows(scored: tuple[dict[str, Any], Path]) -> None:
    _, out = scored
    rows = {r["id"]: r for r in map(json.loads, (out / "samples.jsonl").read_text().splitlines())}
    assert list(rows) == ["c1", "c2", "y1", "y2", "o1", "o2", "e1", "m1"]
    c1 = rows["c1"]
    assert {k: c1[k] for k in ("extracted", "correct", "rule", "answer", "modality", "task", "error")} == {
        "extracted": "B", "correct": True, "rule": "marker", "answer": "B", "modality": "xray",
        "task": "disease_diagnosis", "error": None,
    }
    assert "f1" not in c1
    assert (rows["c2"]["extracted"], rows["c2"]["correct"], rows["c2"]["rule"]) == (None, False, "empty")
    assert rows["o1"]["extracted"] == "left lower lung" and rows["o1"]["correct"] is False
    assert (rows["o1"]["precision"], rows["o1"]["recall"]) == (pytest.approx(2 / 3), 1.0)
    assert rows["o2"]["correct"] is True and rows["o2"]["f1"] == 1.0
    assert rows["e1"]["error"] == "image: cannot decode x.png" and rows["e1"]["correct"] is None  # an error, not a wrong answer
    assert rows["m1"]["error"] == "missing prediction"
    assert rows["y2"]["language"] == "zh"


def test_overall_counts_each_sample_once(scored: tuple[dict[str, Any], Path]) -> None:
    results, _ = scored
    overall = results["overall"]
    assert (overall["n"], overall["n_correct"], overall["n_errors"]) == (6, 4, 2)
    assert overall["accuracy"] == pytest.approx(4 / 6)
    assert overall["unparsed_rate"] == pytest.approx(1 / 6)
    lo, hi = overall["ci95"]
    assert lo <= overall["accuracy"] <= hi
    assert overall["open_f1"] == pytest.approx((0.8 + 1.0) / 2)
    for breakdown, groups in results["by"].items():
        assert sum(g["n"] for g in groups.values()) == overall["n"], breakdown
        assert sum(g["n_errors"] for g in groups.values()) == overall["n_errors"], breakdown
    assert results["n_extra_predictions"] == 1
    assert results["n_samples"] == 8
    assert (results["n_boot"], results["seed"]) == (200, 0)


def test_breakdowns(scored: tuple[dict[str, Any], Path]) -> None:
    by = scored[0]["by"]
    assert set(by) == {"answer_type", "modality", "task", "language", "modality_x_task"}
    assert by["answer_type"]["open"]["accuracy"] == 0.5  # exact match counted once, not divided twice
    assert by["answer_type"]["choice"] == {**by["answer_type"]["choice"], "n": 2, "n_errors": 1, "accuracy": 0.5}
    assert by["language"]["zh"]["n"] == 1 and by["language"]["en"]["n"] == 5
    assert by["modality_x_task"]["ct/lesion_localization"]["accuracy"] == 0.0
    assert by["modality"]["unknown"]["n"] == 1 and by["modality_x_task"]["unknown/unknown"]["n"] == 1
    assert by["modality_x_task"]["ct/abnormality_detection"] == {
        **by["modality_x_task"]["ct/abnormality_detection"], "n": 2, "n_correct": 2, "n_errors": 1,
    }
    assert "open_f1" not in by["answer_type"]["yes_no"]


def test_report(scored: tuple[dict[str, Any], Path]) -> None:
    report = (scored[1] / "report.md").read_text()
    assert "# Evaluation report" in report and "model: `tiny`" in report
    assert "## Modality x task" in report and "| modality \\ task |" in report
    assert "| ct/lesion_localization | 1 | 0.0 [0.0, 0.0] |" in report
    assert "## Language" in report and "| zh | 1 |" in report


def test_bad_input(tmp_path: Path) -> None:
    twice = [_samples()[0], _samples()[0]]
    with pytest.raises(ValueError, match="duplicate id 'c1'"):
        score_run(twice, PREDICTIONS, tmp_path / "x")
    results = score_run(_samples()[:1], {"c1": {"id": "c1", "response": 3}}, tmp_path / "y", n_boot=10)
    assert results["overall"]["n_errors"] == 1
    row = json.loads((tmp_path / "y" / "samples.jsonl").read_text())
    assert row["error"] == "response must be a string, got int"
    results = score_run(_samples()[:1], {"c1": {"id": "c1", "response": "B", "error": ""}}, tmp_path / "z", n_boot=10)
    assert (results["overall"]["n"], results["overall"]["n_correct"]) == (1, 1)  # "" is no error


def test_rescoring_is_deterministic(tmp_path: Path) -> None:
    a = score_run(_samples(), PREDICTIONS, tmp_path / "a", n_boot=300, seed=7)
    b = score_run(iter(_samples()), PREDICTIONS, tmp_path / "b", n_boot=300, seed=7)
    assert a == b
    assert (tmp_path / "a" / "samples.jsonl").read_bytes() == (tmp_path / "b" / "samples.jsonl").read_bytes()
