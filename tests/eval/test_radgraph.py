"""RadGraph F1 through the `radgraph` package: local weights only, hub off, three levels with intervals.

The package itself (and its DyGIE++ weights) is not installed in CI; a stand-in module with its constructor
and return shape (``F1RadGraph(reward_level="all", ...)(hyps=, refs=)`` -> mean, (simple, partial, complete)
per-report lists, graphs) checks the wrapper: what it passes, that nothing may download, the aggregation.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infimed.cli import app
from infimed.eval.clinical import ClinicalMetricError
from infimed.eval.radgraph import level_scores, radgraph_f1


@pytest.fixture
def fake_radgraph(monkeypatch: pytest.MonkeyPatch) -> dict:
    seen: dict = {}

    class F1RadGraph:
        def __init__(self, **kwargs):
            seen["init"] = kwargs
            seen["offline_at_init"] = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))

        def __call__(self, hyps, refs):
            seen["offline_at_call"] = os.environ.get("HF_HUB_OFFLINE")
            simple = [1.0 if h == r else 0.5 for h, r in zip(hyps, refs, strict=True)]
            levels = (simple, [v / 2 for v in simple], [v / 4 for v in simple])
            return tuple(sum(v) / len(v) for v in levels), levels, [], []

    module = types.ModuleType("radgraph")
    module.F1RadGraph = F1RadGraph  # type: ignore[attr-defined]
    module.__spec__ = types.SimpleNamespace(name="radgraph")  # type: ignore[assignment]
    monkeypatch.setitem(sys.modules, "radgraph", module)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: object() if name == "radgraph" else None)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return seen


def _model_dir(root: Path, model_type: str = "radgraph-xl") -> Path:
    (root / model_type).mkdir(parents=True)
    (root / model_type / "config.json").write_text("{}")
    return root


def test_scores_three_levels_from_local_weights_with_the_hub_off(fake_radgraph: dict, tmp_path: Path) -> None:
    model = _model_dir(tmp_path / "rg")
    out = radgraph_f1(["no effusion", "mild edema"], ["no effusion", "no edema"], model, n_boot=200)
    assert out["n"] == 2 and out["simple"] == 0.75 and out["partial"] == 0.375 and out["complete"] == 0.1875
    assert out["simple_ci95"][0] <= 0.75 <= out["simple_ci95"][1]
    init = fake_radgraph["init"]
    assert init["reward_level"] == "all" and init["model_type"] == "radgraph-xl"
    assert init["model_cache_dir"] == str(model) and init["tokenizer_cache_dir"] == str(model / "hf")
    assert fake_radgraph["offline_at_init"] == ("1", "1") and fake_radgraph["offline_at_call"] == "1"
    assert "HF_HUB_OFFLINE" not in os.environ  # restored afterwards


def test_missing_weights_or_package_are_one_line_errors(fake_radgraph: dict, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ClinicalMetricError, match="radgraph-xl/config.json is missing"):
        radgraph_f1(["a"], ["b"], tmp_path / "empty")
    with pytest.raises(ClinicalMetricError, match="expected one of"):
        radgraph_f1(["a"], ["b"], tmp_path, model_type="radgraph-9")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(ClinicalMetricError, match="pip install 'infimed\\[clinical\\]'"):
        radgraph_f1(["a"], ["b"], _model_dir(tmp_path / "rg"))


def test_level_scores_interval_brackets_the_mean() -> None:
    out = level_scores([[0.0, 1.0, 1.0, 0.0], [0.5] * 4, [1.0] * 4], n_boot=500, seed=1)
    assert out["simple"] == 0.5 and out["partial_ci95"] == [0.5, 0.5] and out["complete"] == 1.0
    assert out["simple_ci95"][0] < 0.5 < out["simple_ci95"][1]


def test_clinical_command_writes_radgraph_scores(fake_radgraph: dict, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"id": f"r{i}", "answer_type": "report", "error": None, "extracted": h, "answer": r}
            for i, (h, r) in enumerate([("Mild cardiomegaly.", "Mild cardiomegaly."), ("Clear.", "Effusion.")])]
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "results.json").write_text(json.dumps({"overall": {"n": 0}, "report_metrics": {"overall": {"n": 2}}}))
    result = CliRunner().invoke(app, ["eval", "clinical", str(run), "--radgraph", str(_model_dir(tmp_path / "rg")),
                                      "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "results.json").read_text())["report_metrics"]
    assert metrics["radgraph"]["simple"] == 0.75 and metrics["overall"] == {"n": 2}
    none = CliRunner().invoke(app, ["eval", "clinical", str(run)])
    assert none.exit_code == 2 and "--chexbert and/or --radgraph" in none.output
