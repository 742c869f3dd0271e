"""Caption curation: boilerplate cleaned (kept), bad texts and panel figures dropped, the captions preset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from infimed.curate.base import Drop, build_step
from infimed.curate.card import score_against_truth
from infimed.curate.config import load_config
from infimed.curate.pipeline import run_pipeline
from infimed.data.captions import panel_image, synth_captions
from infimed.data.scene import random_scene, render
from infimed.schema import Sample

GOOD = "Axial CT of the chest showing a large bright lesion in the upper right quadrant."


def report(answer: str, id: str = "s1", images: list[str] | None = None, **extra: object) -> Sample:
    return Sample(id=id, images=images or [], question="Write a caption for this image.", answer=answer,
                  answer_type="report", task="report_generation", **extra)  # type: ignore[arg-type]


def run(step_name: str, sample: Sample, **options: object) -> Sample | Drop:
    return next(iter(build_step(step_name, dict(options))([sample])))


@pytest.mark.parametrize("dirty", [
    f"Fig. 2(b), see text. {GOOD}", GOOD[:-1] + " (arrow).", GOOD[:-1] + " [12].",
    "Figure 3. " + GOOD[:-1] + " (arrowheads) [4, 7-9].",
])
def test_boilerplate_is_stripped_and_the_sample_kept(dirty: str) -> None:
    out = run("caption_quality", report(dirty))
    assert isinstance(out, Sample) and out.answer == GOOD and out.meta["caption_cleaned"]


@pytest.mark.parametrize(("text", "reason"), [
    ("Axial CT of the chest showing a large bright lesion in the upp", "caption_truncated"),
    ("Axial CT of the chest showing a large bright lesion in the", "caption_truncated"),
    ("Findings: Axial CT of the chest. There is a small lesion.", "caption_truncated"),
    ("Fig. 2, see text.", "caption_too_short"),
    ("Аксиальная КТ грудной клетки с крупным очагом справа.", "caption_language"),
    ("Axiale CT Thorax zeigt große helle Läsion rechts oben.", "caption_language"),
])
def test_bad_texts_are_dropped(text: str, reason: str) -> None:
    out = run("caption_quality", report(text))
    assert isinstance(out, Drop) and out.reason == reason, out


def test_clean_texts_and_other_answer_types_pass() -> None:
    ok = GOOD.replace(".", "") + " (Pt: [NAME], DOB [DATE])"
    assert isinstance(run("caption_quality", report(GOOD)), Sample)
    assert isinstance(run("caption_quality", report(GOOD + " (Pt: [NAME])")), Sample)
    assert isinstance(run("caption_quality", report(ok)), Drop)
    yn = Sample(id="q", images=[], question="Is there a lesion (arrow)?", answer="yes", answer_type="yes_no")
    assert run("caption_quality", yn) is yn


def test_compound_figure_caption_cues_and_gutter(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a, b = render(random_scene(rng)), render(random_scene(rng))
    for name, arr in (("single.png", a), ("panels.png", panel_image(a, b, 6, 255)),
                      ("black.png", panel_image(a, b, 4, 0)), ("stacked.png", panel_image(a, b, 8, 255).T.copy())):
        Image.fromarray(arr, "L").save(tmp_path / name)
    single = report(GOOD, images=[str(tmp_path / "single.png")])
    assert isinstance(run("compound_figure", single), Sample)
    for name in ("panels.png", "black.png", "stacked.png"):
        out = run("compound_figure", report(GOOD, images=[str(tmp_path / name)]))
        assert isinstance(out, Drop) and "gutter" in out.detail, name
    for text in (f"(a) {GOOD} (b) {GOOD}", f"A: {GOOD} B: {GOOD}", f"{GOOD} Left panel: before treatment."):
        out = run("compound_figure", report(text, images=[str(tmp_path / "single.png")]))
        assert isinstance(out, Drop) and "caption" in out.detail


def test_deidentify_scrubs_report_answers() -> None:
    out = run("deidentify", report(f"Patient John Smith, MRN 1234567, seen 03/04/2021. {GOOD}"))
    assert isinstance(out, Sample) and "John Smith" not in out.answer and "1234567" not in out.answer


def test_captions_preset_skips_alignment_without_a_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    synth_captions(data, n=200, seed=5, defects=True)
    config = load_config("captions", [f"against=[{data / 'test.jsonl'}]"])
    assert [s.name for s in config.steps][2:4] == ["caption_quality", "compound_figure"]
    result = run_pipeline([data / "train.jsonl"], tmp_path / "out", config)
    assert "alignment" in result["skipped"]
    scores = score_against_truth(data / "defects.jsonl", tmp_path / "out")
    recall = {k: v["recall"] for k, v in scores["recall"].items()}
    assert all(recall[k] >= 0.9 for k in recall if k != "wrong_caption"), recall
    assert all(v["precision"] >= 0.9 for v in scores["precision"].values()), scores["precision"]
    kept = [json.loads(line) for line in (tmp_path / "out" / "curated.jsonl").read_text().splitlines()]
    assert all(r["answer"].endswith((".", ")")) and "(a)" not in r["answer"] for r in kept)


def test_gutter_on_real_chest_xrays() -> None:
    npz = Path(__file__).resolve().parents[3] / "shared" / "data" / "pneumoniamnist" / "pneumoniamnist.npz"
    if not npz.is_file():
        pytest.skip("PneumoniaMNIST not present")
    from infimed.curate.steps.compound_figure import gutter

    images = np.load(npz)["test_images"][:300].astype(np.float32)
    assert not [i for i, a in enumerate(images) if gutter(a)]  # single real X-rays: no gutter
    panels = [np.concatenate([a, np.full((28, 3), 255.0), b], axis=1) for a, b in zip(images[::2], images[1::2], strict=True)]
    assert sum(gutter(p) is not None for p in panels) >= 0.95 * len(panels)
