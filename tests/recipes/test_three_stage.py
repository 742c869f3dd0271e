"""`infimed recipe three-stage` end to end on the tiny model: every stage's outputs, an evaluation after each,
and an unchanged rerun that reuses every stage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infimed.cli import app
from infimed.recipes.three_stage import STAGES

ARGS = ["--n", "60", "--align-steps", "4", "--sft-steps", "10", "--grpo-steps", "2", "--batch-size", "8", "--k", "2"]


@pytest.fixture(scope="module")
def runs(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    # a copy: the recipe fingerprints the base model's files, and the session fixture is shared
    model = tmp_path_factory.mktemp("base") / "model"
    shutil.copytree(tiny_model_dir, model)
    out = tmp_path_factory.mktemp("three-stage") / "run"
    argv = ["recipe", "three-stage", "--out", str(out), "--model", str(model), *ARGS]
    first = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    assert second.exit_code == 0, second.output
    return out, model, second.output


def test_every_stage_writes_its_outputs(runs: tuple[Path, Path, str]) -> None:
    out, _, _ = runs
    for name in ("captions", "sft", "rl-prompts"):
        assert (out / "curated" / name / "curated.jsonl").stat().st_size > 0
    for stage in STAGES:
        assert (out / "runs" / stage / "model.safetensors").is_file()
        assert (out / "runs" / stage / "loss.jsonl").stat().st_size > 0
        assert (out / "evals" / stage / "results.json").is_file()
    assert (out / "summary.md").read_text().startswith("# Three-stage recipe")


def test_summary_has_an_evaluation_after_each_stage(runs: tuple[Path, Path, str]) -> None:
    out, model, _ = runs
    summary = json.loads((out / "summary.json").read_text())
    assert summary["base_model"] == str(model)
    for stage in STAGES:
        row = summary["stages"][stage]
        assert row["eval"]["n"] > 0 and 0.0 <= row["eval"]["accuracy"] <= 1.0
        lo, hi = row["eval"]["ci95"]
        assert lo <= row["eval"]["accuracy"] <= hi
        assert 0 < row["n_train"] == row["curation"]["n_curated"] <= row["curation"]["n_read"]
        assert row["seconds"] > 0 and row["steps"] > 0
    assert 0.0 <= summary["stages"]["grpo"]["zero_variance_share"] <= 1.0
    # the RL prompts are the pool minus the SFT set, each inside the pass-rate band
    sft_ids = {json.loads(line)["id"] for line in (out / "curated" / "sft" / "curated.jsonl").open()}
    for line in (out / "curated" / "rl-prompts" / "curated.jsonl").open():
        row = json.loads(line)
        assert row["id"] not in sft_ids and 0.0 < row["meta"]["pass_rate"] < 1.0


def test_an_unchanged_rerun_reuses_every_stage(runs: tuple[Path, Path, str]) -> None:
    _, _, output = runs
    for what in ("the phantom vqa data", "the phantom captions data", "caption curation", "SFT curation",
                 "RL prompt selection", *(f"training stage {s}" for s in STAGES),
                 *(f"evaluation after {s}" for s in STAGES)):
        assert f"reused {what} (inputs and settings unchanged)" in output
    assert "rerunning" not in output


def test_a_changed_stage_reruns_it_and_what_follows(runs: tuple[Path, Path, str]) -> None:
    out, model, _ = runs
    argv = ["recipe", "three-stage", "--out", str(out), "--model", str(model), *ARGS[:-2], "--k", "3"]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "reused training stage sft" in result.output
    assert "rerunning RL prompt selection" in result.output
    assert "rerunning training stage grpo" in result.output
    assert "rerunning evaluation after grpo" in result.output


def test_a_missing_data_folder_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "vqa").mkdir()
    result = CliRunner().invoke(app, ["recipe", "three-stage", "--out", str(tmp_path / "run"),
                                      "--data", str(tmp_path / "vqa"), "--n", "20"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "train.jsonl not found" in result.output


@pytest.mark.parametrize("stage,options", [
    ("align", {"batch_size": 8, "logging_steps": 1, "save_steps": 100_000, "seed": 0, "max_steps": 4,
               "learning_rate": 1e-3}),
    ("sft", {"max_steps": 10, "learning_rate": 2e-3, "method": "lora", "freeze_vision": True,
             "freeze_projector": False, "mode": "direct"}),
    ("grpo", {"num_generations": 4, "max_completion_length": 12, "beta": 0.0, "mode": "direct"}),
])
def test_accelerate_launch_line_uses_the_train_commands_flags(stage: str, options: dict, tmp_path: Path) -> None:
    import typer.main

    from infimed.recipes.three_stage import accelerate_argv

    argv = accelerate_argv("zero2", stage, "M", tmp_path / "d.jsonl", tmp_path / "o", options,
                           launch_args="--num_processes 2")
    assert argv[:3] == ["accelerate", "launch", "--config_file"] and argv[3].endswith("zero2.yaml")
    assert Path(argv[3]).is_file() and argv[4:6] == ["--num_processes", "2"] and argv[7:9] == ["train", stage]
    command = typer.main.get_command(app).commands["train"].commands[stage]  # type: ignore[attr-defined]
    ctx = command.make_context(stage, argv[9:])  # parses: every flag exists and every value converts
    assert ctx.params["out"] == tmp_path / "o" and ctx.params["model"] == "M"
    if stage == "sft":
        assert ctx.params["freeze_vision"] is True and ctx.params["freeze_projector"] is False
        assert ctx.params["lr"] == 2e-3 and ctx.params["method"] == "lora"
