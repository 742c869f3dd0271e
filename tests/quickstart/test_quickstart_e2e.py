"""``infimed quickstart`` end to end at a tiny scale: data, curation, three trained arms, evaluation, report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_report import ARTIFACTS, check_report_in_browser
from typer.testing import CliRunner

from infimed.cli import app


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["quickstart", "--out", str(out), "--n", "150", "--held-out", "40",
                                      "--steps", "3", "--batch-size", "8", "--workers", "1",
                                      "--parallel", "2"])
    assert result.exit_code == 0, result.output
    assert "Curated 20%" in result.output and "report.html" in result.output

    summary = json.loads((out / "summary.json").read_text())
    arms = summary["arms"]
    assert set(arms) == {"curated", "random", "full"}
    assert arms["curated"]["n_train"] == arms["random"]["n_train"] < arms["full"]["n_train"]
    for arm in arms.values():
        assert 0.0 <= arm["accuracy"] <= 1.0 and arm["ci95"][0] <= arm["accuracy"] <= arm["ci95"][1]
        assert arm["n_test"] > 0 and len(arm["per_seed"]) == 2  # the default: two training seeds
    assert set(summary["differences"]) == {"curated-random", "curated-full"}
    assert set(summary["goal"]) == {"curated_over_full", "reaches_95pct_of_full", "beats_random_beyond_ci"}
    assert {r["max_steps"] for r in summary["recipe"].values()} == {3}  # the same step budget for every arm
    assert "3 steps" in summary["description"]
    # phantom samples carry their finding as a rationale: every arm trains and is read in reasoning mode
    assert {r["mode"] for r in summary["recipe"].values()} == {"reasoning"}
    assert "<think>rationale</think><answer>answer</answer> targets" in summary["description"]
    assert "chosen on the validation split" in summary["description"] and "read the clean test split" in summary["description"]
    assert [r["stage"] for r in summary["stages"]][:3] == ["data", "curate", "captions"]
    runs = [r for r in summary["stages"] if r["stage"] == "train+eval"]
    assert runs[0]["runs"] == 6 and runs[0]["parallel"] == 2  # 3 arms x 2 seeds, two worker processes
    assert len([r for r in summary["stages"] if r.get("within") == "train+eval"]) == 12
    # the captions were made in a worker process while the data was made and curated
    captions = next(r for r in summary["stages"] if r["stage"] == "captions")
    assert captions["alongside"] == "data, curate" and 0 <= captions["waited"] <= captions["seconds"] + 5
    assert "6 of 6 runs" in result.output
    assert sum(summary["stage_seconds"].values()) <= summary["seconds"] + 1
    for arm in ("curated", "random", "full"):
        assert (out / "evals" / f"{arm}-seed0" / "results.json").exists()
        assert (out / "runs" / f"{arm}-seed0" / "config.json").exists()
    synth = json.loads((out / "data" / "synth.json").read_text())
    assert synth["held_out"] == 40 and arms["curated"]["n_test"] == synth["n_test"] >= 40 + synth["n"] // 4
    md = (out / "report.md").read_text()
    assert "curated" in md and "--max-steps 3" in md and "--mode reasoning" in md and "--held-out 40" in md and "## Where the time went" in md

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    check_report_in_browser(playwright, chromium, out / "report.html", ARTIFACTS / "report-e2e.png")
