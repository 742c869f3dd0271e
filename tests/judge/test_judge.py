"""The LLM judge against a loopback OpenAI-compatible server that agrees, disagrees, answers garbage,
times out and fails; the verdict cache; and a tiny local model as judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from judge_server import JudgeServer

from infimed.checkers import judge_applies, judge_candidate
from infimed.judge import JudgeItem, build_judge, get_template
from infimed.judge.agreement import cohen_kappa

ITEMS = [
    JudgeItem("a", "Which organ is enlarged?", "heart", "cardiac"),
    JudgeItem("b", "Which side is the effusion?", "left lung", "right lung"),
    JudgeItem("c", "What is shown?", "pneumonia", "pneumonia"),
    JudgeItem("d", "Which organ is enlarged?", "heart", "cardiac"),  # the same as a
]


def _judge(server: JudgeServer, tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    kw.setdefault("backoff_base", 0.0)
    return build_judge("judge-m", base_url=server.url, cache_path=tmp_path / "cache.jsonl", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("reply", "expected"), [
    ("Same meaning.\n<verdict>correct</verdict>", True),
    ("<verdict> Incorrect </verdict>\n", False),
    ("<verdict>correct</verdict> but maybe not", None),  # the verdict must end the reply
    ("<verdict>correct</verdict>\n<verdict>incorrect</verdict>", None),  # two verdicts that disagree
    ("<verdict>maybe</verdict>", None),
    ("correct", None),
    ("", None),
])
def test_default_template_verdict_is_strict(reply: str, expected: bool | None) -> None:
    assert get_template("infimed").parse(reply) is expected


@pytest.mark.parametrize(("reply", "expected"), [
    ("<think>same</think>\n<judge>0</judge>", True),  # MedEvalKit: 0 means correct
    ("<think>differs</think><judge>1</judge>", False),
    ("<judge>0/1</judge>", None),
    ("<think>x</think>", None),
])
def test_medevalkit_template(reply: str, expected: bool | None) -> None:
    template = get_template("medevalkit")
    assert template.parse(reply) is expected
    prompt = template.prompt(question="Q?", reference="heart", candidate="cardiac")
    assert "The standard answer: heart" in prompt and "The user's answer: cardiac" in prompt
    assert "0 means correct" in prompt and "<judge>{0/1}</judge>" in prompt


def test_agreeing_judge_and_cache_makes_no_second_call(tmp_path: Path) -> None:
    with JudgeServer("agree") as server:
        verdicts = _judge(server, tmp_path).grade(ITEMS)
        assert {k: v.correct for k, v in verdicts.items()} == {"a": True, "b": False, "c": True, "d": True}
        assert server.calls == {"cardiac": 1, "right lung": 1, "pneumonia": 1}  # a and d share one request
        assert "<verdict>correct</verdict>" in str(verdicts["a"].reply)
        again = _judge(server, tmp_path)
        rerun = again.grade(ITEMS)
        assert sum(server.calls.values()) == 3 and all(v.cached for v in rerun.values())
        assert again.stats.n_calls == 0 and again.stats.n_cached == 4
        other = build_judge("judge-m", base_url=server.url, template="medevalkit", backoff_base=0.0,
                            cache_path=tmp_path / "cache.jsonl")
        server.template = "medevalkit"
        assert other.grade(ITEMS[:1])["a"].correct is True  # another template version is another key
        assert server.calls["cardiac"] == 2


def test_disagreeing_judge(tmp_path: Path) -> None:
    with JudgeServer("disagree") as server:
        verdicts = _judge(server, tmp_path).grade(ITEMS[:3])
    assert [verdicts[i].correct for i in "abc"] == [False, True, False]


def test_garbage_is_judge_error_after_bounded_attempts(tmp_path: Path) -> None:
    with JudgeServer("garbage") as server:
        judge = _judge(server, tmp_path, max_attempts=2)
        verdicts = judge.grade(ITEMS[:2])
        assert all(v.correct is None and v.error == "unparsable verdict" for v in verdicts.values())
        assert verdicts["a"].reply == "I think the answer looks fine overall." and verdicts["a"].attempts == 2
        assert server.calls == {"cardiac": 2, "right lung": 2}
        assert judge.stats.n_errors == 2
        _judge(server, tmp_path, max_attempts=1).grade(ITEMS[:1])  # errors are asked again on a rerun
        assert server.calls["cardiac"] == 3
    rows = [json.loads(line) for line in (tmp_path / "cache.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and all(r["correct"] is None and r["reply"] for r in rows)


def test_failing_judge_finishes_fast_with_every_item_judge_error(tmp_path: Path) -> None:
    items = [JudgeItem(str(i), "q", "heart", f"candidate {i}") for i in range(300)]
    with JudgeServer("fail") as server:
        judge = _judge(server, tmp_path, max_attempts=2, max_retries=0, concurrency=4)
        verdicts = judge.grade(items)
        calls = sum(server.calls.values())
    assert all(v.correct is None for v in verdicts.values())
    assert judge.stats.down and calls <= 2 * 32  # one probe chunk per round, then the judge is taken as down
    assert all(v.error for v in verdicts.values())
    assert sum(str(v.error).startswith("judge unavailable") for v in verdicts.values()) >= 300 - 32


def test_timing_out_judge_is_judge_error(tmp_path: Path) -> None:
    with JudgeServer("timeout") as server:
        verdicts = _judge(server, tmp_path, max_attempts=1, max_retries=0, timeout=0.3).grade(ITEMS[:1])
    assert verdicts["a"].correct is None and "Timeout" in str(verdicts["a"].error)


def test_build_judge_refuses_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="judge-base-url"):
        build_judge("m", backend="openai")
    with pytest.raises(FileNotFoundError, match="local model folder"):
        build_judge(str(tmp_path / "nope"), backend="hf")
    with pytest.raises(KeyError, match="judge template"):
        build_judge("m", base_url="http://127.0.0.1:1/v1", template="nope")


def test_policies_and_candidate() -> None:
    assert judge_applies("open", answer_type="open", extracted="x")
    assert not judge_applies("open", answer_type="choice", extracted=None)
    assert judge_applies("all", answer_type="yes_no", extracted="yes")
    assert judge_applies("unparsed", answer_type="choice", extracted=None)
    assert not judge_applies("unparsed", answer_type="choice", extracted="A")
    with pytest.raises(ValueError, match="judge policy"):
        judge_applies("some", answer_type="open", extracted=None)
    assert judge_candidate("<think>hmm</think><answer>left lung</answer>") == "left lung"
    assert judge_candidate("<think>still thinking") is None
    assert judge_candidate("The left lung, at the base.") == "The left lung, at the base."


def test_cohen_kappa_matches_hand_computation() -> None:
    # 10 pairs: 4 both right, 3 both wrong, 2 rule-only, 1 judge-only -> p_o = .7, p_e = .6*.5 + .4*.5 = .5
    pairs = [(True, True)] * 4 + [(False, False)] * 3 + [(True, False)] * 2 + [(False, True)]
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert cohen_kappa([(True, True)] * 3) is None  # both raters constant: undefined
    assert cohen_kappa([]) is None


def test_tiny_local_model_as_judge(tiny_model_dir: Path, tmp_path: Path) -> None:
    judge = build_judge(str(tiny_model_dir), backend="hf", cache_path=tmp_path / "c.jsonl", max_new_tokens=6,
                        max_attempts=1, backend_options={"device": "cpu", "dtype": "float32"})
    verdicts = judge.grade(ITEMS[:2])
    assert set(verdicts) == {"a", "b"}
    for v in verdicts.values():  # a random model rarely writes a verdict: whatever it says is read strictly
        assert v.correct is not None or v.error == "unparsable verdict"
        assert isinstance(v.reply, str)
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == 2
