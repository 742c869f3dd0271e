"""``--limit``: a seeded sample stratified over answer, modality and task; the manifest records it, the
bootstrap seed and the generation time summed over a resumed run's chunks."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from infimed.cli import app
from infimed.eval.runner import generation_time
from infimed.eval.subset import stratified_limit
from infimed.io.jsonl import write_jsonl
from infimed.schema import Sample

RUNNER = CliRunner()


def _pubmedqa_like(n_yes: int = 120, n_no: int = 80) -> list[Sample]:
    """Sorted by label like PubMedQA's test file: every "yes" first."""
    answers = ["yes"] * n_yes + ["no"] * n_no
    return [Sample(id=f"q{i}", question=f"Does treatment {i} help?", answer=a, answer_type="yes_no",
                   modality=("ct", "mri")[i % 2], task="disease_diagnosis") for i, a in enumerate(answers)]


def test_limit_is_stratified_so_a_constant_answerer_is_not_rewarded() -> None:
    samples = _pubmedqa_like()
    chosen = stratified_limit(samples, 20, seed=0)
    assert len(chosen) == 20
    answers, modalities = Counter(s.answer for s in chosen), Counter(s.modality for s in chosen)
    assert 11 <= answers["yes"] <= 13  # the file's 60/40 (each stratum within one), not the first 20's 100/0
    assert 9 <= modalities["ct"] <= 11
    assert [s.id for s in chosen] == [s.id for s in samples if s in chosen]  # file order kept


def test_limit_depends_only_on_data_and_seed() -> None:
    samples = _pubmedqa_like()
    a = [s.id for s in stratified_limit(samples, 15, seed=3)]
    assert a == [s.id for s in stratified_limit(list(samples), 15, seed=3)]
    assert a != [s.id for s in stratified_limit(samples, 15, seed=4)]
    assert len(stratified_limit(samples, 500, seed=0)) == len(samples)


def test_a_shorter_limit_is_part_of_a_longer_one() -> None:
    samples = _pubmedqa_like()
    for seed in range(5):
        short = {s.id for s in stratified_limit(samples, 13, seed=seed)}
        assert short <= {s.id for s in stratified_limit(samples, 40, seed=seed)}


def test_small_strata_share_within_one() -> None:
    samples = [Sample(id=f"c{i}", question="Which?", options={"A": "x", "B": "y", "C": "z"}, answer="ABC"[i % 3],
                      answer_type="choice") for i in range(10)]
    chosen = stratified_limit(samples, 4, seed=1)
    assert len(chosen) == 4 and set(Counter(s.answer for s in chosen).values()) <= {1, 2}


def test_run_and_score_limit_pick_the_same_samples_and_record_it(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    write_jsonl(data, [s.to_json_dict() for s in _pubmedqa_like(60, 40)])
    run = RUNNER.invoke(app, ["eval", "run", "--backend", "mock", "--model", "always:yes", "--data", str(data),
                              "--out", str(tmp_path / "run"), "--limit", "10", "--limit-seed", "7", "--n-boot", "30",
                              "--seed", "5"])
    assert run.exit_code == 0, run.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert 0.4 <= results["overall"]["accuracy"] <= 0.8  # a constant "yes" gets about the file's yes rate, not 100%
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["subset"]["limit"] == 10 and manifest["subset"]["seed"] == 7
    assert manifest["subset"]["n_total"] == 100 and manifest["bootstrap"]["seed"] == 5
    assert manifest["generation"]["n_sessions"] == 1 and manifest["generation"]["seconds_total"] >= 0
    run_ids = [json.loads(line)["id"] for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    preds = tmp_path / "preds.jsonl"
    write_jsonl(preds, [{"id": s.id, "response": "yes"} for s in _pubmedqa_like(60, 40)])
    score = RUNNER.invoke(app, ["eval", "score", "--data", str(data), "--predictions", str(preds), "--out",
                                str(tmp_path / "score"), "--limit", "10", "--limit-seed", "7", "--n-boot", "30",
                                "--seed", "9"])
    assert score.exit_code == 0, score.output
    assert "match no sample" not in score.output  # responses to samples left out are not strays
    score_ids = [json.loads(line)["id"] for line in (tmp_path / "score" / "samples.jsonl").read_text().splitlines()]
    assert score_ids == run_ids
    scored = json.loads((tmp_path / "score" / "manifest.json").read_text())
    assert scored["bootstrap"]["seed"] == 9 and scored["subset"]["ids_sha256"] == manifest["subset"]["ids_sha256"]
    bad = RUNNER.invoke(app, ["eval", "score", "--data", str(data), "--predictions", str(preds), "--out",
                              str(tmp_path / "bad"), "--limit", "0"])
    assert bad.exit_code != 0 and "--limit" in bad.output


def test_generation_time_sums_every_chunk(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    rows = [{"id": "a", "session": 100.0, "t": 103.0}, {"id": "b", "session": 100.0, "t": 110.0},
            {"id": "c", "session": 500.0, "t": 505.5}, {"id": "old"}]  # a killed chunk, its resume, an old row
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"id": "torn", "sess')
    assert generation_time(path) == {"seconds_total": 15.5, "n_sessions": 2}
