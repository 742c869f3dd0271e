"""Phantom caption / report pairs: texts follow the scene truth; every injected caption defect is real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from infimed.cli import app
from infimed.data.captions import CAPTION_DEFECT_RATES, caption, report, synth_captions
from infimed.data.scene import Lesion, random_scene
from infimed.io.images import load_image
from infimed.io.jsonl import load_samples


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("captions")
    summary = synth_captions(out, n=300, seed=3, defects=True)
    train = {s.id: s for s in load_samples(out / "train.jsonl")}
    defects = [json.loads(line) for line in (out / "defects.jsonl").read_text().splitlines()]
    return {"dir": out, "summary": summary, "train": train, "defects": defects}


def test_caption_and_report_follow_the_scene() -> None:
    rng = np.random.default_rng(0)
    scene = random_scene(rng)
    scene = type(scene)(**{**scene.__dict__, "modality": "ct", "anatomy": "chest",
                           "lesions": (Lesion("upper right", "large", 96, 32, 18),)})
    texts = {caption(scene, np.random.default_rng(s)) for s in range(20)}
    assert len(texts) >= 2  # template variants
    assert all("CT" in t and "chest" in t and "large bright lesion in the upper right quadrant" in t for t in texts)
    rep = report(scene, rng)
    assert rep.startswith("Findings: Axial CT of the chest.") and "Impression: Single large lesion" in rep


def test_records_are_report_samples(dirty: dict[str, Any]) -> None:
    samples = list(dirty["train"].values())
    assert {s.answer_type for s in samples} == {"report"} and {s.task for s in samples} == {"report_generation"}
    assert dirty["summary"]["n_test"] == 60
    assert all((dirty["dir"] / s.images[0]).is_file() for s in samples)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    synth_captions(a, n=40, seed=1, defects=False)
    synth_captions(b, n=40, seed=1, defects=False)
    assert (a / "train.jsonl").read_bytes() == (b / "train.jsonl").read_bytes()


def test_each_defect_kind_is_real(dirty: dict[str, Any]) -> None:
    train, by_kind = dirty["train"], {}
    for d in dirty["defects"]:
        by_kind.setdefault(d["kind"], []).append(d)
    assert set(by_kind) == set(CAPTION_DEFECT_RATES)
    for d in by_kind["truncated"]:
        assert not train[d["id"]].answer.endswith(".")
    for d in by_kind["boilerplate"]:
        text = train[d["id"]].answer
        assert "Fig" in text or "(arrow" in text or "[" in text
    for d in by_kind["phi"]:
        assert any(w in train[d["id"]].answer for w in ("MRN", "DOB", "Pt:", "patient", "Patient", "Dr."))
    for d in by_kind["multi_panel"]:
        s = train[d["id"]]
        assert s.answer.startswith("(a) ") and " (b) " in s.answer
        w, h = load_image(dirty["dir"] / s.images[0]).size
        assert h == 128 and w > 256
    for d in by_kind["wrong_caption"]:
        other = train[d["detail"].split()[-1]]
        assert other.images != train[d["id"]].images and other.meta["text_kind"] == train[d["id"]].meta["text_kind"]
    test = {s.id: s for s in load_samples(dirty["dir"] / "test.jsonl")}
    for d in by_kind["contamination"]:
        assert d["of"] in test and train[d["id"]].answer == test[d["of"]].answer
        assert train[d["id"]].split == "train" and train[d["id"]].images != test[d["of"]].images
    for d in by_kind["exact_duplicate"]:
        a, b = train[d["id"]], train[d["of"]]
        assert a.answer == b.answer and a.question == b.question and a.images != b.images


def test_cli_synth_captions(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["data", "synth-captions", "--out", str(tmp_path), "--n", "30"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "train.jsonl").read_text().splitlines()) == 24
    bad = CliRunner().invoke(app, ["data", "synth-captions", "--out", str(tmp_path / "x"), "--n", "5", "--defects"])
    assert bad.exit_code != 0 and "too few" in bad.output
