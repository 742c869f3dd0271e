"""The option checks and trainer settings that SFT and GRPO share."""

from __future__ import annotations

from pathlib import Path

import pytest

from infimed.train import settings

GOOD = {"mode": "direct", "method": "lora", "schedule": "cosine", "warmup": 0.05, "batch_size": 4,
        "grad_accum": 1, "learning_rate": 1e-4}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "cot"}, "mode: expected 'direct' or 'reasoning'"),
        ({"method": "dora"}, "method: unknown 'dora'"),
        ({"schedule": "cyclic"}, "schedule: unknown 'cyclic'"),
        ({"warmup": -1}, "warmup: must be >= 0"),
        ({"learning_rate": 0.0}, "learning_rate: must be > 0"),
        ({"grad_accum": 0}, "batch_size and grad_accum must be >= 1"),
    ],
)
def test_check_options_refuses_what_no_trainer_can_mean(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings.check_options(**{**GOOD, **change})


def test_good_options_pass() -> None:
    settings.check_options(**GOOD)


def test_sft_and_grpo_configs_accept_the_shared_arguments(tmp_path: Path) -> None:
    from trl import GRPOConfig, SFTConfig

    kwargs = settings.trainer_arguments(
        tmp_path, epochs=1.0, max_steps=3, learning_rate=1e-4, schedule="cosine", warmup=0.1, batch_size=4,
        grad_accum=2, gradient_checkpointing=False, save_steps=2, save_total_limit=1, logging_steps=1, seed=3,
    )
    for config in (SFTConfig(**kwargs), GRPOConfig(**kwargs, num_generations=2)):
        assert config.lr_scheduler_type == "cosine" and config.max_steps == 3
        assert config.output_dir == str(tmp_path / "checkpoints") and config.seed == config.data_seed == 3
        assert config.remove_unused_columns is False
