"""The quickstart report: verdict sentences from the numbers, and a real headless-Chromium render."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infimed.quickstart.report import render_html, render_md, verdict
from infimed.quickstart.run import per_task, summarise
from infimed.schema import Sample

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def _summary(curated: float, random_: float, full: float, n: int = 400) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    per_arm = {arm: [rng.permutation((np.arange(n) < round(p * n)).astype(float))] for arm, p in
               (("curated", curated), ("random", random_), ("full", full))}
    s = summarise(per_arm, {"curated": 200, "random": 200, "full": 1000}, n_boot=500)
    s.update(budget=0.2, budget_label="20%", description="test run")
    return s


def _results() -> dict[str, dict[str, Any]]:
    group = {"n": 50, "accuracy": 0.8, "ci95": [0.7, 0.9]}
    return {arm: {"by": {"modality_x_task": {"ct/counting": group, "mri/lesion_localization": group}}}
            for arm in ("curated", "random", "full")}


CURATION = {
    "steps": [{"name": "validate", "in": 100, "kept": 95, "dropped": {"image_unreadable": 5}},
              {"name": "dedup_exact", "in": 95, "kept": 80, "dropped": {"exact_duplicate": 15}}],
    "recall": {"exact_duplicate": {"n": 15, "caught": 15, "recall": 1.0}},
    "precision": {"exact_duplicate": {"n": 15, "correct": 15, "precision": 1.0, "kind": "same duplicate family"}},
}
LOSSES = {"curated": [(1.0, 2.0), (2.0, 1.5), (3.0, 1.0)], "random": [(1.0, 2.1), (2.0, 1.9)], "full": []}


def test_verdict_tells_the_truth_both_ways() -> None:
    win = _summary(0.9, 0.6, 0.92)
    assert win["goal"]["beats_random_beyond_ci"] and win["goal"]["reaches_95pct_of_full"]
    assert "beat random selection by" in " ".join(verdict(win))
    lose = _summary(0.6, 0.61, 0.9)
    text = " ".join(verdict(lose))
    assert not lose["goal"]["beats_random_beyond_ci"]
    assert "did NOT beat random selection" in text and "NOT met" in text


def test_summary_paired_differences() -> None:
    s = _summary(0.9, 0.6, 0.92)
    d = s["differences"]["curated-random"]
    assert d["ci95"][0] < d["diff"] < d["ci95"][1] and d["significant"] and d["p_value"] < 0.05
    assert set(s["arms"]) == {"curated", "random", "full"} and s["arms"]["full"]["n_train"] == 1000


def test_markdown_has_tables_and_commands() -> None:
    md = render_md(_summary(0.9, 0.6, 0.92), _results(), [("eval", "infimed eval run --model m")])
    assert "| curated subset | 200 |" in md and "ct/counting" in md and "infimed eval run --model m" in md
    assert "| CI excludes 0 |" in md and "McNemar's exact test counts only the questions" in md  # p and CI may differ


def test_per_task_compares_each_arm_with_a_uniform_guess() -> None:
    test = [Sample(id=f"c{i}", question="Which modality?", options={"A": "CT", "B": "MRI", "C": "PET", "D": "X-ray"},
                   answer="A", answer_type="choice", task="modality_recognition") for i in range(4)]
    test += [Sample(id=f"y{i}", question="Is there a lesion?", answer="yes" if i % 2 else "no", answer_type="yes_no",
                    task="abnormality_detection") for i in range(4)]
    test += [Sample(id=f"o{i}", question="How many lesions?", answer=str(i), answer_type="open", task="counting")
             for i in range(4)]
    right = np.array([0, 0, 0, 1] + [1, 1, 1, 1] + [0, 1, 0, 0], float)
    rows = per_task({"curated": [right], "random": [right * 0], "full": [right]}, test)
    assert rows["modality_recognition"]["chance"] == 0.25 and rows["abnormality_detection"]["chance"] == 0.5
    assert rows["counting"]["chance"] == 0.25 and rows["abnormality_detection"]["curated"] == 1.0
    summary = _summary(0.9, 0.6, 0.92)
    summary["per_task"] = rows
    md = render_md(summary, _results(), [])
    assert "Learned beyond a uniform guess (by 5+ points): abnormality_detection." in md
    assert "Near chance for every model: counting, modality_recognition" in md
    # the whole pool's worst task: counting (like modality), 25% against a uniform 25%
    assert "by at least +0.0 points on every task type (least: counting; goal: +15 on each, NOT met)" in md
    assert "| abnormality_detection | 4 | 50.0% | 100.0% | 0.0% | 100.0% |" in md


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    page_path = tmp_path / "report.html"
    page_path.write_text(render_html(_summary(0.9, 0.6, 0.92), _results(), CURATION, LOSSES,
                                     [("eval", "infimed eval run")]), encoding="utf-8")
    check_report_in_browser(playwright, chromium, page_path, ARTIFACTS / "report-unit.png")


def check_report_in_browser(playwright: Any, chromium: str, page_path: Path, screenshot: Path) -> None:
    """Load the page offline; every chart must draw and the console must stay clean."""
    errors: list[str] = []
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri(), wait_until="load")
            charts = page.eval_on_selector_all(
                "svg.chart",
                "els => els.map(e => { const b = e.getBoundingClientRect();"
                " return {name: e.dataset.chart, w: b.width, h: b.height,"
                " marks: e.querySelectorAll('rect, polyline, line').length}; })",
            )
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []
    names = {c["name"] for c in charts}
    assert {"accuracy", "loss"} <= names
    for c in charts:
        assert c["w"] > 100 and c["h"] > 50 and c["marks"] > 0, c
    assert screenshot.stat().st_size > 10_000


def test_the_report_shows_where_the_time_went() -> None:
    from infimed.quickstart.stages import StageClock

    clock = StageClock()
    with clock.stage("data"):
        pass
    with clock.stage("train curated-seed0", samples=652) as row:
        row["reused"] = True
    with clock.stage("eval curated-seed0", questions=6000):
        pass
    s = _summary(0.6, 0.5, 0.55)
    s.update(stages=clock.rows, stage_seconds=clock.totals(), seconds=12.0)
    md = render_md(s, _results(), [])
    assert "## Where the time went" in md and "The run took 12 s: data 0 s, train 0 s, eval 0 s." in md
    assert "| train curated-seed0 | reused |" in md and "| eval curated-seed0 | 6000 questions |" in md
    html = render_html(s, _results(), CURATION, {}, [])
    assert "<h2>Where the time went</h2>" in html and "<td>eval curated-seed0</td><td>6000 questions</td>" in html
    assert set(clock.totals()) == {"data", "train", "eval"}


def test_runs_side_by_side_count_once_in_the_totals() -> None:
    from infimed.quickstart.stages import StageClock

    clock = StageClock()
    with clock.stage("train+eval", runs=6, parallel=2) as row:
        row["seconds"] = 0.0
    clock.rows[-1]["seconds"] = 100.0  # two runs of 90 s and 80 s side by side took 100 s
    clock.rows += [{"stage": "train curated-seed0", "samples": 652, "reused": False, "seconds": 90.0,
                    "within": "train+eval"},
                   {"stage": "eval curated-seed0", "questions": 6000, "reused": True, "seconds": 0.5,
                    "within": "train+eval"}]
    clock.rows.append({"stage": "captions", "reused": False, "seconds": 20.0, "alongside": "data, curate",
                       "waited": 0.5})  # made in 20 s beside data and curation, waited for 0.5 s after them
    assert clock.totals() == {"train+eval": 100.0, "captions": 0.5}
    s = _summary(0.6, 0.5, 0.55)
    s.update(stages=clock.rows, stage_seconds=clock.totals(), seconds=101.0)
    md = render_md(s, _results(), [])
    assert "The run took 101 s: train+eval 100 s, captions 0 s." in md
    assert "| train+eval | 6 runs, 2 at a time | 100.0 |" in md
    assert "| captions | alongside data, curate (then waited 0.5 s) | 20.0 |" in md
    assert "| - train curated-seed0 | 652 samples, within train+eval | 90.0 |" in md
    assert "| - eval curated-seed0 | reused, within train+eval | 0.5 |" in md


def test_the_report_says_what_the_alignment_stage_taught() -> None:
    s = _summary(0.6, 0.5, 0.55)
    s["per_task"] = {"modality_recognition": {"n": 10, "chance": 0.3, "curated": 0.5, "random": 0.4, "full": 0.5}}
    assert "aligned model" not in render_md(s, _results(), [])  # no alignment stage, no sentence
    s["alignment"] = {"steps": 1000, "check": {"n": 200, "modality": 0.915, "region": 0.975, "examples": []}}
    md = render_md(s, _results(), [])
    assert ("captioned 200 held-out caption images naming the right modality in 91.5% and the right body region "
            "in 97.5% of them") in md
    assert "the right body region in 97.5%" in render_html(s, _results(), CURATION, {}, [])


def test_full_margin_goal_met_names_the_least_learned_task() -> None:
    from infimed.quickstart.report import full_margin_sentence

    rows = {"counting": {"n": 10, "chance": 0.25, "curated": 0.5, "random": 0.4, "full": 0.45},
            "modality_recognition": {"n": 10, "chance": 0.3, "curated": 0.6, "random": 0.5, "full": 0.9}}
    text = full_margin_sentence({"per_task": rows})
    assert text.startswith("The whole pool beat a uniform guess by at least +20.0 points")
    assert "(least: counting; goal: +15 on each, met)" in text
    assert full_margin_sentence({"per_task": {}}) == ""
