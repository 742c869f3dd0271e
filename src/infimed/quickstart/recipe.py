"""The quickstart's training recipe: one set of ``train_sft`` options shared by every arm."""

from __future__ import annotations

from typing import Any

STEPS = 300  # optimiser steps per arm: the same budget for every arm, so the small arms see more epochs
LEARNING_RATE = 2e-3
BATCH_SIZE = 16
# training seeds per arm, pooled: each seed retrains every arm and draws its own random subset, so neither
# one training run nor one lucky random draw decides the verdict (same-size subsets differ by about a point)
SEEDS = 2
# the phantom test split: a third of the cases (~1,240 questions at the default n), plus HELD_OUT questions
# from cases of their own (the pool does not change): ~6,000 in all, so the paired difference of two arms is
# resolved to about +-1 point. With 1,238 questions it was +-2.7 points, wider than the effect: the same
# models scored on 12,000 fresh questions gave curated-random +2.3 and +1.4 points (each CI excluding 0)
# where the small split had said +3.4 and -0.9. Scoring a question costs ~2 ms, training an arm ~75 s.
HELD_OUT = 4800
EVAL_BATCH = 64
# the tiny model (``build_tiny_model`` keywords) and the alignment stage every arm starts from
MODEL: dict[str, Any] = {"hidden_size": 128, "num_layers": 2}
ALIGN_STEPS = 0
ALIGN_N = 2000  # phantom caption pairs (cases of their own)
ALIGN_LR = 2e-3
ALIGN_SEED_OFFSET = 1000  # the captions' seed: the run's seed plus this


def arm_recipe(n_samples: int, *, steps: int | None, epochs: float | None, learning_rate: float,
               batch_size: int) -> dict[str, Any]:
    """``train_sft`` options for one arm: a fixed step budget (``steps``) or a fixed number of ``epochs``."""
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps (a fixed step budget) or epochs")
    recipe: dict[str, Any] = {"learning_rate": learning_rate, "batch_size": batch_size, "schedule": "cosine",
                              "warmup": 0.05, "balance": False, "freeze_vision": True, "freeze_projector": False,
                              "logging_steps": 5, "save_steps": 100_000, "cache_vision_features": True}
    if steps is not None:
        recipe.update(max_steps=steps, epochs=max(1.0, steps * batch_size / max(n_samples, 1)))
    else:
        recipe.update(max_steps=-1, epochs=epochs)
    return recipe


def describe_recipe(recipes: dict[str, dict[str, Any]], n_train: dict[str, int]) -> str:
    """One plain sentence per arm: steps, epochs (samples seen / arm size), lr and batch."""
    parts = []
    for arm, r in recipes.items():
        bs = r["batch_size"]
        steps = r["max_steps"] if r["max_steps"] > 0 else -(-int(r["epochs"] * n_train[arm]) // bs)
        parts.append(f"{arm} {steps} steps = {steps * bs / max(n_train[arm], 1):.1f} epochs of {n_train[arm]}")
    first = next(iter(recipes.values()))
    return (f"batch {first['batch_size']}, lr {first['learning_rate']:g} ({first['schedule']}, "
            f"{first['warmup']:.0%} warm-up), {trained_parts(first)}; " + "; ".join(parts))


def trained_parts(recipe: dict[str, Any]) -> str:
    frozen = [name for key, name in (("freeze_vision", "vision tower"), ("freeze_projector", "projector")) if recipe[key]]
    return "full fine-tuning" + (f" with the {' and '.join(frozen)} frozen" if frozen else " of every weight")


def train_flags(recipe: dict[str, Any]) -> str:
    """The ``infimed train sft`` switches that reproduce the recipe's frozen/trained parts."""
    return " ".join([
        "--freeze-vision" if recipe["freeze_vision"] else "--train-vision",
        "--freeze-projector" if recipe["freeze_projector"] else "--train-projector",
    ])
