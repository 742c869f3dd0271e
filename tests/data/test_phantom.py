"""The phantom set on disk: deterministic, split by case, labels agree with the generator's ground truth."""

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

from infimed.data.phantom import synth
from infimed.io.jsonl import load_samples, validate_file


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    synth(tmp_path / "a", n=80, seed=7)
    synth(tmp_path / "b", n=80, seed=7, defects=False)
    synth(tmp_path / "c", n=80, seed=8)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert (tmp_path / "a" / "train.jsonl").read_bytes() != (tmp_path / "c" / "train.jsonl").read_bytes()


def test_counts_splits_and_coverage(phantom_dir: Path) -> None:
    train = load_samples(phantom_dir / "train.jsonl", check_images=True)
    test = load_samples(phantom_dir / "test.jsonl", check_images=True)
    assert len(train) + len(test) == 240
    assert 0.15 < len(test) / 240 < 0.25
    both = train + test
    assert len(Counter(s.modality for s in both)) >= 4
    assert len(Counter(s.task for s in both)) >= 5
    assert set(Counter(s.answer_type for s in both)) == {"choice", "yes_no", "open"}
    assert {s.split for s in train} == {"train"} and {s.split for s in test} == {"test"}
    assert {s.source for s in both} == {"phantom"}
    # no image (case) is shared between train and test
    assert not {s.images[0] for s in train} & {s.images[0] for s in test}
    assert not {s.meta["case_id"] for s in train} & {s.meta["case_id"] for s in test}
    assert not (phantom_dir / "defects.jsonl").exists()


def test_ids_are_opaque_and_meta_reveals_nothing(phantom_dir: Path) -> None:
    rows = read_jsonl(phantom_dir / "train.jsonl") + read_jsonl(phantom_dir / "test.jsonl")
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(re.fullmatch(r"ph-[0-9a-f]{10}", r["id"]) for r in rows)
    assert all(set(r["meta"]) == {"case_id"} for r in rows)
    assert all(re.fullmatch(r"images/[0-9a-f]{12}\.png", r["images"][0]) for r in rows)


def test_every_answer_matches_the_ground_truth(phantom_dir: Path) -> None:
    cases = {c["case_id"]: c for c in read_jsonl(phantom_dir / "cases.jsonl")}
    for split in ("train", "test"):
        for sample in load_samples(phantom_dir / f"{split}.jsonl"):
            case = cases[sample.meta["case_id"]]
            assert case["image"] == sample.images[0] and case["split"] == split
            assert sample.modality == case["modality"]
            assert sample.answer == expected_answer(sample, case), sample.id
            # the rationale is the finding the answer rests on: the task's open answer for this case
            open_form = sample.model_copy(update={"answer_type": "open", "options": None})
            assert sample.rationale == expected_answer(open_form, case), sample.id


def test_lesions_are_bright_where_the_truth_puts_them(phantom_dir: Path) -> None:
    n = 0
    for case in read_jsonl(phantom_dir / "cases.jsonl"):
        img = np.asarray(Image.open(phantom_dir / case["image"]), dtype=np.float32)
        assert img.shape == (128, 128)
        for les in case["lesions"]:
            cx, cy, r = les["cx"], les["cy"], les["radius"]
            yy, xx = np.mgrid[0:128, 0:128]
            d2 = (xx - cx) ** 2 + (yy - cy) ** 2
            core, ring = d2 <= (0.6 * r) ** 2, (d2 >= (r + 4) ** 2) & (d2 <= (r + 9) ** 2)
            assert img[core].mean() > 150, (case["case_id"], case["modality"], les)
            assert img[core].mean() > img[ring].mean() + 60, (case["case_id"], case["modality"], les)
            x0, y0, x1, y1 = les["box"]
            right, lower = cx >= 64, cy >= 64
            assert les["quadrant"] == f"{'lower' if lower else 'upper'} {'right' if right else 'left'}"
            assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
            n += 1
    assert n > 20


