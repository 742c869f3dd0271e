"""The SFT recipe on the tiny model and the phantom set (CPU, seconds): loss falls, the adapter reloads and
evaluates, a killed run resumes from its checkpoint, and the CLI wires options through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infimed.cli import app
from infimed.train.callbacks import LossLog, read_loss_log
from infimed.train.components import ResumeConflictError
from infimed.train.sft import train_sft

FAST = {"batch_size": 16, "logging_steps": 2, "save_steps": 4}


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir: Path, phantom_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("sft_lora")
    return train_sft(tiny_model_dir, [phantom_dir / "train.jsonl"], out, max_steps=12, learning_rate=5e-3,
                     lora_r=8, **FAST)


@pytest.mark.slow
def test_sft_loss_goes_down(lora_run: dict[str, Any]) -> None:
    log = read_loss_log(Path(lora_run["loss_log"]))
    assert [row["step"] for row in log] == [2, 4, 6, 8, 10, 12]
    first, last = log[0]["loss"], sum(row["loss"] for row in log[-2:]) / 2
    assert last < first - 0.5, [row["loss"] for row in log]
    assert all(row["samples_per_s"] and row["lr"] is not None for row in log)
    assert 0 < lora_run["parameters"]["trainable"] < lora_run["parameters"]["total"] / 5


@pytest.mark.slow
def test_adapter_reloads_and_evaluates(lora_run: dict[str, Any], phantom_dir: Path, tmp_path: Path) -> None:
    from peft import PeftModel

    from infimed.backends.base import BACKENDS, SamplingParams
    from infimed.eval.runner import run_eval
    from infimed.io.jsonl import load_samples
    from infimed.model.loading import load_model_and_processor

    out = Path(lora_run["model"])
    assert (out / "adapter_config.json").exists() and (out / "config.yaml").exists()
    model, _ = load_model_and_processor(out, device="cpu")
    assert isinstance(model, PeftModel)
    # only the language model's projections carry LoRA weights; the vision tower is untouched
    lora_names = [n for n, _ in model.named_parameters() if "lora_" in n]
    assert lora_names and all("language_model" in n for n in lora_names)

    samples = load_samples(phantom_dir / "test.jsonl")[:6]
    backend = BACKENDS.get("hf")(model=out, device="cpu", batch_size=6)
    results = run_eval(samples, backend, SamplingParams(max_new_tokens=4), tmp_path / "eval", n_boot=10)
    assert results["overall"]["n"] == 6 and results["overall"]["n_errors"] == 0
    assert (tmp_path / "eval" / "samples.jsonl").exists()


@pytest.mark.slow
def test_killed_run_resumes_from_last_checkpoint(
    tiny_model_dir: Path, phantom_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "full"
    options: dict[str, Any] = {"method": "full", "max_steps": 4, "learning_rate": 1e-3, "batch_size": 8,
                               "logging_steps": 1, "save_steps": 2}

    log_row = LossLog.on_log

    def crash_after_step_3(self: LossLog, args: Any, state: Any, control: Any, **kw: Any) -> None:
        log_row(self, args, state, control, **kw)
        if state.global_step == 3:
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(LossLog, "on_log", crash_after_step_3)
    with pytest.raises(KeyboardInterrupt):
        train_sft(tiny_model_dir, [phantom_dir / "train.jsonl"], out, **options)
    assert [r["step"] for r in read_loss_log(out / "loss.jsonl")] == [1, 2, 3]
    monkeypatch.undo()

    result = train_sft(tiny_model_dir, [phantom_dir / "train.jsonl"], out, **options)
    assert result["resumed_from"].endswith("checkpoint-2")
    assert result["steps"] == 4
    assert [r["step"] for r in read_loss_log(out / "loss.jsonl")] == [1, 2, 3, 4]  # step 3 logged once
    assert (out / "model.safetensors").exists()  # full fine-tuning saves the whole model

    with pytest.raises(ResumeConflictError, match="learning_rate"):
        train_sft(tiny_model_dir, [phantom_dir / "train.jsonl"], out, **{**options, "learning_rate": 5e-4})


@pytest.mark.slow
def test_cli_mixes_files_and_merges(tiny_model_dir: Path, phantom_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    train = str(phantom_dir / "train.jsonl")
    result = CliRunner().invoke(app, [
        "train", "sft", "--model", str(tiny_model_dir), "--data", train, train, "--ratios", "1,1",
        "--mix-size", "32", "--out", str(out), "--max-steps", "2", "--batch-size", "8", "--balance", "--merge",
        "--max-pixels", "3136",
    ])
    assert result.exit_code == 0, result.output
    assert (out / "adapter_config.json").exists() and (out / "merged" / "model.safetensors").exists()
    assert (out / "loss.jsonl").exists()
    from transformers import AutoModelForImageTextToText

    AutoModelForImageTextToText.from_pretrained(out / "merged")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ratios", "1,2,3"], "3 mixing ratios for 1 files"),
        (["--method", "qlora"], "QLoRA (--method qlora) needs"),
        (["--method", "dora"], "method: unknown 'dora'"),
        (["--schedule", "cyclic"], "schedule: unknown 'cyclic'"),
    ],
)
def test_cli_errors_are_one_clear_line(
    args: list[str], message: str, tiny_model_dir: Path, phantom_dir: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["train", "sft", "--model", str(tiny_model_dir), "--data",
                                      str(phantom_dir / "train.jsonl"), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 1
    assert message in result.output


def test_cli_rejects_missing_data_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "sft", "--model", str(tiny_model_dir), "--data",
                                      str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
