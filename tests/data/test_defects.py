"""The injected dirt: manifest points at real ids, counts match the documented rates, each kind is real."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from phantom_truth import expected_answer  # tests/data helper
from PIL import Image

from infimed.data.defects import DEFECT_RATES, defect_counts
from infimed.io.images import ImageLoadError, load_image
from infimed.io.jsonl import load_samples
from infimed.schema import Sample


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def dirty(phantom_defects_dir: Path) -> dict[str, Any]:
    d = phantom_defects_dir
    train = {s.id: s for s in load_samples(d / "train.jsonl")}
    test = {s.id: s for s in load_samples(d / "test.jsonl")}
    defects = read_jsonl(d / "defects.jsonl")
    summary = json.loads((d / "synth.json").read_text())
    return {"dir": d, "train": train, "test": test, "defects": defects, "summary": summary,
            "by_kind": {k: [r for r in defects if r["kind"] == k] for k in DEFECT_RATES}}


def gray(dirty: dict[str, Any], sample: Sample, size: int = 64) -> np.ndarray:
    img = load_image(dirty["dir"] / sample.images[0]).convert("L").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32)


def test_manifest_points_at_real_ids_and_counts_match_rates(dirty: dict[str, Any]) -> None:
    train, test, defects = dirty["train"], dirty["test"], dirty["defects"]
    n_clean = dirty["summary"]["n_train_clean"]
    assert Counter(r["kind"] for r in defects) == Counter(defect_counts(n_clean))
    assert all(v > 0 for v in defect_counts(n_clean).values())
    ids = [r["id"] for r in defects]
    assert len(ids) == len(set(ids))  # one kind per defective record
    added = 0
    defect_ids = set(ids)
    for r in defects:
        assert r["id"] in train
        if r["kind"] in ("wrong_label", "phi"):
            assert r["of"] is None
        elif r["kind"] == "contamination":
            assert r["of"] in test
            added += 1
        else:
            assert r["of"] in train and r["of"] not in defect_ids  # derived from a clean record
            added += 1
    assert len(train) == n_clean + added


def test_defective_records_look_like_clean_ones(dirty: dict[str, Any]) -> None:
    rows = read_jsonl(dirty["dir"] / "train.jsonl")
    assert all(re.fullmatch(r"ph-[0-9a-f]{10}", r["id"]) for r in rows)
    assert all(set(r["meta"]) == {"case_id"} and r["split"] == "train" for r in rows)
    assert len({r["meta"]["case_id"] for r in rows if r["id"] in {d["id"] for d in dirty["by_kind"]["near_duplicate"]}}
               ) == len(dirty["by_kind"]["near_duplicate"])
    # defects are shuffled in, not appended at the end
    positions = [i for i, r in enumerate(rows) if r["id"] in {d["id"] for d in dirty["defects"]}]
    assert min(positions) < len(rows) // 4


def test_exact_duplicates(dirty: dict[str, Any]) -> None:
    for r in dirty["by_kind"]["exact_duplicate"]:
        copy, src = dirty["train"][r["id"]], dirty["train"][r["of"]]
        assert (copy.question, copy.options, copy.answer, copy.task) == (src.question, src.options, src.answer, src.task)
        assert copy.images != src.images
        assert (dirty["dir"] / copy.images[0]).read_bytes() == (dirty["dir"] / src.images[0]).read_bytes()


def test_near_duplicates_are_altered_but_close(dirty: dict[str, Any]) -> None:
    for r in dirty["by_kind"]["near_duplicate"]:
        copy, src = dirty["train"][r["id"]], dirty["train"][r["of"]]
        assert copy.answer == src.answer and copy.options == src.options and copy.task == src.task
        assert copy.question != src.question
        assert (dirty["dir"] / copy.images[0]).read_bytes() != (dirty["dir"] / src.images[0]).read_bytes()
        assert np.abs(gray(dirty, copy) - gray(dirty, src)).mean() < 30, r


def test_wrong_labels_disagree_with_ground_truth(dirty: dict[str, Any]) -> None:
    cases = {c["case_id"]: c for c in read_jsonl(dirty["dir"] / "cases.jsonl")}
    wrong = {r["id"] for r in dirty["by_kind"]["wrong_label"]}
    derived = {r["id"] for r in dirty["defects"] if r["of"] is not None}
    for sid, sample in dirty["train"].items():
        if sid in derived:
            continue
        agrees = sample.answer == expected_answer(sample, cases[sample.meta["case_id"]])
        assert agrees != (sid in wrong), sid


def test_blank_and_corrupt_images(dirty: dict[str, Any]) -> None:
    for r in dirty["by_kind"]["blank_image"]:
        assert gray(dirty, dirty["train"][r["id"]], 128).std() < 3.0
    for r in dirty["by_kind"]["corrupt_image"]:
        with pytest.raises(ImageLoadError):
            load_image(dirty["dir"] / dirty["train"][r["id"]].images[0])


def test_phi_is_in_the_text(dirty: dict[str, Any]) -> None:
    pattern = re.compile(r"(MRN|record no\.) \d{7}|\d{2}/\d{2}/\d{4}|555-\d{3}-\d{4}")
    for r in dirty["by_kind"]["phi"]:
        assert pattern.search(dirty["train"][r["id"]].question), r
    clean = [s for sid, s in dirty["train"].items() if sid not in {d["id"] for d in dirty["by_kind"]["phi"]}]
    assert not any(pattern.search(s.question) for s in clean)


def test_contamination_copies_test_items(dirty: dict[str, Any]) -> None:
    rows = dirty["by_kind"]["contamination"]
    for r in rows:
        copy, src = dirty["train"][r["id"]], dirty["test"][r["of"]]
        assert copy.answer == src.answer and copy.task == src.task and copy.split == "train"
        assert np.abs(gray(dirty, copy) - gray(dirty, src)).mean() < 30
    exact = [r for r in rows if r["detail"].startswith("exact")]
    assert 0 < len(exact) < len(rows)