def test_rejects_bad_n(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n: must be at least 1"):
        synth(tmp_path, n=0)


def test_files_validate_clean(phantom_dir: Path) -> None:
    assert list(validate_file(phantom_dir / "train.jsonl")) == []
    summary = json.loads((phantom_dir / "synth.json").read_text())
    assert summary["n_train"] + summary["n_test"] == 240 and summary["defects"] == {}


def test_rerun_replaces_a_previous_set(tmp_path: Path) -> None:
    synth(tmp_path, n=60, seed=0, defects=True)
    synth(tmp_path, n=30, seed=1)
    referenced = {json.loads(line)["images"][0] for f in ("train.jsonl", "test.jsonl")
                  for line in (tmp_path / f).read_text().splitlines()}
    on_disk = {f"images/{p.name}" for p in (tmp_path / "images").iterdir()}
    assert on_disk == referenced
    assert not (tmp_path / "defects.jsonl").exists()


def test_test_every_sets_the_held_out_share(tmp_path):
    third = synth(tmp_path / "a", n=300, seed=0, test_every=3)
    fifth = synth(tmp_path / "b", n=300, seed=0)
    assert third["n_test"] > 1.4 * fifth["n_test"]
    cases = [json.loads(line) for line in (tmp_path / "a" / "cases.jsonl").read_text().splitlines()]
    assert [c["split"] for c in cases[:6]] == ["train", "train", "test"] * 2
    with pytest.raises(ValueError, match="test_every"):
        synth(tmp_path / "c", n=10, test_every=1)


def test_held_out_grows_the_test_split_and_leaves_the_pool_alone(tmp_path):
    base = synth(tmp_path / "a", n=200, seed=0, defects=True)
    more = synth(tmp_path / "b", n=200, seed=0, defects=True, held_out=120)
    for name in ("train.jsonl", "defects.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert more["n_test"] >= base["n_test"] + 120 and more["held_out"] == 120
    test = [json.loads(line) for line in (tmp_path / "b" / "test.jsonl").read_text().splitlines()]
    train = [json.loads(line) for line in (tmp_path / "b" / "train.jsonl").read_text().splitlines()]
    assert len({r["id"] for r in test + train}) == len(test) + len(train)
    assert not {r["images"][0] for r in test} & {r["images"][0] for r in train}
    assert all((tmp_path / "b" / r["images"][0]).exists() for r in test)
    with pytest.raises(ValueError, match="held_out"):
        synth(tmp_path / "c", n=10, held_out=-1)


def test_val_is_a_clean_split_of_its_own_and_leaves_train_and_test_alone(tmp_path):
    base = synth(tmp_path / "a", n=150, seed=2, defects=True, held_out=20)
    more = synth(tmp_path / "b", n=150, seed=2, defects=True, held_out=20, val=45)
    for name in ("train.jsonl", "test.jsonl", "defects.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert not (tmp_path / "a" / "val.jsonl").exists() and base["n_val"] == 0
    # like held_out, the count is exact: whole cases, the last one asked only as many questions as are left
    val = load_samples(tmp_path / "b" / "val.jsonl", check_images=True)
    assert len(val) == more["n_val"] == 45 and {s.split for s in val} == {"val"}
    assert (more["n_train"], more["n_test"], more["by_task"]) == (base["n_train"], base["n_test"], base["by_task"])
    others = read_jsonl(tmp_path / "b" / "train.jsonl") + read_jsonl(tmp_path / "b" / "test.jsonl")
    assert not {s.images[0] for s in val} & {r["images"][0] for r in others}
    assert not {s.id for s in val} & {r["id"] for r in others}
    assert not {s.meta["case_id"] for s in val} & {r["meta"].get("case_id") for r in others}
    # clean: no defect is or copies a val sample, and every answer is the generator's truth
    defects = read_jsonl(tmp_path / "b" / "defects.jsonl")
    assert not ({d["id"] for d in defects} | {d["of"] for d in defects}) & {s.id for s in val}
    cases = {c["case_id"]: c for c in read_jsonl(tmp_path / "b" / "cases.jsonl")}
    val_cases = {c["case_id"] for c in cases.values() if c["split"] == "val"}
    assert val_cases == {s.meta["case_id"] for s in val} and len(cases) == base["n_cases"] + len(val_cases)
    for sample in val:
        assert sample.answer == expected_answer(sample, cases[sample.meta["case_id"]]), sample.id
    assert list(validate_file(tmp_path / "b" / "val.jsonl")) == []
    with pytest.raises(ValueError, match="val: must be >= 0"):
        synth(tmp_path / "c", n=10, val=-1)


def test_rerun_without_val_removes_the_stale_val_file(tmp_path):
    synth(tmp_path, n=40, seed=0, val=10)
    assert (tmp_path / "val.jsonl").exists()
    synth(tmp_path, n=40, seed=0)
    assert not (tmp_path / "val.jsonl").exists()
    assert json.loads((tmp_path / "synth.json").read_text())["n_val"] == 0
