"""``run_probes`` and ``infimed eval probe``: one cache for every variant, resume, plain results, the CLI."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infimed.backends.base import GenRequest, GenResult, SamplingParams
from infimed.backends.mock import MockBackend
from infimed.cli import app
from infimed.eval.probes.run import parse_probes, run_probes
from infimed.eval.runner import RunMismatchError, run_eval
from infimed.schema import Sample

RUNNER = CliRunner()


class Crashing(MockBackend):
    """Dies (like a killed process) after ``after`` results."""

    def __init__(self, model: str, after: int, **kw: object):
        super().__init__(model, **kw)  # type: ignore[arg-type]
        self.after = after

    def generate(self, requests: Sequence[GenRequest], params: SamplingParams,
                 on_result: Callable[[GenResult], None]) -> None:
        def counted(result: GenResult) -> None:
            if self.after <= 0:
                raise KeyboardInterrupt("killed")
            self.after -= 1
            on_result(result)

        super().generate(requests, params, counted)


def test_parse_probes() -> None:
    assert parse_probes("all") == ["circular", "blind", "paraphrase", "image", "negation", "confidence"]
    assert parse_probes("confidence, circular") == ["circular", "confidence"]
    with pytest.raises(KeyError, match="unknown probe 'nope'; known: blind"):
        parse_probes("circular,nope")


def test_a_crash_midway_resumes_and_generates_each_request_once(phantom_samples: list[Sample], tmp_path: Path) -> None:
    samples, out, log = phantom_samples[:12], tmp_path / "run", tmp_path / "calls.txt"
    probes = parse_probes("all")
    with pytest.raises(KeyboardInterrupt):
        run_probes(samples, Crashing("waver:gold", after=40, log_calls=log), SamplingParams(), out, probes=probes,
                   n_boot=50, severities=(1,))
    assert not (out / "robustness.json").exists() and len(log.read_text().split()) == 40
    run_probes(samples, MockBackend("waver:gold", log_calls=log), SamplingParams(), out, probes=probes, n_boot=50,
               severities=(1,))
    calls = Counter(log.read_text().split())
    assert set(calls.values()) == {1}  # nothing generated twice
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert sorted(calls) == sorted(r["id"] for r in rows) and all(r["error"] is None for r in rows)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["generation"]["plain_and_variants"]["n_cached"] == 40 and manifest["probes"]["severities"] == [1]
    run_probes(samples, MockBackend("waver:gold", log_calls=log), SamplingParams(), out, probes=probes, n_boot=50,
               severities=(1,))
    assert sum(Counter(log.read_text().split()).values()) == len(rows)  # finished: nothing asked again
    with pytest.raises(RunMismatchError, match="other settings"):
        run_probes(samples, MockBackend("gold"), SamplingParams(), out, probes=probes)


def test_results_are_the_plain_questions_like_eval_run(phantom_samples: list[Sample], tmp_path: Path) -> None:
    run_probes(phantom_samples, MockBackend("always:A"), SamplingParams(), tmp_path / "p", probes=["circular", "blind"],
               n_boot=100)
    run_eval(phantom_samples, MockBackend("always:A"), SamplingParams(), tmp_path / "e", n_boot=100)
    probed = json.loads((tmp_path / "p" / "results.json").read_text())
    plain = json.loads((tmp_path / "e" / "results.json").read_text())
    assert probed["overall"] == plain["overall"] and probed["by"] == plain["by"]
    report = (tmp_path / "p" / "report.md").read_text()
    assert "# Robustness probes" in report and "## Circular evaluation (option order)" in report
    assert "**Answered as well without the image**" in report and "benchmark phantom" in report
    assert "| benchmark | plain accuracy | circular accuracy | rotation accuracy | consistency |" in report
    assert "| modality/task | sighted accuracy | no image accuracy | quadrants grounded |" in report


def test_a_broken_image_is_an_error_row_not_a_crash(phantom_samples: list[Sample], tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    bad = Sample(id="bad", images=[str(broken)], question="Is there a lesion?", answer="yes", answer_type="yes_no",
                 modality="ct", task="abnormality_detection")
    robustness = run_probes([*phantom_samples[:8], bad], MockBackend("gold"), SamplingParams(), tmp_path / "r",
                            probes=["image", "confidence", "negation"], n_boot=50, severities=(1,))
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "r" / "samples.jsonl").read_text().splitlines())}
    assert "cannot decode image" in rows["bad"]["error"]
    assert not [i for i in rows if i.startswith("bad~image") or i.startswith("bad~confidence")]
    assert rows["bad~negation:negated"]["error"]  # its image is broken too
    assert robustness["probes"]["negation"]["overall"]["n_pairs"] == sum(
        1 for r in rows.values() if r["probe"] == "negation" and r["error"] is None)


def _invoke(*args: str) -> tuple[int, str]:
    result = RUNNER.invoke(app, ["eval", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_cli_errors_are_clear(phantom_dir: Path, tmp_path: Path) -> None:
    data = str(phantom_dir / "test.jsonl")
    base = ["probe", "--backend", "mock", "--model", "gold", "--data", data, "--out", str(tmp_path / "o")]
    code, output = _invoke(*base, "--probes", "circular,sideways")
    assert code == 2 and "unknown probe 'sideways'" in output
    code, output = _invoke(*base, "--severities", "1,7")
    assert code == 2 and "severities among 1,2,3" in output
    code, output = _invoke(*base, "--probes", "blind", "--teacher", "gold", "--teacher-backend", "mock")
    assert code == 2 and "add it to --probes" in output
    code, output = _invoke("report", str(tmp_path / "nothing"), "--out", str(tmp_path / "r.html"))
    assert code == 2 and "not a finished eval run" in output


def test_cli_probe_with_a_mock_teacher(phantom_dir: Path, tmp_path: Path) -> None:
    code, output = _invoke("probe", "--backend", "mock", "--model", "gold", "--data", str(phantom_dir / "test.jsonl"),
                           "--limit", "6", "--probes", "paraphrase", "--teacher", "always:Is a finding present?",
                           "--teacher-backend", "mock", "--out", str(tmp_path / "t"), "--n-boot", "20")
    assert code == 0, output
    assert "paraphrase: consistency 100.0%" in output
    rows = [json.loads(line) for line in (tmp_path / "t" / "samples.jsonl").read_text().splitlines()]
    assert sum(r["variant"] == "teacher#0" for r in rows) == 6
    assert (tmp_path / "t" / "teacher" / "predictions.jsonl").exists()


@pytest.mark.slow
def test_tiny_model_probed_end_to_end(tiny_model_dir: Path, phantom_dir: Path, tmp_path: Path) -> None:
    """The acceptance path: every probe on the tiny model from the CLI, then the HTML report of it."""
    out = tmp_path / "tiny"
    args = ["probe", "--backend", "hf", "--model", str(tiny_model_dir), "--data", str(phantom_dir / "test.jsonl"),
            "--limit", "16", "--probes", "all", "--severities", "2", "--max-new-tokens", "4", "--batch-size", "16",
            "--device", "cpu", "--n-boot", "50", "--out", str(out)]
    code, output = _invoke(*args)
    assert code == 0, output
    robustness = json.loads((out / "robustness.json").read_text())
    assert robustness["schema"] == "infimed-robustness-v1"
    assert set(robustness["probes"]) == {"circular", "blind", "paraphrase", "image", "negation", "confidence"}
    for name, result in robustness["probes"].items():
        assert result["n_variants"] > 0 and result["by"]["modality_x_task"], name
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 16 + robustness["n_variants"] and all(r["error"] is None for r in rows)
    assert sum(r["probe"] is None for r in rows) == 16
    generated = json.loads((out / "manifest.json").read_text())["generation"]
    code, output = _invoke(*args)  # a rerun resumes from the cache: nothing generated
    assert code == 0, output
    again = json.loads((out / "manifest.json").read_text())["generation"]
    assert again["plain_and_variants"]["n_generated"] == again["follow_up"]["n_generated"] == 0
    assert again["plain_and_variants"]["n_cached"] == generated["plain_and_variants"]["n_samples"]
    code, output = _invoke("report", str(out), "--out", str(tmp_path / "report.html"))
    assert code == 0, output
    page = (tmp_path / "report.html").read_text()
    assert 'data-chart="circular-0"' in page and 'data-chart="severity-0"' in page


def test_real_chest_x_rays(pneumoniamnist: Path, tmp_path: Path) -> None:
    """PneumoniaMNIST (real X-rays): the benchmark loader, corruptions of real images, blind, negation."""
    code, output = _invoke("probe", "--backend", "mock", "--model", "vision", "--benchmark", "medmnist",
                           "--data-root", str(pneumoniamnist), "--image-cache", str(tmp_path / "cache"), "--limit", "30",
                           "--probes", "blind,image,negation,circular", "--severities", "1,3", "--n-boot", "50",
                           "--out", str(tmp_path / "mm"))
    assert code == 0, output
    robustness = json.loads((tmp_path / "mm" / "robustness.json").read_text())
    blind = robustness["probes"]["blind"]["overall"]
    assert blind["sighted_accuracy"]["rate"] == 1.0 and blind["no_image_accuracy"]["rate"] < 0.8
    assert blind["other_image_accuracy"]["n"] == 30  # another chest X-ray for every question
    image = robustness["probes"]["image"]["overall"]
    assert set(image["by_severity"]) == {"1", "3"} and image["by_severity"]["3"]["flip_rate"]["rate"] == 0.0
    rows = [json.loads(line) for line in (tmp_path / "mm" / "samples.jsonl").read_text().splitlines()]
    assert all(r["error"] is None for r in rows) and {r["modality"] for r in rows} == {"xray"}
