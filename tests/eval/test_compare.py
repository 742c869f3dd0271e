from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infimed.cli import app
from infimed.eval.compare import WARN, IncomparableRunsError, compare_runs, render_compare
from infimed.eval.metrics import mcnemar_exact
from infimed.eval.scoring import score_run
from infimed.schema import Sample


def _samples(n: int = 60) -> list[Sample]:
    return [
        Sample(id=f"s{i}", question="Finding?", answer="yes" if i % 2 else "no", answer_type="yes_no",
               modality="ct" if i < n // 2 else "mri", task="abnormality_detection")
        for i in range(n)
    ]


def _run(tmp: Path, name: str, right: set[int], *, errors: frozenset[int] = frozenset(), n: int = 60) -> Path:
    samples = _samples(n)
    preds = {}
    for i, s in enumerate(samples):
        wrong = "no" if s.answer == "yes" else "yes"
        preds[s.id] = {"id": s.id, "response": s.answer if i in right else wrong,
                       "error": "timeout" if i in errors else None}
    score_run(samples, preds, tmp / name, n_boot=200)
    return tmp / name


def test_paired_difference_and_mcnemar(tmp_path: Path) -> None:
    base = _run(tmp_path, "base", set(range(0, 30)))  # right on the first 30 (all ct)
    new = _run(tmp_path, "new", set(range(0, 50)))  # right on 50: 20 better, 0 worse
    result = compare_runs([base, new], n_boot=500)
    assert result["baseline"] == "base" and [r["name"] for r in result["runs"]] == ["base", "new"]
    overall = result["slices"][0]
    assert (overall["slice"], overall["value"]) == ("overall", "all")
    assert [r["accuracy"] for r in overall["runs"]] == [pytest.approx(0.5), pytest.approx(50 / 60)]
    d = overall["diffs"][0]
    assert (d["n_paired"], d["n_better"], d["n_worse"]) == (60, 20, 0)
    assert d["diff"] == pytest.approx(20 / 60)
    assert d["p_value"] == pytest.approx(mcnemar_exact(0, 20)) and d["significant"]
    assert d["ci95"][0] > 0
    by_value = {(s["slice"], s["value"]): s for s in result["slices"]}
    ct = by_value[("modality", "ct")]["diffs"][0]
    assert (ct["n_better"], ct["n_worse"], ct["significant"]) == (0, 0, False)
    assert by_value[("modality", "mri")]["diffs"][0]["n_better"] == 20
    assert ("modality_x_task", "mri/abnormality_detection") in by_value


def test_errors_and_missing_ids_are_left_out_of_pairs(tmp_path: Path) -> None:
    base = _run(tmp_path, "base", set(range(60)), errors=frozenset({0, 1}))
    other = _run(tmp_path, "other", set(range(60)), n=50)  # ten ids never ran
    with pytest.raises(IncomparableRunsError, match="sample ids differ.*10 only in the baseline"):
        compare_runs([base, other], n_boot=100)
    result = compare_runs([base, other], n_boot=100, force=True)
    assert len(result["warnings"]) == 1
    overall = result["slices"][0]
    assert result["n_shared_ids"] == 50
    assert overall["diffs"][0]["n_paired"] == 48
    assert overall["runs"][0]["n"] == 58 and overall["runs"][0]["n_errors"] == 2
    assert overall["diffs"][0]["diff"] == 0.0 and not overall["diffs"][0]["significant"]


def test_render(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", set(range(30)))
    b = _run(tmp_path, "b", set(range(50)))
    c = _run(tmp_path, "c", set(range(10)))
    text = render_compare(compare_runs([a, b, c], n_boot=100))
    assert "| slice | a | b | c | b - a | c - a |" in text
    assert "## Overall" in text and "## Modality x task" in text
    assert "+33.3 [" in text and " *" in text
    assert "| all | 50.0 [" in text


def test_bad_dirs(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", set())
    with pytest.raises(ValueError, match="at least two"):
        compare_runs([a])
    with pytest.raises(FileNotFoundError, match="samples.jsonl"):
        compare_runs([a, tmp_path / "nope"])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "samples.jsonl").write_text('{"id": "s1", "correct": true}\n{"id": "s1", "correct": false}\n')
    with pytest.raises(ValueError, match=r"samples.jsonl:2 \[id=s1\] field 'id': duplicate"):
        compare_runs([a, bad])


def _manifest(run: Path, **changes: object) -> None:
    manifest = {"data": {"sha256": "a" * 64}, "prompts": {"version": "p1", "mode": "direct", "templates": {}}}
    manifest.update(changes)
    (run / "manifest.json").write_text(json.dumps(manifest))


def test_runs_that_asked_other_questions_are_refused_or_marked(tmp_path: Path) -> None:
    base, same = _run(tmp_path, "base", set(range(30))), _run(tmp_path, "same", set(range(40)))
    _manifest(base)
    _manifest(same)
    assert compare_runs([base, same], n_boot=50)["warnings"] == []
    other_data = _run(tmp_path, "other_data", set(range(40)))
    _manifest(other_data, data={"sha256": "b" * 64})
    with pytest.raises(IncomparableRunsError, match="data checksum differs"):
        compare_runs([base, other_data], n_boot=50)
    other_prompt = _run(tmp_path, "other_prompt", set(range(40)))
    _manifest(other_prompt, prompts={"version": "p1", "mode": "reasoning", "templates": {}})
    with pytest.raises(IncomparableRunsError, match="prompts differ.*mode"):
        compare_runs([base, other_prompt], n_boot=50)
    # the gold answers of the same ids changed (a relabelled test file), seen in samples.jsonl itself
    relabelled = tmp_path / "relabelled"
    relabelled.mkdir()
    rows = [json.loads(x) for x in (same / "samples.jsonl").read_text().splitlines()]
    rows[3]["answer"] = "maybe"
    (relabelled / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(IncomparableRunsError, match="gold answers differ on 1 shared id"):
        compare_runs([base, relabelled], n_boot=50)
    forced = compare_runs([base, other_data, other_prompt], n_boot=50, force=True)
    assert len(forced["warnings"]) == 2
    table_lines = [x for x in render_compare(forced).splitlines() if x.startswith("| ") and "slice" not in x]
    assert table_lines and all(WARN in x for x in table_lines)


def test_cli_refuses_incomparable_runs_unless_forced(tmp_path: Path) -> None:
    base, short = _run(tmp_path, "base", set(range(30))), _run(tmp_path, "short", set(range(30)), n=40)
    runner = CliRunner()
    refused = runner.invoke(app, ["eval", "compare", str(base), str(short)], env={"COLUMNS": "300"})
    assert refused.exit_code == 1 and "sample ids differ" in refused.output and "--force" in refused.output
    assert "Traceback" not in refused.output
    forced = runner.invoke(app, ["eval", "compare", str(base), str(short), "--force"], env={"COLUMNS": "300"})
    assert forced.exit_code == 0 and "warning: " in forced.output and WARN in forced.output


def test_error_rows_are_not_wrong_answers(tmp_path: Path) -> None:
    run = _run(tmp_path, "e", set(range(60)), errors=frozenset({0}))
    rows = {r["id"]: r for r in map(json.loads, (run / "samples.jsonl").read_text().splitlines())}
    assert rows["s0"]["correct"] is None and rows["s1"]["correct"] is True
