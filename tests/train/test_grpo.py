"""GRPO on the tiny model (CPU): it runs with images and the checker rewards, and a learnable dense reward rises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infimed.cli import app
from infimed.train.callbacks import read_loss_log
from infimed.train.grpo import train_grpo

LOW_ID_LIMIT = 800  # the tiny vocabulary has ~1.6k tokens: "low" ids are about half of it


def low_token_share(completions: list[Any], completion_ids: list[list[int]], **_: Any) -> list[float]:
    """Dense, learnable reward: the share of completion tokens with a low id (a random policy gets ~0.5)."""
    return [sum(t < LOW_ID_LIMIT for t in ids) / max(1, len(ids)) for ids in completion_ids]


@pytest.mark.slow
def test_grpo_reward_rises(tiny_model_dir: Path, phantom_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "grpo"
    result = train_grpo(
        tiny_model_dir, [phantom_dir / "train.jsonl"], out,
        reward=[low_token_share, "format", "accuracy", "length"], reward_weights=[1.0, 0.0, 0.0, 0.0],
        method="full", learning_rate=1e-2, beta=0.0, num_generations=4, batch_size=16, max_completion_length=8,
        max_steps=16, logging_steps=1, save_steps=100,
    )
    log = read_loss_log(Path(result["loss_log"]))
    rewards = [row["rewards/low_token_share/mean"] for row in log]
    assert len(rewards) == 16
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 0.15, rewards
    # the checker rewards ran on every completion (a random policy earns none of them)
    assert {"rewards/format_reward/mean", "rewards/accuracy_reward/mean", "rewards/length_reward/mean"} <= set(log[0])
    assert (out / "model.safetensors").exists() and (out / "config.yaml").exists()
    # the share of groups whose completions all scored the same is logged per step and summarised
    shares = [row["zero_variance_share"] for row in log]
    assert all(0.0 <= s <= 1.0 for s in shares)
    assert result["zero_variance_share"] == pytest.approx(sum(shares) / len(shares), abs=1e-4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--use-vllm"], "--use-vllm) needs"),
        (["--batch-size", "6"], "batch_size (6) must be a multiple of num_generations (4)"),
        (["--reward", "format,bleu"], "unknown reward 'bleu'"),
        (["--reward", "format,judge"], "the judge reward needs a judge model"),
        (["--reward", "judge", "--judge", "m"], "needs --judge-base-url"),
        (["--reward", "format,accuracy", "--reward-weights", "1"], "1 reward weights for 2 rewards"),
        (["--schedule", "cyclic"], "schedule: unknown 'cyclic'"),
        (["--lr", "0"], "learning_rate: must be > 0"),
    ],
)
def test_grpo_cli_errors(args: list[str], message: str, tiny_model_dir: Path, phantom_dir: Path,
                         tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "grpo", "--model", str(tiny_model_dir), "--data",
                                      str(phantom_dir / "train.jsonl"), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 1, result.output
    assert message in result.output
