"""The one judge in its three uses: eval scoring (test_judge_eval.py), CoT verification in `reason synth`,
and the GRPO ``judge`` reward."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from judge_server import JudgeServer

from infimed.backends.mock import MockBackend
from infimed.checkers import check, settle
from infimed.io.jsonl import write_jsonl
from infimed.judge import build_judge
from infimed.reason import synth as synth_mod
from infimed.reason.verify import verify
from infimed.schema import Sample
from infimed.train.rewards import build_rewards

THINK = ("<think>The silhouette of the mediastinum is widened on the frontal view, and the contour bulges to the "
         "left beyond the usual width.</think>")


def test_settle_and_verify_take_the_judge_verdict() -> None:
    rule = check("cardiac", answer_type="open", answer="heart")
    assert not rule.correct
    assert settle(rule, True).correct and settle(rule, True).rule == "judge" and settle(rule, None) is rule
    sample = Sample(id="x", question="Which organ is enlarged?", answer="heart", answer_type="open")
    response = f"{THINK}<answer>cardiac</answer>"
    assert verify(sample, response).reason == "wrong_answer"
    assert verify(sample, response, judged=True).accepted
    assert verify(sample, response, judged=False).reason == "wrong_answer"


def test_judge_reward_grades_open_answers_like_eval(tmp_path: Path) -> None:
    with JudgeServer("agree") as server:
        rewards = build_rewards(["judge", "accuracy"], judge_model="judge-m", judge_base_url=server.url,
                                judge_cache=str(tmp_path / "c.jsonl"))
        columns = {"answer": ["heart", "heart", "A"], "answer_type": ["open", "open", "choice"],
                   "question": ["Which organ?", "Which organ?", "Side?"],
                   "options": ["", "", json.dumps({"A": "left", "B": "right"})]}
        completions = ["<answer>cardiac</answer>", "<answer>liver</answer>", "<answer>A</answer>"]
        assert rewards[0](completions, **columns) == [1.0, 0.0, 1.0]
        assert rewards[1](completions, **columns) == [0.0, 0.0, 1.0]
        assert server.calls == {"cardiac": 1, "liver": 1}  # policy open: the choice is read by the rules
        rewards[0](completions, **columns)
        assert sum(server.calls.values()) == 2  # cached
    with pytest.raises(ValueError, match="judge model"):
        build_rewards(["judge"])


def test_synth_verifies_open_rationales_with_the_judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    samples = [{"id": "s1", "question": "Which organ is enlarged?", "answer": "heart", "answer_type": "open"},
               {"id": "s2", "question": "Which organ is shown?", "answer": "liver", "answer_type": "open"}]
    write_jsonl(tmp_path / "in.jsonl", samples)
    teacher = MockBackend(fn=lambda req: f"{THINK}<answer>{'cardiac' if req.id.startswith('s1') else 'spleen'}</answer>")
    monkeypatch.setattr(synth_mod, "make_teacher", lambda *a, **k: teacher)
    out = tmp_path / "out.jsonl"
    plain = synth_mod.synth(tmp_path / "in.jsonl", out, "http://teacher.invalid/v1", samples=1)
    assert plain["accepted_samples"] == 0
    (tmp_path / "out.jsonl.teacher.jsonl").unlink()
    with JudgeServer("agree") as server:
        judge = build_judge("judge-m", base_url=server.url, cache_path=tmp_path / "j.jsonl", backoff_base=0.0)
        report = synth_mod.synth(tmp_path / "in.jsonl", out, "http://teacher.invalid/v1", samples=1, judge=judge)
    assert report["accepted_samples"] == 1 and report["responses"]["wrong_answer"] == 1
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in kept] == ["s1"] and "mediastinum" in kept[0]["rationale"]
