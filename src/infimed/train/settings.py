"""What the SFT and GRPO recipes share besides the model: option checks, data, and trainer settings.

Both trainers take TRL configs that subclass ``transformers.TrainingArguments``; the keys common to the two
are built here once, so a schedule, checkpoint or logging fix lands in both recipes at the same time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infimed import progress
from infimed.schema import Sample
from infimed.train import components
from infimed.train.data import answer_counts, balance_answers, load_trainable

MODES = ("direct", "reasoning")
SCHEDULES = ("cosine", "linear", "constant", "constant_with_warmup")


def check_options(*, mode: str, method: str, schedule: str, warmup: float, batch_size: int,
                  grad_accum: int, learning_rate: float) -> None:
    """Refuse settings no trainer can mean, before any data or model is loaded."""
    if mode not in MODES:
        raise ValueError(f"mode: expected 'direct' or 'reasoning', got {mode!r}")
    if method not in components.METHODS:
        raise ValueError(f"method: unknown {method!r}; expected one of {', '.join(components.METHODS)}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: unknown {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    if warmup < 0:
        raise ValueError(f"warmup: must be >= 0 (a fraction of the steps below 1, else a step count), got {warmup}")
    if learning_rate <= 0:
        raise ValueError(f"learning_rate: must be > 0, got {learning_rate}")
    if batch_size < 1 or grad_accum < 1:
        raise ValueError(f"batch_size and grad_accum must be >= 1, got {batch_size} and {grad_accum}")


def training_samples(data: Sequence[Path | str], out_dir: Path, *, ratios: list[float] | None,
                     size: int | None, balance: bool, seed: int) -> tuple[list[Sample], list[dict[str, str]]]:
    """The mixed, readable (optionally answer-balanced) samples, and those skipped for unreadable images."""
    samples, skipped = load_trainable([Path(p) for p in data], out_dir, ratios=ratios, size=size, seed=seed)
    return (balance_answers(samples, seed=seed) if balance else samples), skipped


def data_summary(samples: Sequence[Sample], skipped: Sequence[dict[str, str]]) -> dict[str, Any]:
    return {"n_samples": len(samples), "n_skipped_unreadable": len(skipped), "answers": answer_counts(samples)}


def trainer_arguments(out_dir: Path, *, epochs: float, max_steps: int, learning_rate: float, schedule: str,
                      warmup: float, batch_size: int, grad_accum: int, gradient_checkpointing: bool,
                      save_steps: int, save_total_limit: int, logging_steps: int, seed: int) -> dict[str, Any]:
    """Keyword arguments common to ``SFTConfig`` and ``GRPOConfig``."""
    return {
        "output_dir": str(out_dir / components.CHECKPOINTS),
        "num_train_epochs": epochs,
        "max_steps": max_steps,
        "learning_rate": learning_rate,
        "lr_scheduler_type": schedule,
        "warmup_steps": warmup,
        "per_device_train_batch_size": batch_size,
        "gradient_accumulation_steps": grad_accum,
        "gradient_checkpointing": gradient_checkpointing,
        "save_strategy": "steps",
        "save_steps": save_steps,
        "save_total_limit": save_total_limit,
        "logging_steps": logging_steps,
        "seed": seed,
        "data_seed": seed,
        "remove_unused_columns": False,  # images decode on access; the rewards read answer/options columns
        "dataloader_num_workers": 0,
        "report_to": [],
        "disable_tqdm": not progress.enabled(),
        "bf16": components.use_bf16(),
    }
