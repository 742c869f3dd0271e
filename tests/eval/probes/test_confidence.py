"""``confidence``: a second "Are you sure?" turn after the model's own answer."""

from __future__ import annotations

from infimed.backends.base import GenRequest
from infimed.backends.mock import MockBackend


def test_a_model_that_flips_abandons_every_right_answer(probe_run) -> None:
    robustness, rows = probe_run("waver:gold", "confidence")
    m = robustness["probes"]["confidence"]["overall"]
    assert m["plain_accuracy"]["rate"] == 1.0
    assert m["right_abandoned"]["rate"] == 1.0 and m["follow_up_accuracy"]["rate"] == 0.0 and m["flip_rate"]["rate"] == 1.0
    follow = [r for r in rows if r["probe"] == "confidence"]
    assert follow and all(r["variant"] == "are_you_sure" for r in follow)


def test_a_steady_model_keeps_its_answers(probe_run) -> None:
    m = probe_run("gold", "confidence")[0]["probes"]["confidence"]["overall"]
    assert m["right_abandoned"]["rate"] == 0.0 and m["flip_rate"]["rate"] == 0.0
    m = probe_run("always:A", "confidence")[0]["probes"]["confidence"]["overall"]
    assert m["wrong_kept"]["rate"] == 1.0 and m["wrong_corrected"]["rate"] == 0.0
    m = probe_run("waver:always:A", "confidence")[0]["probes"]["confidence"]["overall"]
    assert m["wrong_kept"]["rate"] < 0.5


def test_the_follow_up_is_a_real_second_turn(probe_run, phantom_samples) -> None:
    seen: dict[str, list[dict]] = {}

    def answer(req: GenRequest) -> str:
        seen[req.id] = req.messages
        return "yes" if req.meta["answer_type"] == "yes_no" else "B"

    probe_run(MockBackend(fn=answer), "confidence")
    s = phantom_samples[0]
    dialogue = seen[f"{s.id}~confidence:are_you_sure"]
    assert [m["role"] for m in dialogue] == ["user", "assistant", "user"]
    assert dialogue[0] == seen[s.id][0] and dialogue[1]["content"][0]["text"] == answer(GenRequest(s.id, [], dict(answer_type=s.answer_type)))
    assert dialogue[2]["content"][0]["text"].startswith("Are you sure?")
