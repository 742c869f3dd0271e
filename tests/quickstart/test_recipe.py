"""The quickstart recipe: one step budget for every arm, and a description that says so per arm."""

from __future__ import annotations

import pytest

from infimed.quickstart.recipe import arm_recipe, describe_recipe


def test_fixed_step_budget_gives_small_arms_more_epochs() -> None:
    n_train = {"curated": 640, "random": 640, "full": 3200}
    recipes = {arm: arm_recipe(n, steps=300, epochs=None, learning_rate=2e-3, batch_size=32)
               for arm, n in n_train.items()}
    assert {r["max_steps"] for r in recipes.values()} == {300}
    assert recipes["curated"]["epochs"] == pytest.approx(15.0) and recipes["full"]["epochs"] == pytest.approx(3.0)
    text = describe_recipe(recipes, n_train)
    assert "curated 300 steps = 15.0 epochs of 640" in text and "full 300 steps = 3.0 epochs of 3200" in text
    assert "lr 0.002" in text and "batch 32" in text


def test_fixed_epochs_and_bad_choice() -> None:
    r = arm_recipe(100, steps=None, epochs=2.0, learning_rate=1e-3, batch_size=10)
    assert r["max_steps"] == -1 and r["epochs"] == 2.0
    assert "20 steps = 2.0 epochs of 100" in describe_recipe({"full": r}, {"full": 100})
    with pytest.raises(ValueError, match="exactly one"):
        arm_recipe(100, steps=10, epochs=2.0, learning_rate=1e-3, batch_size=10)


def test_recipe_states_and_reproduces_what_was_frozen():
    from infimed.quickstart.recipe import train_flags

    recipe = arm_recipe(640, steps=300, epochs=None, learning_rate=2e-3, batch_size=32)
    assert train_flags(recipe) == "--mode direct --freeze-vision --train-projector"
    assert "full fine-tuning with the vision tower frozen" in describe_recipe({"curated": recipe}, {"curated": 640})
    assert train_flags({**recipe, "freeze_vision": False}) == "--mode direct --train-vision --train-projector"


def test_reasoning_mode_is_stated_and_reproduced() -> None:
    from infimed.quickstart.recipe import train_flags

    recipe = arm_recipe(640, steps=300, epochs=None, learning_rate=1e-3, batch_size=16, mode="reasoning")
    assert recipe["mode"] == "reasoning" and train_flags(recipe).startswith("--mode reasoning ")
    assert "<think>rationale</think><answer>answer</answer> targets" in describe_recipe({"full": recipe}, {"full": 640})
    direct = arm_recipe(640, steps=300, epochs=None, learning_rate=1e-3, batch_size=16)
    assert "bare-answer targets" in describe_recipe({"full": direct}, {"full": 640})
