from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType

import pytest

from infimed.checkers import (
    check,
    check_sample,
    extract_choice,
    extract_yes_no,
    normalize_open,
    parse_think_answer,
    strip_think,
    token_prf,
)
from infimed.schema import Sample


def _load_table() -> ModuleType:
    """The case table beside this file, loaded by path (works with any pytest import mode)."""
    path = Path(__file__).with_name("checker_cases.py")
    spec = importlib.util.spec_from_file_location("infimed_checker_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_TABLE = _load_table()
ALL, OPTIONS = _TABLE.ALL, _TABLE.OPTIONS


def test_table_is_large() -> None:
    assert len(ALL) >= 150
    assert len({(r, t, o) for r, t, o, _, _ in ALL}) == len(ALL), "duplicate rows"


@pytest.mark.parametrize(("response", "answer_type", "options", "expected", "rule"), ALL)
def test_table(response: str, answer_type: str, options: str | None, expected: str | None, rule: str) -> None:
    opts = OPTIONS[options] if options else None
    gold = expected or {"choice": "A", "yes_no": "yes", "open": "left lung"}[answer_type]
    got = check(response, answer_type=answer_type, answer=gold, options=opts)
    assert (got.extracted, got.rule) == (expected, rule)
    assert got.correct is (expected is not None)


def test_medevalkit_faults_are_fixed() -> None:
    med = OPTIONS["med"]
    assert not check("", answer_type="choice", answer="A", options=med).correct  # empty is not option A
    assert check("The answer is: B", answer_type="choice", answer="B", options=med).correct
    assert check("Option B", answer_type="choice", answer="B", options=med).extracted == "B"
    assert check("Not sure", answer_type="yes_no", answer="no").extracted is None
    assert check("Yes, a nodule is present", answer_type="yes_no", answer="yes").correct
    assert check("<think>so A</think>B", answer_type="choice", answer="B", options=med).correct


def test_wrong_answers_are_read_and_scored_wrong() -> None:
    med = OPTIONS["med"]
    got = check("The answer is C.", answer_type="choice", answer="B", options=med)
    assert (got.extracted, got.correct, got.rule) == ("C", False, "marker")
    got = check("No.", answer_type="yes_no", answer="yes")
    assert (got.extracted, got.correct) == ("no", False)
    assert check("b", answer_type="choice", answer="b", options=med).correct  # gold letter case ignored


def test_choice_without_options_accepts_a_to_h() -> None:
    assert extract_choice("(H)", None) == ("H", "letter")
    assert extract_choice("I", None) == (None, "unparsed")


def test_strip_think() -> None:
    assert strip_think("<think>x</think> B") == "B"
    assert strip_think("<think>x</think>A<think>y</think>") == "A"
    assert strip_think("<think>never closed") is None
    assert strip_think("<think>a</think><think>b") is None
    assert strip_think("reasoning from the template</think>\nC") == "C"
    assert strip_think("plain") == "plain"


def test_parse_think_answer_is_strict() -> None:
    assert parse_think_answer("<think>look</think><answer>B</answer>") == ("look", "B")
    assert parse_think_answer("  <think>\nlook\n</think>\n<answer> yes </answer>\n") == ("look", "yes")
    assert parse_think_answer("<think>look</think>B") is None
    assert parse_think_answer("<answer>B</answer>") is None
    assert parse_think_answer("<think>a</think><answer>B</answer> extra") is None
    assert parse_think_answer("<think>a<think>b</think><answer>B</answer>") is None
    assert parse_think_answer("<think>a</think><answer> </answer>") is None


def test_normalize_open() -> None:
    assert normalize_open("The answer is: The Left Lung!") == "left lung"
    assert normalize_open("**An** `enlarged` heart.") == "enlarged heart"
    assert normalize_open("Three nodules") == "3 nodules"
    assert normalize_open("答案：左肺。") == "左肺"
    assert normalize_open("  ") == ""


def test_open_exact_match_and_token_f1() -> None:
    got = check("The lesion is in the left upper lobe", answer_type="open", answer="left upper lobe")
    assert not got.correct
    assert got.precision == pytest.approx(3 / 6)  # "lesion is in left upper lobe": 6 tokens w/o articles
    assert got.recall == pytest.approx(1.0)
    assert got.f1 == pytest.approx(2 / 3)
    exact = check("Left upper lobe.", answer_type="open", answer="left upper lobe")
    assert exact.correct and exact.f1 == 1.0
    empty = check("", answer_type="open", answer="liver")
    assert (empty.extracted, empty.correct, empty.f1, empty.precision, empty.recall) == (None, False, 0.0, 0.0, 0.0)


def test_token_prf_order_and_cjk() -> None:
    precision, recall, f1 = token_prf("left lung base", "left lung")
    assert (precision, recall) == (pytest.approx(2 / 3), 1.0)  # not swapped
    assert f1 == pytest.approx(0.8)
    assert token_prf("左肺", "左肺下叶") == (1.0, 0.5, pytest.approx(2 / 3))  # character tokens
    assert token_prf("", "x") == (0.0, 0.0, 0.0)


def test_closed_types_have_no_f1() -> None:
    got = check("B", answer_type="choice", answer="B", options=OPTIONS["med"])
    assert (got.precision, got.recall, got.f1) == (None, None, None)


def test_check_sample_and_bad_answer_type() -> None:
    sample = Sample(id="s1", question="Which?", options=OPTIONS["med"], answer="C", answer_type="choice")
    assert check_sample(sample, "Answer: (C)").correct
    assert check_sample(sample, None).rule == "empty"
    with pytest.raises(ValueError, match="answer_type"):
        check("B", answer_type="multiple", answer="B")


def test_extractors_are_deterministic() -> None:
    text = "<think>hmm A?</think>The correct option is (c), pleural effusion."
    assert {extract_choice(text, OPTIONS["med"]) for _ in range(5)} == {("C", "marker")}
    assert extract_yes_no("yes") == ("yes", "leading_word")


@pytest.mark.parametrize(
    "text",
    ["final " * 20000, "<think>" * 20000, "答案" * 20000, "A" + " " * 50000 + "x", "\n" * 50000 + "x", "(a" * 30000],
    ids=["repeated-marker-words", "open-thinks", "cjk-markers", "long-blank", "many-lines", "parens"],
)
def test_degenerate_output_takes_linear_time(text: str) -> None:
    """Runaway generations (repetition loops) must not make the regexes backtrack for minutes."""
    start = time.perf_counter()
    check(text, answer_type="choice", answer="B", options=OPTIONS["med"])
    check(text, answer_type="yes_no", answer="yes")
    check(text, answer_type="open", answer="x")
    assert time.perf_counter() - start < 2.0
