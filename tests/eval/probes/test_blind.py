"""``blind``: a model that ignores the image scores the same blind; one that reads it drops to chance."""

from __future__ import annotations

import zlib

from infimed.backends.base import GenRequest
from infimed.backends.mock import MockBackend
from infimed.eval.probes.blind import quadrant


def _question_only(req: GenRequest) -> str:
    """Ignores the image: the answer is a function of the prompt text alone (right on some, wrong on others)."""
    text = "".join(str(p.get("text", "")) for m in req.messages for p in m["content"] if p.get("type") == "text")
    pick = zlib.crc32(text.encode())
    options = sorted(req.meta.get("options") or {})
    if options:
        return options[pick % len(options)]
    return ("yes", "no")[pick % 2] if req.meta["answer_type"] == "yes_no" else req.meta["answer"]


def test_quadrants() -> None:
    assert [quadrant(s, b) for s, b in ((True, False), (True, True), (False, True), (False, False))] == [
        "grounded", "answerable_without_image", "guessing", "wrong"]


def test_a_model_that_ignores_images_scores_the_same_blind(probe_run, phantom_samples) -> None:
    robustness, rows = probe_run(MockBackend(fn=_question_only), "blind")
    m = robustness["probes"]["blind"]["overall"]
    assert 0 < m["sighted_accuracy"]["rate"] < 1
    assert m["no_image_accuracy"]["rate"] == m["sighted_accuracy"]["rate"] and m["other_image_gain"]["diff"] == 0.0
    assert m["image_gain"]["diff"] == 0.0 and m["image_gain"]["p_value"] == 1.0
    assert m["quadrants"]["grounded"]["k"] == m["quadrants"]["guessing"]["k"] == 0
    assert m["right_answers_answerable_without_image"]["rate"] == 1.0  # every right answer
    assert m["answerable_blind"] is True and robustness["probes"]["blind"]["by"]["source"]["phantom"]["answerable_blind"]
    no_image = [r for r in rows if r["variant"] == "no_image"]
    assert len(no_image) == sum(1 for s in phantom_samples if s.images) and all(r["images"] == [] for r in no_image)
    other = [r for r in rows if r["variant"] == "other_image"]
    plain = {r["id"]: r for r in rows if r["probe"] is None}
    for r in other:  # another image of the same modality
        assert r["images"] != plain[r["variant_of"]]["images"] and r["modality"] == plain[r["variant_of"]]["modality"]


def test_a_model_that_reads_the_image_drops_to_chance_blind(probe_run, phantom_samples) -> None:
    robustness, _ = probe_run("vision", "blind")
    m = robustness["probes"]["blind"]["overall"]
    assert m["sighted_accuracy"]["rate"] == 1.0
    # chance of the mock's guess: 1/k for choice, 1/2 for yes/no, 0 for open answers
    with_images = [s for s in phantom_samples if s.images]
    chance = sum(1 / len(s.options or {}) if s.answer_type == "choice" else 0.5 if s.answer_type == "yes_no" else 0.0
                 for s in with_images) / len(with_images)
    assert abs(m["no_image_accuracy"]["rate"] - chance) < 0.2
    assert m["other_image_accuracy"]["rate"] < 0.6
    assert m["image_gain"]["ci95"][0] > 0.3 and m["image_gain"]["p_value"] < 0.001
    assert m["quadrants"]["guessing"]["k"] == m["quadrants"]["wrong"]["k"] == 0 and m["quadrants"]["grounded"]["k"] > 0
    assert m["answerable_blind"] is False

