"""caption_consistency: lexicon attributes read from texts, out-of-fold image probes, swapped captions dropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infimed.curate.base import Drop, build_step
from infimed.curate.steps.caption_consistency import load_lexicon, read_attributes
from infimed.data.captions import synth_captions
from infimed.data.medmnist import import_medmnist
from infimed.io.jsonl import load_samples
from infimed.schema import Sample

PNEUMONIA = Path("/work/shared/data/pneumoniamnist/pneumoniamnist.npz")


@pytest.mark.parametrize(("text", "expected"), [
    ("Axial CT of the chest showing a large bright lesion in the upper right quadrant.",
     {"modality": "ct", "region": "chest", "finding": "abnormal", "quadrant": {"upper right"}, "size": {"large"}}),
    ("Axial T2-weighted MRI of the head showing no focal lesion.",
     {"modality": "mri", "region": "head", "finding": "normal", "quadrant": set(), "size": set()}),
    ("Findings: Transverse ultrasound of the pelvis. There is no focal abnormality. Impression: Normal study.",
     {"modality": "ultrasound", "region": "pelvis", "finding": "normal", "quadrant": set(), "size": set()}),
    ("Chest X-ray without signs of pneumonia.", {"modality": "xray", "region": "chest", "finding": "normal",
                                                 "quadrant": set(), "size": set()}),
    ("Chest radiograph with signs of pneumonia.", {"modality": "xray", "region": "chest", "finding": "abnormal",
                                                   "quadrant": set(), "size": set()}),
    ("CT and MR of the liver.", {"region": "abdomen"}),  # two modalities: left unread; no finding: no sets
])
def test_attributes_read_from_texts(text: str, expected: dict[str, object]) -> None:
    got = read_attributes(text, load_lexicon())
    assert {k: set(v) if isinstance(v, frozenset) else v for k, v in got.items()} == expected


def test_bad_lexicon_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "lex.yaml"
    bad.write_text("modality: {kind: many, values: {ct: [ct]}}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lex\.yaml: attribute 'modality'"):
        load_lexicon(bad)
    bad.write_text("modality: {kind: one, values: {ct: ['(']}}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad pattern"):
        load_lexicon(bad)


def swap(samples: list[Sample], attribute: str, rate: float, seed: int) -> tuple[list[Sample], set[str]]:
    """Samples with a share of texts swapped for a text of another sample that names another value."""
    lexicon = load_lexicon()
    rng = np.random.default_rng(seed)
    values = [read_attributes(s.answer, lexicon).get(attribute) for s in samples]
    out, swapped = list(samples), set()
    for i in rng.choice(len(samples), size=int(rate * len(samples)), replace=False):
        others = [j for j, v in enumerate(values) if v != values[i] and v is not None]
        j = others[int(rng.integers(len(others)))]
        out[i] = samples[i].model_copy(update={"answer": samples[j].answer}).with_base_dir(samples[i].base_dir)
        swapped.add(samples[i].id)
    return out, swapped


def run(samples: list[Sample], **options: object) -> tuple[list[Drop], list[Sample], object]:
    step = build_step("caption_consistency", dict(options))
    out = list(step(samples))
    return [o for o in out if isinstance(o, Drop)], [o for o in out if isinstance(o, Sample)], step


def test_swapped_phantom_captions_are_dropped(tmp_path: Path) -> None:
    synth_captions(tmp_path, n=300, seed=3)
    clean = load_samples(tmp_path / "train.jsonl")
    dirty, swapped = swap(clean, "modality", 0.06, seed=0)
    drops, kept, step = run(dirty)
    caught = {d.sample.id for d in drops} & swapped
    assert len(caught) >= 0.7 * len(swapped) and len(caught) >= 0.8 * len(drops), (len(caught), len(drops))
    drop = next(d for d in drops if d.sample.id in caught)
    assert drop.reason == "caption_mismatch" and "text says" in drop.detail and "image probe" in drop.detail
    assert all(0.0 <= s.meta["scores"]["caption_consistency"] <= 1.0 for s in kept)
    assert step.report()["checked"]["modality"]["balanced_accuracy"] >= 0.85  # type: ignore[attr-defined]


def test_other_samples_pass_and_thin_attributes_are_skipped(tmp_path: Path) -> None:
    synth_captions(tmp_path, n=40, seed=1)
    samples = load_samples(tmp_path / "train.jsonl")
    yn = Sample(id="q", images=[], question="Is there a lesion?", answer="yes", answer_type="yes_no")
    drops, kept, step = run([*samples, yn])
    assert not drops and kept[-1] is yn and len(kept) == len(samples) + 1
    assert "modality" in step.report()["skipped"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="margin"):
        build_step("caption_consistency", {"margin": 1.5})


@pytest.mark.skipif(not PNEUMONIA.is_file(), reason="PneumoniaMNIST archive not present")
def test_swapped_pneumonia_captions_real_chest_xrays(tmp_path: Path) -> None:
    import_medmnist(PNEUMONIA, tmp_path, formats=("open",), splits=("test",))  # 234 normal, 390 pneumonia
    samples = [s.model_copy(update={
        "answer": "Chest X-ray " + ("with" if s.answer == "pneumonia" else "without") + " signs of pneumonia.",
        "answer_type": "report", "task": "report_generation"}).with_base_dir(s.base_dir)
        for s in load_samples(tmp_path / "test.jsonl")]
    dirty, swapped = swap(samples, "finding", 0.05, seed=0)
    drops, _, step = run(dirty)
    caught = {d.sample.id for d in drops} & swapped
    assert step.report()["checked"]["finding"]["n"] == len(samples)  # type: ignore[attr-defined]
    assert len(caught) >= 0.5 * len(swapped) and len(caught) >= 0.5 * len(drops), (len(caught), len(drops))
