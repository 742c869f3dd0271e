"""`infimed eval` end to end: kill -9 and resume, rescoring, comparison, the tiny model on phantom data."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infimed.cli import app
from infimed.io.jsonl import load_samples, write_jsonl

RUNNER = CliRunner()


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()]


def _invoke(*args: str) -> tuple[int, str]:
    result = RUNNER.invoke(app, ["eval", *args])
    return result.exit_code, result.output


@pytest.mark.slow
def test_kill_9_midway_then_resume_generates_each_sample_once(phantom_dir: Path, tmp_path: Path) -> None:
    data = phantom_dir / "test.jsonl"
    n = len(load_samples(data))
    out, log = tmp_path / "run", tmp_path / "calls.txt"
    cmd = [sys.executable, "-c", "from infimed.cli import main; main()", "eval", "run", "--backend", "mock",
           "--model", "gold", "--data", str(data), "--out", str(out), "--n-boot", "50",
           "-o", "delay=0.05", "-o", f"log_calls={log}"]
    env = {**os.environ, "INFIMED_QUIET": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().split()) < n // 3):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cached = set(_ids(out / "predictions.jsonl"))
    finished_before = len(cached)
    assert 0 < finished_before < n, "the kill must land midway"
    assert not (out / "results.json").exists()

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    generated = Counter(log.read_text().split())
    assert set(generated.values()) == {1}  # no id generated twice
    # every id generated once; the mock logs right after the cache write, so a kill landing in between
    # (microseconds out of each 50 ms call) leaves one cached id unlogged, which is still not regenerated
    unlogged = {s.id for s in load_samples(data)} - set(generated)
    assert unlogged <= cached and len(unlogged) <= 1
    assert sorted(_ids(out / "predictions.jsonl")) == sorted(set(generated) | unlogged)
    results = json.loads((out / "results.json").read_text())
    assert results["overall"]["n"] == n and results["overall"]["accuracy"] == 1.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["generation"]["n_cached"] == finished_before


def test_score_external_predictions_like_a_run(phantom_dir: Path, tmp_path: Path) -> None:
    data = phantom_dir / "test.jsonl"
    samples = load_samples(data)
    preds = tmp_path / "pred.jsonl"
    rows = [{"id": s.id, "response": f"The answer is {s.answer}."} for s in samples]
    rows[0] = {"id": samples[0].id, "response": None, "error": "timeout"}
    rows.append({"id": "not-in-data", "response": "A"})
    write_jsonl(preds, rows)
    code, output = _invoke("score", "--data", str(data), "--predictions", str(preds), "--out", str(tmp_path / "s"),
                           "--n-boot", "50", "--model", "external-model")
    assert code == 0, output
    results = json.loads((tmp_path / "s" / "results.json").read_text())
    assert results["overall"]["n_errors"] == 1 and results["overall"]["n"] == len(samples) - 1
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["backend"]["backend"] == "external" and manifest["n_unmatched_predictions"] == 1
    assert "match no sample" in output


def test_score_rejects_bad_prediction_lines(phantom_dir: Path, tmp_path: Path) -> None:
    preds = tmp_path / "pred.jsonl"
    preds.write_text('{"id": "a", "response": "A"}\n{"response": "B"}\n')
    code, output = _invoke("score", "--data", str(phantom_dir / "test.jsonl"), "--predictions", str(preds),
                           "--out", str(tmp_path / "s"))
    assert code == 2 and "pred.jsonl:2" in output and "'id'" in output


def test_run_errors_are_clear(phantom_dir: Path, tmp_path: Path) -> None:
    data = str(phantom_dir / "test.jsonl")
    code, output = _invoke("run", "--backend", "mock", "--model", "gold", "--out", str(tmp_path / "r"))
    assert code == 2 and "--data" in output
    code, output = _invoke("run", "--backend", "nope", "--model", "m", "--data", data, "--out", str(tmp_path / "r"))
    assert code == 2 and "unknown backend" in output
    code, output = _invoke("run", "--backend", "mock", "--model", "gold", "--data", data, "--out",
                           str(tmp_path / "r"), "-o", "speed=3")
    assert code == 2 and "rejected its options" in output
    ok = ["run", "--backend", "mock", "--data", data, "--out", str(tmp_path / "r2"), "--limit", "5", "--n-boot", "10"]
    assert _invoke(*ok, "--model", "gold")[0] == 0
    code, output = _invoke(*ok, "--model", "always:A")
    assert code == 1 and "other settings" in output and "--overwrite" in output
    assert _invoke(*ok, "--model", "always:A", "--overwrite")[0] == 0


@pytest.mark.slow
def test_tiny_model_run_resume_rescore_compare(tiny_model_dir: Path, phantom_dir: Path, tmp_path: Path) -> None:
    """The acceptance path: evaluate the tiny model, resume, rescore its responses, compare with another run."""
    data = str(phantom_dir / "test.jsonl")
    hf = ["run", "--backend", "hf", "--model", str(tiny_model_dir), "--data", data,
          "--max-new-tokens", "4", "--batch-size", "5", "--device", "cpu", "--n-boot", "50"]
    code, output = _invoke(*hf, "--limit", "4", "--out", str(tmp_path / "tiny"))  # a first, partial run
    assert code == 0, output
    code, output = _invoke(*hf, "--limit", "10", "--out", str(tmp_path / "tiny"))  # extends it
    assert code == 0, output
    generation = json.loads((tmp_path / "tiny" / "manifest.json").read_text())["generation"]
    assert (generation["n_cached"], generation["n_generated"]) == (4, 6)
    results = json.loads((tmp_path / "tiny" / "results.json").read_text())
    assert results["overall"]["n"] == 10 and results["by"]["modality_x_task"]
    assert all(len(g["ci95"]) == 2 for g in results["by"]["modality"].values())

    code, output = _invoke("run", "--backend", "hf", "--model", str(tmp_path / "missing"), "--data", data,
                           "--out", str(tmp_path / "r"))
    assert code == 1 and "cannot start backend" in output and "missing" in output

    code, output = _invoke(*hf, "--limit", "10", "--out", str(tmp_path / "tiny"))  # finished: nothing to do
    assert code == 0, output
    assert json.loads((tmp_path / "tiny" / "manifest.json").read_text())["generation"]["n_generated"] == 0

    code, output = _invoke("score", "--data", data, "--predictions", str(tmp_path / "tiny" / "predictions.jsonl"),
                           "--out", str(tmp_path / "rescored"), "--n-boot", "50")
    assert code == 0, output
    rescored = json.loads((tmp_path / "rescored" / "results.json").read_text())
    assert rescored["overall"]["n_correct"] == results["overall"]["n_correct"]
    n_all = len(load_samples(phantom_dir / "test.jsonl"))
    assert (rescored["overall"]["n"], rescored["overall"]["n_errors"]) == (10, n_all - 10)  # the rest: missing

    code, output = _invoke("run", "--backend", "mock", "--model", "gold", "--data", data, "--limit", "10",
                           "--out", str(tmp_path / "gold"), "--n-boot", "50")
    assert code == 0, output
    code, output = _invoke("compare", str(tmp_path / "tiny"), str(tmp_path / "gold"), "--out", str(tmp_path / "c.md"))
    assert code == 0, output
    assert "tiny" in output and "gold" in output and (tmp_path / "c.md").read_text().strip() == output.strip()


@pytest.mark.slow
def test_tiny_model_on_pneumoniamnist(tiny_model_dir: Path, pneumoniamnist: Path, tmp_path: Path) -> None:
    code, output = _invoke("run", "--backend", "hf", "--model", str(tiny_model_dir), "--benchmark", "medmnist",
                           "--data-root", str(pneumoniamnist), "--image-cache", str(tmp_path / "cache"),
                           "--limit", "6", "--max-new-tokens", "3", "--device", "cpu", "--n-boot", "20",
                           "--out", str(tmp_path / "mm"))
    assert code == 0, output
    results = json.loads((tmp_path / "mm" / "results.json").read_text())
    assert results["overall"]["n"] == 6 and "xray" in results["by"]["modality"]
    manifest = json.loads((tmp_path / "mm" / "manifest.json").read_text())
    assert manifest["data"]["source"].startswith("benchmark:medmnist:")


# One test per error class of the CLI: a one-line message naming the cause, the right exit code, no
# traceback. Rich wraps its boxed usage errors to the terminal width, so the runner is given a wide one and
# the assertions look for the message's own words.
WIDE = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}


def _error(*args: str) -> tuple[int, str]:
    result = RUNNER.invoke(app, ["eval", *args], env=WIDE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output  # no traceback
    return result.exit_code, " ".join(result.output.replace("│", " ").split())


def _mock(data: Path, out: Path, *more: str) -> list[str]:
    return ["run", "--backend", "mock", "--model", "gold", "--data", str(data), "--out", str(out), "--n-boot", "10",
            *more]


def test_error_missing_data_file(tmp_path: Path) -> None:
    code, output = _error(*_mock(tmp_path / "nope.jsonl", tmp_path / "r"))
    assert code == 2 and "nope.jsonl does not exist" in output and "--data" in output


def test_error_bad_jsonl_line(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "question": "Q?", "answer": "yes", "answer_type": "yes_no"}\n{"id": "b", "que\n')
    code, output = _error(*_mock(data, tmp_path / "r"))
    assert code == 2 and "d.jsonl:2" in output and "invalid JSON" in output


def test_error_bad_flag_values(phantom_dir: Path, tmp_path: Path) -> None:
    data = phantom_dir / "test.jsonl"
    code, output = _error(*_mock(data, tmp_path / "r", "--mode", "fancy"))
    assert code == 2 and "--mode" in output and "fancy" in output
    code, output = _error(*_mock(data, tmp_path / "r", "--limit", "0"))
    assert code == 2 and "--limit" in output and "must be >= 1" in output
    code, output = _error(*_mock(data, tmp_path / "r", "--max-new-tokens", "many"))
    assert code == 2 and "--max-new-tokens" in output


def test_error_every_sample_failed_run(phantom_dir: Path, tmp_path: Path) -> None:
    data = phantom_dir / "test.jsonl"
    ids = [s.id for s in load_samples(data)]  # --limit draws a stratified subset: fail whichever it draws
    code, output = _error(*_mock(data, tmp_path / "r", "--limit", "3", "-o", f"fail_ids={json.dumps(ids)}"))
    assert code == 1 and "every one of the 3 samples is an error" in output
    assert "unparsed n/a" in output  # the summary itself prints, with nothing to format
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["overall"]["n"] == 0 and results["overall"]["accuracy"] is None


def test_error_every_sample_failed_score(phantom_dir: Path, tmp_path: Path) -> None:
    data = phantom_dir / "test.jsonl"
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": s.id, "response": None, "error": "connection refused"}) + "\n"
                             for s in load_samples(data)))
    code, output = _error("score", "--data", str(data), "--predictions", str(preds), "--out", str(tmp_path / "s"))
    assert code == 1 and "is an error (first: connection refused)" in output
    rows = [json.loads(x) for x in (tmp_path / "s" / "samples.jsonl").read_text().splitlines()]
    assert {r["correct"] for r in rows} == {None}  # an error is not a wrong answer


def test_error_missing_predictions_file(phantom_dir: Path, tmp_path: Path) -> None:
    code, output = _error("score", "--data", str(phantom_dir / "test.jsonl"), "--predictions",
                          str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "s"))
    assert code == 2 and "none.jsonl does not exist" in output


def test_error_model_folder_missing(phantom_dir: Path, tmp_path: Path) -> None:
    code, output = _error("run", "--backend", "hf", "--model", str(tmp_path / "no-model"), "--data",
                          str(phantom_dir / "test.jsonl"), "--out", str(tmp_path / "r"), "--device", "cpu")
    assert code == 1 and "cannot start backend 'hf'" in output and "no-model" in output


def test_error_unknown_benchmark(tmp_path: Path) -> None:
    code, output = _error("run", "--backend", "mock", "--model", "gold", "--benchmark", "nope", "--data-root",
                          str(tmp_path), "--out", str(tmp_path / "r"))
    assert code == 2 and "unknown benchmark 'nope'" in output and "vqa_rad" in output


def test_error_compare_not_a_run(phantom_dir: Path, tmp_path: Path) -> None:
    ok = _mock(phantom_dir / "test.jsonl", tmp_path / "a", "--limit", "3")
    assert _error(*ok)[0] == 0
    code, output = _error("compare", str(tmp_path / "a"), str(tmp_path / "empty"))
    assert code == 2 and "has no results.json" in output


def test_error_folder_given_for_a_file(phantom_dir: Path, tmp_path: Path) -> None:
    code, output = _error(*_mock(tmp_path, tmp_path / "r"))
    assert code == 2 and "is a folder, not a JSONL file" in output and "--data" in output
    code, output = _error("score", "--data", str(phantom_dir / "test.jsonl"), "--predictions", str(tmp_path),
                          "--out", str(tmp_path / "s"))
    assert code == 2 and "is a folder, not a JSONL file" in output


def _flat(text: str) -> str:
    """Output without whitespace and Rich box characters: a message wrapped at any width still matches."""
    return re.sub(r"[\s│╭╮╰╯─]", "", text)


def test_run_sends_a_12bit_xray_to_the_backend_windowed_not_white(tmp_path: Path, xray12, monkeypatch) -> None:
    import numpy as np
    from PIL import Image

    import infimed.io.images as images

    (tmp_path / "images").mkdir()
    Image.fromarray(xray12()).save(tmp_path / "images" / "cxr16.png")
    data = tmp_path / "cxr.jsonl"
    write_jsonl(data, [{"id": "cxr-1", "images": ["images/cxr16.png"], "question": "Is there a nodule?",
                        "answer": "yes", "answer_type": "yes_no", "modality": "xray"}])
    seen: list[float] = []
    real = images.load_image

    def spy(path, **kw):
        image = real(path, **kw)
        seen.append(float(np.asarray(image.convert("L")).std()))
        return image

    monkeypatch.setattr(images, "load_image", spy)
    code, output = _invoke("run", "--backend", "mock", "--model", "gold", "--data", str(data),
                           "--out", str(tmp_path / "r"), "--n-boot", "10")
    assert code == 0, output
    assert seen and min(seen) > 30  # the backend got the X-ray (Pillow alone makes it white: std 0)
    row = json.loads((tmp_path / "r" / "samples.jsonl").read_text().splitlines()[0])
    assert row["error"] is None and row["correct"] is True


def test_images_within_data_on_for_benchmarks_off_for_data(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("L", (32, 32), 90).save(tmp_path / "outside.png")
    root = tmp_path / "bench"
    root.mkdir()
    write_jsonl(root / "test.jsonl", [{"id": "p-1", "images": ["../outside.png"], "question": "Is this a CT?",
                                       "answer": "no", "answer_type": "yes_no"}])
    run = ["run", "--backend", "mock", "--model", "gold", "--n-boot", "10"]
    bench = [*run, "--benchmark", "phantom", "--data-root", str(root)]
    code, output = _invoke(*bench, "--out", str(tmp_path / "b1"))
    assert code == 2
    assert _flat(f"{root / 'test.jsonl'}:1 [id=p-1] field 'images': images[0] '../outside.png' lies outside") \
        in _flat(output)
    assert _invoke(*bench, "--out", str(tmp_path / "b2"), "--allow-outside-images")[0] == 0
    data = [*run, "--data", str(root / "test.jsonl")]
    assert _invoke(*data, "--out", str(tmp_path / "d1"))[0] == 0
    code, output = _invoke(*data, "--out", str(tmp_path / "d2"), "--images-within-data")
    assert code == 2 and _flat("field 'images': images[0] '../outside.png'") in _flat(output)
