"""`infimed eval run/score --judge`: both scores with their agreement, the verdict cache across a kill -9,
and a judge that is down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from judge_server import JudgeServer
from typer.testing import CliRunner

from infimed.cli import app
from infimed.io.jsonl import write_jsonl

RUNNER = CliRunner()
OPEN = [("o1", "heart", "cardiac"), ("o2", "left lung", "left lung"), ("o3", "liver", "spleen"),
        ("o4", "pneumonia", "<think>the opacity</think><answer>pneumonia</answer>"), ("o5", "brain", "<think>hmm")]


def _data(tmp_path: Path) -> tuple[Path, Path]:
    samples = [{"id": i, "question": f"Which organ? ({i})", "answer": a, "answer_type": "open", "modality": "ct",
                "task": "anatomy_identification"} for i, a, _ in OPEN]
    samples.append({"id": "c1", "question": "Side?", "options": {"A": "left", "B": "right"}, "answer": "A",
                    "answer_type": "choice", "modality": "xray"})
    preds = [{"id": i, "response": r} for i, _, r in OPEN] + [{"id": "c1", "response": "A"}]
    write_jsonl(tmp_path / "data.jsonl", samples)
    write_jsonl(tmp_path / "preds.jsonl", preds)
    return tmp_path / "data.jsonl", tmp_path / "preds.jsonl"


def _score(tmp_path: Path, url: str, *extra: str) -> tuple[int, str]:
    data, preds = _data(tmp_path)
    args = ["eval", "score", "--data", str(data), "--predictions", str(preds), "--out", str(tmp_path / "out"),
            "--n-boot", "50", "--judge", "judge-m", "--judge-base-url", url, *extra]
    result = RUNNER.invoke(app, args)
    return result.exit_code, result.output


def _rows(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (out / "samples.jsonl").read_text().splitlines())}


def test_rescore_with_judge_gives_both_scores_and_agreement(tmp_path: Path) -> None:
    with JudgeServer("agree") as server:
        code, output = _score(tmp_path, server.url)
        assert code == 0, output
        assert server.calls == {"cardiac": 1, "left lung": 1, "spleen": 1, "pneumonia": 1}  # o5 has no answer
        code, _ = _score(tmp_path, server.url)  # rescoring again asks nothing
        assert code == 0 and sum(server.calls.values()) == 4
    out = tmp_path / "out"
    results = json.loads((out / "results.json").read_text())
    overall = results["overall"]
    assert overall["accuracy"] == 3 / 6  # rules: o2, o4, c1
    assert overall["judge_accuracy"] == 4 / 6  # judge adds o1 (cardiac = heart); c1 by rule
    assert overall["n_judged"] == 5 and overall["judged_share"] == 5 / 6
    assert overall["judge_agreement"] == 4 / 5 and overall["judge_right_rule_wrong"] == 1
    assert overall["judge_kappa"] is not None
    assert results["by"]["answer_type"]["choice"]["n_judged"] == 0  # policy open: choice left to the rules
    assert results["judge"]["n_cached"] == 4 and results["judge"]["n_calls"] == 0
    rows = _rows(out)
    assert rows["o1"]["judge_verdict"] == "correct" and "<verdict>correct</verdict>" in rows["o1"]["judge_reply"]
    assert rows["o5"]["judge_correct"] is False and rows["o5"]["judge_reply"] is None
    assert rows["c1"]["judged"] is False
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["judge"]["template"]["version"] == "infimed-judge-v1"
    assert "{candidate}" in manifest["judge"]["template"]["text"] and manifest["judge"]["policy"] == "open"
    assert "LLM judge" in (out / "report.md").read_text()
    assert "judge accuracy 0.667" in output


def test_judge_on_all_and_medevalkit_template(tmp_path: Path) -> None:
    with JudgeServer("agree", template="medevalkit") as server:
        code, output = _score(tmp_path, server.url, "--judge-on", "all", "--judge-template", "medevalkit")
    assert code == 0, output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["overall"]["n_judged"] == 6 and results["judge"]["template"] == "medevalkit"


def test_judge_that_is_down_marks_every_judged_sample_judge_error(tmp_path: Path) -> None:
    with JudgeServer("fail") as server:
        start = time.perf_counter()
        code, output = _score(tmp_path, server.url, "--judge-attempts", "2")
        assert time.perf_counter() - start < 60
    assert code == 0, output
    rows = _rows(tmp_path / "out")
    assert all(rows[i]["judge_verdict"] == "judge_error" and rows[i]["judge_error"] for i in ("o1", "o2", "o3", "o4"))
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["overall"]["n_judge_errors"] == 4 and results["judge"]["judge_down"] is True
    assert results["overall"]["accuracy"] == 3 / 6  # the rule score stands untouched
    assert results["overall"]["judge_n"] == 2  # o5 (no answer) and c1: judge errors are never scored


def test_bad_judge_flags_are_one_line_errors(tmp_path: Path) -> None:
    code, output = _score(tmp_path, "http://127.0.0.1:9/v1", "--judge-on", "some")
    assert code != 0 and "--judge-on" in output
    code, output = _score(tmp_path, "http://127.0.0.1:9/v1", "--judge-backend", "hf")
    assert code != 0 and "local model folder" in output


def test_killed_judged_run_resumes_without_a_repeated_call(tmp_path: Path) -> None:
    n = 40
    samples = [{"id": f"s{i}", "question": f"Finding {i}?", "answer": f"finding {i}", "answer_type": "open"}
               for i in range(n)]
    write_jsonl(tmp_path / "data.jsonl", samples)
    out = tmp_path / "run"
    with JudgeServer("agree", delay=0.05) as server:
        cmd = [sys.executable, "-c", "from infimed.cli import main; main()", "eval", "run", "--backend", "mock",
               "--model", "gold", "--data", str(tmp_path / "data.jsonl"), "--out", str(out), "--n-boot", "20",
               "--judge", "judge-m", "--judge-base-url", server.url, "--judge-concurrency", "1"]
        env = {**os.environ, "INFIMED_QUIET": "1"}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cache = out / "judge_cache.jsonl"
        deadline = time.time() + 60
        while time.time() < deadline and (not cache.exists() or len(cache.read_text().splitlines()) < 8):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        before = sum(server.calls.values())
        assert 8 <= before < n
        kept = [json.loads(line)["reply"] for line in cache.read_text().splitlines()]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    # every verdict written before the kill is reused; only the one request in flight (concurrency 1) is asked again
    assert len(server.calls) == n and sum(server.calls.values()) <= n + 1
    assert len(kept) >= 8 and sum(server.calls.values()) == n + (before - len(kept))
    results = json.loads((out / "results.json").read_text())
    assert results["overall"]["judge_accuracy"] == 1.0 and results["overall"]["n_judged"] == n


def test_reports_are_judged_with_the_report_template(tmp_path: Path) -> None:
    report = "Findings: The heart is normal in size. Impression: Normal chest."
    write_jsonl(tmp_path / "data.jsonl", [{"id": "r1", "question": "Write the report.", "answer": report,
                                           "answer_type": "report", "modality": "xray", "task": "report_generation"}])
    write_jsonl(tmp_path / "preds.jsonl", [{"id": "r1", "response": report}])
    with JudgeServer("agree") as server:
        result = RUNNER.invoke(app, ["eval", "score", "--data", str(tmp_path / "data.jsonl"), "--predictions",
                                     str(tmp_path / "preds.jsonl"), "--out", str(tmp_path / "out"), "--n-boot", "20",
                                     "--judge", "judge-m", "--judge-base-url", server.url])
        assert result.exit_code == 0, result.output
        assert sum(server.calls.values()) == 1
    rows = _rows(tmp_path / "out")
    assert rows["r1"]["judge_verdict"] == "correct"
    cache = [json.loads(line) for line in (tmp_path / "out" / "judge_cache.jsonl").read_text().splitlines()]
    assert cache[0]["template"] == "report" and cache[0]["version"] == "infimed-report-judge-v1"
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert abs(results["report_metrics"]["overall"]["bleu4"] - 1.0) < 1e-9


def test_rescore_with_a_local_model_as_judge(tiny_model_dir: Path, tmp_path: Path) -> None:
    data, preds = _data(tmp_path)
    result = RUNNER.invoke(app, ["eval", "score", "--data", str(data), "--predictions", str(preds), "--out",
                                 str(tmp_path / "out"), "--n-boot", "20", "--judge", str(tiny_model_dir),
                                 "--judge-backend", "hf", "--judge-attempts", "1", "--judge-max-tokens", "8"])
    assert result.exit_code == 0, result.output
    rows = _rows(tmp_path / "out")
    assert all(rows[i]["judge_reply"] is not None for i in ("o1", "o2", "o3", "o4"))  # the model answered
    assert all(rows[i]["judge_verdict"] in ("correct", "incorrect", "judge_error") for i in ("o1", "o2", "o3", "o4"))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["judge"]["backend"]["backend"] == "hf"
