"""Quickstart reruns: a stage is reused only when its inputs and settings are unchanged, and says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infimed.quickstart.run import quickstart
from infimed.quickstart.stages import STAGE_MARKER, reuse_stage, stage_fingerprint

# parallel=1: the runs train in this process, so capsys sees their log
TINY = {"n": 60, "held_out": 6, "seeds": 1, "batch_size": 4, "workers": 1, "align_steps": 1, "align_n": 12,
        "parallel": 1}


def test_stage_marker_reuse_resume_and_rerun(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    folder, fp = tmp_path / "stage", stage_fingerprint("x", 1)
    assert not reuse_stage(folder, fp, "stage x")  # nothing there: run it
    (folder / "partial.bin").write_text("half")
    assert not reuse_stage(folder, fp, "stage x")  # interrupted with the same settings: resume, keep files
    assert (folder / "partial.bin").exists() and "resuming stage x" in capsys.readouterr().err
    (folder / STAGE_MARKER).write_text(json.dumps({"fingerprint": fp, "finished": True}))
    assert reuse_stage(folder, fp, "stage x")
    assert "reused stage x (inputs and settings unchanged)" in capsys.readouterr().err
    assert not reuse_stage(folder, stage_fingerprint("x", 2), "stage x")  # another setting: cleared, rerun
    assert not (folder / "partial.bin").exists()
    assert "rerunning stage x (inputs or settings changed)" in capsys.readouterr().err


def test_training_mode_is_reasoning_only_when_every_pool_sample_has_a_rationale(tmp_path: Path) -> None:
    from infimed.io.jsonl import write_jsonl
    from infimed.quickstart.run import training_mode
    from infimed.schema import Sample

    with_reason = [Sample(id=f"s{i}", question="Which modality?", answer="CT", answer_type="open", rationale="CT")
                   for i in range(3)]
    write_jsonl(tmp_path / "all.jsonl", with_reason)
    write_jsonl(tmp_path / "some.jsonl", [*with_reason, with_reason[0].model_copy(update={"id": "x", "rationale": " "})])
    assert training_mode(tmp_path / "all.jsonl") == "reasoning"
    assert training_mode(tmp_path / "some.jsonl") == "direct"


@pytest.mark.slow
def test_changing_steps_reruns_training_and_evaluation(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # the log is Rich text: one line per message, whatever the terminal
    out = tmp_path / "demo"
    first = quickstart(out, steps=1, **TINY)
    capsys.readouterr()
    results = out / "evals" / "curated-seed0" / "results.json"
    made = results.stat().st_mtime_ns

    again = quickstart(out, steps=1, **TINY)
    log = capsys.readouterr().err
    for stage in ("the phantom data", "the tiny base model", "the phantom captions", "the alignment stage",
                  "the alignment check",
                  "training curated-seed0", "training full-seed0", "evaluation random-seed0", "evaluation full-seed0"):
        assert f"reused {stage} (inputs and settings unchanged)" in log, stage
    assert "curation reused" in log and "rerunning" not in log
    assert results.stat().st_mtime_ns == made and again["arms"] == first["arms"]
    names = [row["stage"] for row in first["stages"]]
    assert names[:8] == ["data", "curate", "captions", "model", "align", "align-check", "train+eval",
                         "train curated-seed0"]
    assert "eval full-seed0" in names and not any(row["reused"] for row in first["stages"])
    assert all(row["reused"] for row in again["stages"])
    assert all(row.get("within") == "train+eval" for row in again["stages"][7:])
    assert set(again["stage_seconds"]) == {"data", "curate", "captions", "model", "align", "align-check",
                                           "train+eval"}
    assert first["alignment"]["check"]["n"] >= 1 and again["alignment"]["check"] == first["alignment"]["check"]
    report = (out / "report.md").read_text()
    assert "## Where the time went" in report
    assert "| - train curated-seed0 | reused, within train+eval |" in report

    changed = quickstart(out, steps=2, **TINY)
    log = capsys.readouterr().err
    assert "reused the phantom data" in log and "reused the tiny base model" in log
    for arm in ("curated", "random", "full"):
        assert f"rerunning training {arm}-seed0 (inputs or settings changed)" in log
        assert f"rerunning evaluation {arm}-seed0 (inputs or settings changed)" in log
        assert "max_steps: 2" in (out / "runs" / f"{arm}-seed0" / "config.yaml").read_text()
    assert results.stat().st_mtime_ns != made
    assert {r["max_steps"] for r in changed["recipe"].values()} == {2}
    assert json.loads((out / "summary.json").read_text())["recipe"]["curated"]["max_steps"] == 2
