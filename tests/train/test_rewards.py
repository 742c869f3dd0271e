"""Table tests for the GRPO reward functions (they read answers through the shared checker)."""

from __future__ import annotations

import json

import pytest

from infimed.train.rewards import REWARDS, build_rewards, completion_text, overlong_penalty

OPTS = json.dumps({"A": "Pneumonia", "B": "Pneumothorax", "C": "Normal"})

FORMAT_CASES = [
    ("<think>opacity in the right lower lobe</think><answer>A</answer>", 1.0),
    ("<think>x</think>\n<answer>yes</answer>", 1.0),
    ("<answer>A</answer>", 0.0),                                  # no think block
    ("<think>x</think>A", 0.0),                                   # answer not tagged
    ("<think>x</think><answer>A</answer> trailing", 0.0),         # text after the answer
    ("<think>x<answer>A</answer></think><answer>A</answer>", 0.0),  # tags nested in the think block
    ("<think>x</think><answer></answer>", 0.0),                   # empty answer
    ("", 0.0),
]


@pytest.mark.parametrize(("completion", "expected"), FORMAT_CASES)
def test_format_reward(completion: str, expected: float) -> None:
    assert REWARDS.get("format")()([completion]) == [expected]


ACCURACY_CASES = [
    # completion, answer_type, answer, options, expected
    ("<think>..</think><answer>A</answer>", "choice", "A", OPTS, 1.0),
    ("<think>..</think><answer>B</answer>", "choice", "A", OPTS, 0.0),
    ("The answer is (A).", "choice", "A", OPTS, 1.0),
    ("Pneumothorax", "choice", "B", OPTS, 1.0),                      # option text names the letter
    ("A or B", "choice", "A", OPTS, 0.0),                            # ambiguous never earns credit
    ("<think>unfinished reasoning", "choice", "A", OPTS, 0.0),      # unclosed think: unparsed
    ("Yes, there is consolidation.", "yes_no", "yes", "", 1.0),
    ("no", "yes_no", "yes", "", 0.0),
    ("There is no effusion", "yes_no", "no", "", 0.0),               # a sentence is not an answer word
    ("<think>..</think><answer>left lung</answer>", "open", "Left lung", "", 1.0),
    ("<think>..</think><answer>right lung</answer>", "open", "left lung", "", 0.0),  # partial off by default
]


@pytest.mark.parametrize(("completion", "answer_type", "answer", "options", "expected"), ACCURACY_CASES)
def test_accuracy_reward(completion: str, answer_type: str, answer: str, options: str, expected: float) -> None:
    reward = REWARDS.get("accuracy")()
    got = reward([completion], answer=[answer], answer_type=[answer_type], options=[options])
    assert got == [expected]


def test_accuracy_partial_credit_for_open_answers_only() -> None:
    reward = REWARDS.get("accuracy")(partial=0.5)
    got = reward(
        ["<answer>right lung</answer>", "<answer>B</answer>", "<answer>left lung</answer>"],
        answer=["left lung", "A", "left lung"], answer_type=["open", "choice", "open"], options=["", OPTS, ""],
    )
    assert got == [pytest.approx(0.25), 0.0, 1.0]  # token F1 0.5 x weight 0.5; wrong letter gets nothing


def test_accuracy_rejects_bad_partial_weight() -> None:
    with pytest.raises(ValueError, match="partial"):
        REWARDS.get("accuracy")(partial=1.5)


@pytest.mark.parametrize(
    ("n_tokens", "expected"),
    [(0, 0.0), (12, 0.0), (14, -0.5), (15, -0.75), (16, -1.0), (40, -1.0)],
)
def test_overlong_penalty(n_tokens: int, expected: float) -> None:
    assert overlong_penalty(n_tokens, max_length=16, buffer=4) == pytest.approx(expected)


def test_length_reward_uses_token_ids_when_given() -> None:
    reward = REWARDS.get("length")(max_length=16, buffer=4)
    assert reward(["a", "b"], completion_ids=[[1] * 10, [1] * 16]) == [0.0, -1.0]


def test_rewards_read_conversational_completions() -> None:
    conv = [[{"role": "assistant", "content": "<think>x</think><answer>A</answer>"}],
            [{"role": "assistant", "content": [{"type": "text", "text": "<think>x</think><answer>C</answer>"}]}]]
    assert completion_text(conv[1]) == "<think>x</think><answer>C</answer>"
    fmt, acc = build_rewards(["format", "accuracy"])
    assert fmt(conv) == [1.0, 1.0]
    assert acc(conv, answer=["A", "A"], answer_type=["choice", "choice"], options=[OPTS, OPTS]) == [1.0, 0.0]


def test_unknown_reward_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="accuracy, format, judge, length"):
        build_rewards(["accuracy", "bleu"])
