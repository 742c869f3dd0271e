"""The alignment step under the tiny VLM: scores recorded, threshold drops, text-only samples pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from infimed.curate.base import Drop, build_step
from infimed.curate.scorers.alignment import AlignmentScorer
from infimed.schema import Sample

CAPTION = "Axial CT of the chest showing a large bright lesion in the upper right quadrant."


@pytest.fixture
def pair(tmp_path: Path) -> Sample:
    arr = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    Image.fromarray(arr, "L").save(tmp_path / "a.png")
    return Sample(id="p1", images=[str(tmp_path / "a.png")], question="Write a caption for this image.",
                  answer=CAPTION, answer_type="report", task="report_generation")


def test_score_is_loss_without_minus_with_image(tiny_model_dir: Path, pair: Sample) -> None:
    scorer = AlignmentScorer(tiny_model_dir, device="cpu")
    without, with_image = (scorer.target_loss(pair, with_image=w) for w in (False, True))
    assert np.isfinite(without) and np.isfinite(with_image) and without != with_image
    assert scorer(pair) == round(without - with_image, 4)


def test_step_records_scores_and_drops_below_threshold(tiny_model_dir: Path, pair: Sample) -> None:
    text_only = Sample(id="t", images=[], question="Caption?", answer=CAPTION, answer_type="report")
    step = build_step("alignment", {"model": str(tiny_model_dir), "device": "cpu"})
    kept = list(step([pair, text_only]))
    assert isinstance(kept[0], Sample) and "alignment" in kept[0].meta["scores"]
    assert kept[1] is text_only and step.report()["scored"] == 1
    strict = build_step("alignment", {"model": str(tiny_model_dir), "device": "cpu", "threshold": 1e9})
    out = next(iter(strict([pair])))
    assert isinstance(out, Drop) and out.reason == "low_alignment"


def test_step_needs_a_model() -> None:
    with pytest.raises(ValueError, match="needs model"):
        build_step("alignment", {})


def test_cli_captions_preset_with_an_alignment_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from infimed.cli import app
    from infimed.data.captions import synth_captions

    synth_captions(tmp_path / "d", n=20, seed=0)
    result = CliRunner().invoke(app, ["curate", str(tmp_path / "d" / "train.jsonl"), "--config", "captions",
                                      "--out", str(tmp_path / "o"), "--align-model", str(tiny_model_dir)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "o" / "curated.jsonl").read_text().splitlines()]
    assert rows and all("alignment" in r["meta"]["scores"] for r in rows)
