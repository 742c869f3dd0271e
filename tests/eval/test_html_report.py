"""``infimed eval report``: one self-contained page for several runs, checked in headless Chromium."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from infimed.backends.base import SamplingParams
from infimed.backends.mock import MockBackend
from infimed.eval.compare import compare_runs
from infimed.eval.html_report import accuracy_by_source, browser_rows, load_run, render_report, verdict
from infimed.eval.probes.run import run_probes
from infimed.eval.runner import run_eval
from infimed.io.jsonl import load_samples

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def runs(phantom_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A probed vision mock, a probed always-A mock and a plain gold run on the same questions."""
    samples = load_samples(phantom_dir / "test.jsonl")
    root = tmp_path_factory.mktemp("report-runs")
    run_probes(samples, MockBackend("vision"), SamplingParams(), root / "vision", probes=["circular", "blind", "image"],
               n_boot=100, severities=(1, 3))
    run_probes(samples, MockBackend("always:A"), SamplingParams(), root / "always-a",
               probes=["circular", "blind", "negation", "confidence"], n_boot=100)
    run_eval(samples, MockBackend("gold"), SamplingParams(), root / "gold", n_boot=100)
    return [root / "vision", root / "always-a", root / "gold"]


def test_page_content(runs: list[Path]) -> None:
    page = render_report(runs)
    for chart in ("accuracy", "heatmap-0", "heatmap-2", "circular-0", "blind-0", "quadrants-1", "severity-0",
                  "position-1"):
        assert f'data-chart="{chart}"' in page, chart
    assert 'id="paired"' in page and "always-a - vision" in page and "gold - vision" in page
    assert "Answered as well without the image: benchmark phantom" in page  # always-A answers as (badly) blind
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    rows, thumbs = browser_rows(["v"], [load_run(runs[0])], 10_000)
    assert thumbs and all(v.startswith("data:image/png;base64,") for v in thumbs.values())
    assert {r["probe"] for r in rows} == {"plain", "circular", "blind", "image"}
    assert {verdict(r) for r in load_run(runs[1])["rows"]} >= {"correct", "wrong", "unparsed"}
    paired = compare_runs(runs)  # probe runs are compared on their plain questions only
    n_plain = len(load_run(runs[2])["rows"])
    assert [r["n_rows"] for r in paired["runs"]] == [n_plain] * 3 and paired["n_shared_ids"] == n_plain
    by_source = accuracy_by_source(load_run(runs[2])["rows"])
    assert by_source["phantom"]["accuracy"] == 1.0 and len(by_source["phantom"]["ci95"]) == 2


def test_report_renders_and_filters_in_headless_chromium(runs: list[Path], tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    page_path = tmp_path / "report.html"
    page_path.write_text(render_report(runs), encoding="utf-8")
    n_always_a = sum(1 for _ in (runs[1] / "samples.jsonl").open())
    n_unparsed = sum(json.loads(line)["extracted"] is None and json.loads(line)["error"] is None
                     for line in (runs[1] / "samples.jsonl").open())
    errors: list[str] = []
    requests: list[str] = []
    screenshot = ARTIFACTS / "eval-report.png"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        try:
            page = browser.new_context(offline=True).new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri(), wait_until="load")
            charts = page.eval_on_selector_all(
                "svg.chart", "els => els.map(e => { const b = e.getBoundingClientRect(); return {name: e.dataset.chart,"
                " w: b.width, h: b.height, marks: e.querySelectorAll('rect, polyline, line').length}; })")
            first_count = page.inner_text("#browser-count")
            page.select_option("#f-run", "always-a")
            page.select_option("#f-verdict", "unparsed")
            filtered = page.inner_text("#browser-count")
            verdicts = page.eval_on_selector_all("#browser-rows tr", "els => els.map(e => e.dataset.verdict)")
            page.select_option("#f-verdict", "")
            page.select_option("#f-probe", "circular")
            probe_rows = page.eval_on_selector_all("#browser-rows tr td:nth-child(2)", "els => els.map(e => e.textContent)")
            page.select_option("#f-run", "vision")
            page.select_option("#f-probe", "image")
            images = page.eval_on_selector_all("#browser-rows img", "els => els.map(e => e.naturalWidth)")
            page.select_option("#f-probe", "")
            page.select_option("#f-run", "")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert len(charts) >= 10 and {"accuracy", "heatmap-0", "circular-0", "severity-0"} <= {c["name"] for c in charts}
    for c in charts:
        assert c["w"] > 100 and c["h"] > 50 and c["marks"] > 0, c
    assert first_count.startswith("showing 200 of ")
    assert filtered == f"showing {min(n_unparsed, 200)} of {n_unparsed} matching rows" and n_unparsed < n_always_a
    assert verdicts and set(verdicts) == {"unparsed"}
    assert probe_rows and all("always-a / " in t and "(circular: rot" in t for t in probe_rows)
    assert images and all(w > 0 for w in images)  # the corrupted images' thumbnails decode
    assert screenshot.stat().st_size > 20_000
