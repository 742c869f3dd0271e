"""``circular``: rotations of the options; a model that always says "A" follows the position, not the content."""

from __future__ import annotations

from infimed.eval.probes.circular import rotate
from infimed.schema import Sample


def test_rotate_moves_the_answer_under_every_letter() -> None:
    options = {"A": "CT", "B": "MRI", "C": "X-ray"}
    seen = set()
    for shift in range(3):
        rotated, answer = rotate(options, "B", shift)
        assert sorted(rotated.values()) == sorted(options.values()) and rotated[answer] == "MRI"
        seen.add(answer)
    assert seen == {"A", "B", "C"}


def test_always_a_is_right_once_per_rotation_and_never_circularly(probe_run, phantom_samples) -> None:
    robustness, rows = probe_run("always:A", "circular")
    m = robustness["probes"]["circular"]["overall"]
    choice = [s for s in phantom_samples if s.answer_type == "choice"]
    assert m["n_questions"] == len(choice) > 5
    assert m["rotation_accuracy"]["rate"] == m["chance_rotation_accuracy"]  # right once in each question's k rows
    assert m["rotation_accuracy"]["k"] == len(choice) and m["rotation_accuracy"]["n"] == sum(len(s.options or {}) for s in choice)
    assert m["circular_accuracy"]["rate"] == 0.0 and m["consistency"]["rate"] == 0.0
    assert m["position_bias"]["A"]["chosen"] == 1.0 and m["position_bias"]["A"]["right"] < 0.6
    assert all(v["chosen"] == 0.0 for k, v in m["position_bias"].items() if k != "A")
    n_variants = sum(len(s.options or {}) - 1 for s in choice)
    assert sum(r["probe"] == "circular" for r in rows) == n_variants
    variant = next(r for r in rows if r["probe"] == "circular")
    assert variant["variant_of"] in {s.id for s in choice} and variant["id"].startswith(variant["variant_of"] + "~")


def test_a_content_reader_is_circularly_right(probe_run) -> None:
    robustness, _ = probe_run("gold", "circular")
    m = robustness["probes"]["circular"]["overall"]
    assert m["circular_accuracy"]["rate"] == 1.0 and m["consistency"]["rate"] == 1.0
    for letter, share in m["position_bias"].items():
        assert share["chosen"] == share["right"], letter
    assert all(len(g["circular_accuracy"]["ci95"]) == 2 for g in robustness["probes"]["circular"]["by"]["modality_x_task"].values())


def test_only_choice_questions_rotate() -> None:
    from infimed.eval.probes.base import ProbeContext
    from infimed.eval.probes.circular import circular_variants

    yn = Sample(id="y", question="Is there a lesion?", answer="yes", answer_type="yes_no")
    assert circular_variants(yn, ProbeContext([yn], work_dir=__import__("pathlib").Path("."))) == []
