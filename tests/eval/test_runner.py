"""run_eval: generate -> score, crash-safe cache, resume, fingerprint checks, per-sample errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from infimed.backends.base import GenRequest, GenResult, SamplingParams
from infimed.backends.mock import MockBackend
from infimed.eval.runner import RunMismatchError, run_eval
from infimed.prompts import PROMPT_VERSION
from infimed.schema import Sample


def _samples(tmp_path: Path, n: int = 6) -> list[Sample]:
    img = tmp_path / "img.png"
    Image.new("RGB", (8, 8), (90, 90, 90)).save(img)
    out = []
    for i in range(n):
        kind = ("choice", "yes_no", "open")[i % 3]
        extra: dict[str, Any] = {
            "choice": {"options": {"A": "liver", "B": "lung"}, "answer": "B"},
            "yes_no": {"answer": "yes"},
            "open": {"answer": "left lung"},
        }[kind]
        out.append(Sample(id=f"s{i}", images=[str(img)], question=f"Question {i}?", answer_type=kind,
                          modality="ct" if i % 2 else "xray", task="disease_diagnosis", **extra))
    return out


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Crashing:
    """Answers ``n_ok`` requests, then dies like a killed process would (mid-run)."""

    name = "mock"

    def __init__(self, n_ok: int):
        self.inner = MockBackend("gold", load_images=False)
        self.n_ok = n_ok

    def generate(self, requests: Sequence[GenRequest], params: SamplingParams,
                 on_result: Callable[[GenResult], None]) -> None:
        self.inner.generate(requests[: self.n_ok], params, on_result)
        raise KeyboardInterrupt("simulated crash")

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


def test_run_writes_every_stage_and_manifest(tmp_path: Path) -> None:
    samples = _samples(tmp_path)
    out = tmp_path / "run"
    results = run_eval(samples, MockBackend("gold"), SamplingParams(seed=3), out, n_boot=50, data_source="mem")
    assert results["overall"]["accuracy"] == 1.0 and results["overall"]["n"] == 6
    for name in ("predictions.jsonl", "samples.jsonl", "results.json", "report.md", "manifest.json", "run.json"):
        assert (out / name).exists(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["prompts"]["version"] == PROMPT_VERSION
    assert set(manifest["prompts"]["templates"]) == {"choice", "yes_no", "open"}
    assert manifest["sampling"]["seed"] == 3 and manifest["seed"] == 3
    assert manifest["model"] == "gold" and manifest["backend"]["backend"] == "mock"
    assert len(manifest["data"]["sha256"]) == 64 and manifest["data"]["n"] == 6
    assert manifest["generation"]["n_generated"] == 6 and manifest["infimed_version"]
    assert "commit" in manifest["git"]


def test_resume_after_crash_generates_each_sample_once(tmp_path: Path) -> None:
    samples = _samples(tmp_path, n=9)
    out, log = tmp_path / "run", tmp_path / "calls.txt"
    with pytest.raises(KeyboardInterrupt):
        run_eval(samples, Crashing(n_ok=4), SamplingParams(), out)
    assert len(_rows(out / "predictions.jsonl")) == 4
    with (out / "predictions.jsonl").open("a") as fh:
        fh.write('{"id": "s8", "respo')  # a torn line from a kill during a write
    results = run_eval(samples, MockBackend("gold", log_calls=log), SamplingParams(), out, n_boot=20)
    assert sorted(log.read_text().split()) == sorted(s.id for s in samples[4:])
    assert results["overall"]["n"] == 9 and results["overall"]["accuracy"] == 1.0
    ids = [r["id"] for r in _rows(out / "predictions.jsonl")]
    assert sorted(ids) == sorted(s.id for s in samples)  # torn line cut, nothing duplicated
    run_eval(samples, MockBackend("gold", log_calls=log), SamplingParams(), out, n_boot=20)
    assert len(log.read_text().split()) == 5  # a finished run regenerates nothing


def test_other_settings_are_refused_unless_overwrite(tmp_path: Path) -> None:
    samples = _samples(tmp_path)
    out = tmp_path / "run"
    run_eval(samples, MockBackend("gold"), SamplingParams(), out, n_boot=10)
    with pytest.raises(RunMismatchError, match="sampling"):
        run_eval(samples, MockBackend("gold"), SamplingParams(max_new_tokens=5), out, n_boot=10)
    with pytest.raises(RunMismatchError, match="model"):
        run_eval(samples, MockBackend("always:A"), SamplingParams(), out, n_boot=10)
    results = run_eval(samples, MockBackend("always:A"), SamplingParams(), out, n_boot=10, overwrite=True)
    assert results["overall"]["accuracy"] < 1.0
    assert all(r["response"] == "A" for r in _rows(out / "predictions.jsonl"))


def test_edited_question_is_regenerated(tmp_path: Path) -> None:
    samples = _samples(tmp_path, n=3)
    out, log = tmp_path / "run", tmp_path / "calls.txt"
    run_eval(samples, MockBackend("gold", log_calls=log), SamplingParams(), out, n_boot=10)
    samples[1] = samples[1].model_copy(update={"question": "A different question?"})
    run_eval(samples, MockBackend("gold", log_calls=log), SamplingParams(), out, n_boot=10)
    assert log.read_text().split() == ["s0", "s1", "s2", "s1"]


def test_broken_image_is_an_error_left_out_of_accuracy(tmp_path: Path) -> None:
    samples = _samples(tmp_path, n=4)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    samples[2] = samples[2].model_copy(update={"images": [str(bad)]})
    out = tmp_path / "run"
    results = run_eval(samples, MockBackend("gold"), SamplingParams(), out, n_boot=10)
    overall = results["overall"]
    assert overall["n_errors"] == 1 and overall["accuracy"] == 1.0
    rows = {r["id"]: r for r in _rows(out / "samples.jsonl")}
    assert "bad.png" in rows["s2"]["error"] and rows["s2"]["correct"] is None


def test_errors_are_retried_on_rerun_but_answers_are_not(tmp_path: Path) -> None:
    samples = _samples(tmp_path, n=4)
    out, log = tmp_path / "run", tmp_path / "calls.txt"
    first = run_eval(samples, MockBackend("gold", fail_ids=["s1"]), SamplingParams(), out, n_boot=10)
    assert first["overall"]["n_errors"] == 1
    second = run_eval(samples, MockBackend("gold", log_calls=log), SamplingParams(), out, n_boot=10)
    assert log.read_text().split() == ["s1"] and second["overall"]["n_errors"] == 0


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    samples = _samples(tmp_path, n=2)
    with pytest.raises(ValueError, match="duplicate sample id 's0'"):
        run_eval([samples[0], samples[0]], MockBackend("gold"), SamplingParams(), tmp_path / "run")


def test_phantom_gold_run_is_perfect(phantom_dir: Path, tmp_path: Path) -> None:
    from infimed.io.jsonl import load_samples

    samples = load_samples(phantom_dir / "test.jsonl")
    results = run_eval(samples, MockBackend("gold"), SamplingParams(), tmp_path / "run", n_boot=20, mode="reasoning")
    assert results["overall"]["accuracy"] == 1.0 and results["overall"]["n_errors"] == 0
    assert results["by"]["modality_x_task"]


def test_cache_without_run_file_is_not_trusted(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "predictions.jsonl").write_text('{"id": "s0", "response": "A"}\n')
    with pytest.raises(RunMismatchError, match="no run.json"):
        run_eval(_samples(tmp_path, n=2), MockBackend("gold"), SamplingParams(), out)


def test_follow_up_turns_are_sent_and_key_the_cache() -> None:
    import hashlib

    from infimed.eval.manifest import request_hash
    from infimed.eval.runner import build_request
    from infimed.prompts import build_prompt

    s = Sample(id="f", question="Is there a lesion?", answer="yes", answer_type="yes_no")
    asked = {"prompt": build_prompt(s), "images": []}
    old = hashlib.sha256(json.dumps(asked, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    assert request_hash(s, "direct") == old  # ordinary samples keep their cache keys
    turns = [{"role": "assistant", "text": "yes"}, {"role": "user", "text": "Are you sure?"}]
    follow = s.model_copy(update={"meta": {"turns": turns}})
    request = build_request(follow, "direct")
    assert [m["role"] for m in request.messages] == ["user", "assistant", "user"]
    assert request.messages[2]["content"] == [{"type": "text", "text": "Are you sure?"}]
    assert request_hash(follow, "direct") != old
    other = s.model_copy(update={"meta": {"turns": [{**turns[0], "text": "no"}, turns[1]]}})
    assert request_hash(other, "direct") != request_hash(follow, "direct")  # keyed by the first answer too
