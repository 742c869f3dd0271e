"""The shared behaviour of ``load_benchmark``: registry, splits, limits, count and image checks, and the
phantom / MedMNIST loaders that read our own formats."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_files import write_json, write_png

from infimed.eval.benchmarks import BENCHMARKS, BenchmarkError, load_benchmark

NAMES = [
    "iu_xray", "iu_xray_openi", "medmcqa", "medmnist", "medqa", "medxpertqa_mm", "mimic_cxr", "mmmu_med",
    "omnimedvqa", "pathvqa", "phantom", "pmc_vqa", "pubmedqa", "slake", "vqa_rad",
]


def test_every_benchmark_is_registered() -> None:
    assert BENCHMARKS.names() == NAMES
    for name in NAMES:
        spec = BENCHMARKS.get(name)
        assert spec.name == name and spec.default_split in spec.counts


def test_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match=r"unknown benchmark 'vqa-rad'; known: iu_xray, .*medmcqa, .*vqa_rad"):
        load_benchmark("vqa-rad", tmp_path)


def test_missing_root_names_the_expected_layout(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match=r"nowhere: not found; slake expects BoKelvin/SLAKE"):
        load_benchmark("slake", tmp_path / "nowhere")


def _slake(tmp_path: Path, n: int, *, qid=None) -> Path:
    write_png(tmp_path / "imgs" / "a.jpg")
    rows = [
        {"qid": qid if qid is not None else i, "img_name": "a.jpg", "question": f"Q{i}?", "answer": "yes",
         "answer_type": "CLOSED", "q_lang": "en", "modality": "CT", "content_type": "Organ"}
        for i in range(n)
    ]
    write_json(tmp_path / "test.json", rows)
    return tmp_path


def test_limit_skips_the_count_check(tmp_path: Path) -> None:
    root = _slake(tmp_path, 5)
    assert [s.id for s in load_benchmark("slake", root, limit=2)] == ["slake-test-0", "slake-test-1"]
    with pytest.raises(BenchmarkError, match="limit must be at least 1"):
        load_benchmark("slake", root, limit=0)


def test_more_rows_than_published_only_warns(tmp_path: Path) -> None:
    root = _slake(tmp_path, 3)
    with pytest.warns(UserWarning, match="expected 2 rows, found 3"):
        assert len(load_benchmark("slake", root, expected=2)) == 3


def test_duplicate_ids_fail(tmp_path: Path) -> None:
    root = _slake(tmp_path, 2, qid=7)
    with pytest.raises(BenchmarkError, match="duplicate sample id 'slake-test-7'"):
        load_benchmark("slake", root, strict=False)


def test_phantom_reads_synth_output(tmp_path: Path) -> None:
    write_png(tmp_path / "images" / "p0.png")
    write_json(tmp_path / "test.jsonl", [
        {"id": "p0", "images": ["images/p0.png"], "question": "Is there a lesion?", "answer": "yes",
         "answer_type": "yes_no", "modality": "ct", "task": "abnormality_detection", "split": "test"},
    ], lines=True)
    (s,) = load_benchmark("phantom", tmp_path)
    assert s.image_paths()[0] == tmp_path / "images" / "p0.png" and s.task == "abnormality_detection"
    write_json(tmp_path / "test.jsonl", [{"id": "p0", "question": "Q?", "answer": "maybe", "answer_type": "yes_no"}],
               lines=True)
    with pytest.raises(BenchmarkError, match=r"test.jsonl:1 \[id=p0\] field 'answer'"):
        load_benchmark("phantom", tmp_path)


def test_phantom_from_synth(phantom_dir: Path) -> None:
    pytest.importorskip("infimed.data.phantom")
    samples = load_benchmark("phantom", phantom_dir)
    assert samples and all(p.is_file() for s in samples for p in s.image_paths())


def test_medmnist_npz(tmp_path: Path) -> None:
    pytest.importorskip("infimed.data.medmnist")
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 4), ("val", 2), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 255, size=(n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, size=(n, 1), dtype=np.uint8)
    np.savez(tmp_path / "pneumoniamnist.npz", **arrays)
    samples = load_benchmark("medmnist", tmp_path / "pneumoniamnist.npz", image_cache=tmp_path / "cache")
    # the importer asks a yes/no and a multiple-choice question per image
    assert len(samples) == 6 and {s.answer_type for s in samples} == {"yes_no", "choice"}
    assert all(s.split == "test" and s.modality == "xray" for s in samples)
    assert all(p.is_file() for s in samples for p in s.image_paths())
    again = load_benchmark("medmnist", tmp_path, split="validation", image_cache=tmp_path / "cache")
    assert len(again) == 4 and {s.split for s in again} == {"val"}
    with pytest.raises(BenchmarkError, match="expected exactly one MedMNIST .npz"):
        load_benchmark("medmnist", tmp_path / "cache")
