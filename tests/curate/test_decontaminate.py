from __future__ import annotations

import pytest

from infimed.curate.base import Drop
from infimed.curate.steps.decontaminate import Decontaminate
from infimed.io.jsonl import load_samples


def test_decontaminate_image_and_text_copies(tmp_path, make_image, row, write_rows):
    evals = write_rows("eval.jsonl", [
        row("ev-1", [make_image("e1.png", 11)], "Is there a lesion in the left lung?", "yes"),
        row("ev-2", [], "A patient on warfarin shows an INR of 9 and no bleeding. What is the next step?",
            "hold warfarin", answer_type="open", modality=None, task="other"),
        *[row(f"ev-t{i}", [make_image(f"t{i}.png", 100 + i)], "Is this a CT image?", "yes") for i in range(30)],
    ])
    train = write_rows("train.jsonl", [
        row("copy", [make_image("c.jpg", 11, fmt="JPEG", resize=90)], "Is a lesion present in the left lung?", "yes"),
        row("same-image-other-question", [make_image("c2.png", 11)], "How many lesions are there?", "2",
            answer_type="open", task="counting"),
        row("text-copy", [], "A patient taking warfarin has an INR of 9 and no bleeding. What is the next step?",
            "hold warfarin", answer_type="open", modality=None, task="other"),
        row("clean", [make_image("n.png", 50)], "Is there a lesion in the left lung?", "yes"),
        row("template-only", [], "Is this a CT image?", "yes", modality=None),
    ])
    step = Decontaminate(against=[str(evals)])
    out = {(o.sample.id if isinstance(o, Drop) else o.id): o for o in step(load_samples(train))}
    assert isinstance(out["copy"], Drop) and out["copy"].of == "ev-1" and out["copy"].reason == "contamination"
    assert isinstance(out["text-copy"], Drop) and out["text-copy"].of == "ev-2"
    for kept in ("same-image-other-question", "clean", "template-only"):
        assert not isinstance(out[kept], Drop), kept
    assert step.report()["contaminated_by_file"] == {str(evals): 2}


def test_image_only_mode_drops_any_reuse_of_an_eval_image(tmp_path, make_image, row, write_rows):
    evals = write_rows("eval.jsonl", [row("ev-1", [make_image("e1.png", 11)], "Is there a lesion?", "yes")])
    train = write_rows("train.jsonl", [row("x", [make_image("c2.png", 11)], "How many lesions?", "2",
                                           answer_type="open", task="counting")])
    (out,) = list(Decontaminate(against=[str(evals)], image_only=True)(load_samples(train)))
    assert isinstance(out, Drop) and out.of == "ev-1"


def test_missing_eval_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        list(Decontaminate(against=[str(tmp_path / "nope.jsonl")])([]))
