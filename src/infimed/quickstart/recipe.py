"""The quickstart's training recipe: one set of ``train_sft`` options shared by every arm.

Every value below was chosen on the phantom *validation* split (clean questions on cases of their own) with
``bench/quickstart_tune.py``, training the whole-pool arm and scoring it per task type; the test split is
read once per trained model by the quickstart itself. Measured candidates (validation accuracy of the full
arm, 1,500 questions):

- reasoning mode (chosen where every pool sample carries a rationale, as the phantom's do: the target is
  ``<think>finding</think><answer>answer</answer>``, the finding being the task's open answer, e.g. "MRI"):
  600 steps at lr 1e-3 60.7% (every task 14+ points above a uniform guess; the think names the right finding
  for 75-94% of questions of every task, but the choice and yes/no answer after it still do not follow from
  it), 900 steps 59.5%, lr 2e-3 55.7%; the direct mode on the same data 57.1%. A text-only warm-up of 1,500
  steps on 20,000 drills (a given finding -> the option letter / yes or no) taught the drills' yes/no (75%) but
  not their letters (44%), and the image SFT after it named fewer findings right: 55.9%;
- direct mode, with the alignment stage (1,000 steps on 2,400 phantom captions, lr 2e-3) first: SFT 600 steps
  at lr 1e-3 58.1% (the direct-mode choice; every task 9+ points above a uniform guess), 300 steps 54.5%,
  450 steps 54.7%, 600 at 2e-3 54.5%, 300 at 2e-3 53.6%, 300 at 5e-4 51.5%, at 3e-4 45.7%, batch 32 x 300 at
  1.5e-3 55.9%; alignment of 600 steps at 3e-3 51.7%, on 6,000 captions 54.7%, with image-caption matching
  questions added to it 57.8% (and 2.8x its time); tied input/output embeddings 48.4%. The curated arm on
  validation: 51.8% at 600 steps, 47.7% at 300;
- direct mode without it: batch 16 x 300 steps at lr 1e-3 49.2% (modality, region and quadrant at chance), at
  2e-3 48.0%, 200 steps 44.9%; 4 layers 47.3%; 8 heads 43.9%; init 0.05 48.3%; 112-pixel images (16 image tokens) 44.9%;
  an alignment stage of 150 steps 45.4% (language model) / 48.7% (with the vision tower); the vision tower
  trained in SFT 41.6%; 800 steps at 4e-3 50.7%.
"""

from __future__ import annotations

from typing import Any

from infimed.prompts import Mode

# "reasoning": SFT targets and evaluation prompts use <think>rationale</think><answer>...</answer> (when every
# pool sample has a rationale; otherwise "direct", the bare answer)
MODE: Mode = "reasoning"
STEPS = 600  # optimiser steps per arm: the same budget for every arm, so the small arms see more epochs
LEARNING_RATE = 1e-3
BATCH_SIZE = 16
# training seeds per arm, pooled: each seed retrains every arm and draws its own random subset, so neither
# one training run nor one lucky random draw decides the verdict (same-size subsets differ by about a point)
SEEDS = 2
# the phantom test split: a third of the cases (~1,240 questions at the default n), plus HELD_OUT questions
# from cases of their own (the pool does not change): ~6,000 in all, so the paired difference of two arms is
# resolved to about +-1 point. With 1,238 questions it was +-2.7 points, wider than the effect: the same
# models scored on 12,000 fresh questions gave curated-random +2.3 and +1.4 points (each CI excluding 0)
# where the small split had said +3.4 and -0.9. Scoring a question costs ~3.3 ms, training an arm ~36 s.
HELD_OUT = 4800
EVAL_BATCH = 256  # 2,000 questions in 16.0 s against 19.6 s at 64, the same answers
# the tiny model (``build_tiny_model`` keywords) and the alignment stage every arm starts from: after it the
# model names the modality and body region of held-out caption images (~92% / ~97%), which SFT alone never
# taught it; --align-steps 0 skips it
MODEL: dict[str, Any] = {"hidden_size": 128, "num_layers": 2}
ALIGN_STEPS = 1000
ALIGN_N = 3000  # phantom caption pairs, cases of their own: 2,400 to train on, 600 held out for the check
ALIGN_LR = 2e-3
ALIGN_SEED_OFFSET = 1000  # the captions' seed: the run's seed plus this


def arm_recipe(n_samples: int, *, steps: int | None, epochs: float | None, learning_rate: float,
               batch_size: int, mode: Mode = "direct") -> dict[str, Any]:
    """``train_sft`` options for one arm: a fixed step budget (``steps``) or a fixed number of ``epochs``."""
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps (a fixed step budget) or epochs")
    recipe: dict[str, Any] = {"mode": mode, "learning_rate": learning_rate, "batch_size": batch_size, "schedule": "cosine",
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
    targets = ("<think>rationale</think><answer>answer</answer> targets" if first["mode"] == "reasoning"
               else "bare-answer targets")
    return (f"batch {first['batch_size']}, lr {first['learning_rate']:g} ({first['schedule']}, "
            f"{first['warmup']:.0%} warm-up), {trained_parts(first)}, {targets}; " + "; ".join(parts))


def trained_parts(recipe: dict[str, Any]) -> str:
    frozen = [name for key, name in (("freeze_vision", "vision tower"), ("freeze_projector", "projector")) if recipe[key]]
    return "full fine-tuning" + (f" with the {' and '.join(frozen)} frozen" if frozen else " of every weight")


def train_flags(recipe: dict[str, Any]) -> str:
    """The ``infimed train sft`` switches that reproduce the recipe's mode and frozen/trained parts."""
    return " ".join([
        f"--mode {recipe['mode']}",
        "--freeze-vision" if recipe["freeze_vision"] else "--train-vision",
        "--freeze-projector" if recipe["freeze_projector"] else "--train-projector",
    ])
