"""VQA-RAD, PathVQA and MMMU (Health & Medicine) from the parquet / save_to_disk layouts of the Hub."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_files import png_bytes, write_parquet

from infimed.eval.benchmarks import BenchmarkError, load_benchmark


def _vqa_rows(n: int) -> list[dict]:
    answers = ["yes", "No", "left lung", "ct"]
    return [
        {"image": {"bytes": png_bytes(10 * i), "path": f"{i}.png"}, "question": f"question {i}?", "answer": answers[i % 4]}
        for i in range(n)
    ]


def test_vqa_rad_parquet_answer_types_and_image_cache(tmp_path: Path) -> None:
    root = tmp_path / "vqa-rad"
    write_parquet(root / "data" / "test-00000-of-00001-eb8844602202be60.parquet", _vqa_rows(4))
    write_parquet(root / "data" / "train-00000-of-00001-aa.parquet", _vqa_rows(2))
    samples = load_benchmark("vqa_rad", root, split="test", expected=4)
    assert [s.answer_type for s in samples] == ["yes_no", "yes_no", "open", "open"]
    assert [s.answer for s in samples] == ["yes", "no", "left lung", "ct"]
    assert samples[1].meta["answer_raw"] == "No"
    assert all(s.split == "test" and s.source == "vqa_rad" and s.modality is None for s in samples)
    first = samples[0].image_paths()[0]
    assert first.is_absolute() and first.read_bytes() == png_bytes(0)
    assert first.parent == root / ".infimed_cache" / "vqa_rad" / "test"
    # a second load reuses the cached files instead of rewriting them
    mtime = first.stat().st_mtime_ns
    again = load_benchmark("vqa_rad", root, split="test", expected=4)
    assert again[0].image_paths()[0] == first and first.stat().st_mtime_ns == mtime


def test_vqa_rad_partial_download_raises_with_counts(tmp_path: Path) -> None:
    root = tmp_path / "vqa-rad"
    write_parquet(root / "data" / "test-00000-of-00001.parquet", _vqa_rows(3))
    with pytest.raises(BenchmarkError, match=r"expected 451 rows, found 3 \(partial download\?\)"):
        load_benchmark("vqa_rad", root, image_cache=tmp_path / "cache")
    assert len(load_benchmark("vqa_rad", root, expected=3, image_cache=tmp_path / "cache")) == 3
    assert len(load_benchmark("vqa_rad", root, limit=2, image_cache=tmp_path / "cache")) == 2


def test_truncated_parquet_is_reported(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "data" / "test-00000-of-00001.parquet", _vqa_rows(2))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(BenchmarkError, match="cannot read parquet"):
        load_benchmark("vqa_rad", tmp_path, expected=2)


def test_pathvqa_from_save_to_disk(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict, Features, Image, Value

    features = Features({"image": Image(), "question": Value("string"), "answer": Value("string")})
    rows = {
        "image": [{"bytes": png_bytes(1), "path": None}, {"bytes": png_bytes(2), "path": None}],
        "question": ["is there fibrosis?", "what is present?"],
        "answer": ["yes", "granuloma"],
    }
    DatasetDict({"validation": Dataset.from_dict(rows, features=features)}).save_to_disk(str(tmp_path / "pv"))
    samples = load_benchmark("pathvqa", tmp_path / "pv", split="val", expected=2)
    assert [(s.answer_type, s.answer) for s in samples] == [("yes_no", "yes"), ("open", "granuloma")]
    assert all(s.modality == "pathology" and s.split == "validation" for s in samples)
    assert samples[1].image_paths()[0].read_bytes() == png_bytes(2)


def _mmmu_row(subject: str, n: int, **over) -> dict:
    row = {
        "id": f"validation_{subject}_{n}",
        "question": "<image 1> Which structure is shown?",
        "options": "['Liver', 'Spleen', \"Kidney's cortex\"]",
        "explanation": "",
        "image_1": {"bytes": png_bytes(n), "path": "a.png"},
        "image_2": None, "image_3": None, "image_4": None, "image_5": None, "image_6": None, "image_7": None,
        "img_type": "['Pathological Images']",
        "answer": "B",
        "topic_difficulty": "Easy",
        "question_type": "multiple-choice",
        "subfield": "Pathology",
    }
    return row | over


def test_mmmu_med_reads_the_five_subjects(tmp_path: Path) -> None:
    from infimed.eval.benchmarks.mmmu_med import SUBJECTS

    for subject in SUBJECTS:
        rows = [_mmmu_row(subject, 1)]
        if subject == "Pharmacy":
            rows.append(_mmmu_row(subject, 2, question="Dose in mg? <image 1> <image 2>", options="[]",
                                  question_type="open", answer="12.5", img_type="['Tables']",
                                  image_2={"bytes": png_bytes(99), "path": "b.png"}))
        write_parquet(tmp_path / subject / "validation-00000-of-00001.parquet", rows)
    samples = load_benchmark("mmmu_med", tmp_path, expected=6)
    assert len(samples) == 6
    choice = samples[0]
    assert choice.options == {"A": "Liver", "B": "Spleen", "C": "Kidney's cortex"}
    assert (choice.answer_type, choice.answer, choice.modality) == ("choice", "B", "pathology")
    assert choice.meta["subject"] == "Basic_Medical_Science"
    open_q = next(s for s in samples if s.answer_type == "open")
    assert open_q.answer == "12.5" and open_q.options is None and len(open_q.images) == 2
    assert open_q.image_paths()[1].read_bytes() == png_bytes(99)
    with pytest.raises(BenchmarkError, match=r"expected 150 rows, found 6"):
        load_benchmark("mmmu_med", tmp_path)


def test_mmmu_med_bad_options_names_file_row_and_field(tmp_path: Path) -> None:
    from infimed.eval.benchmarks.mmmu_med import SUBJECTS

    for subject in SUBJECTS:
        write_parquet(tmp_path / subject / "validation-00000-of-00001.parquet", [_mmmu_row(subject, 1, options="['a', ")])
    with pytest.raises(BenchmarkError, match=r"Basic_Medical_Science.*row 1 field 'options'"):
        load_benchmark("mmmu_med", tmp_path, expected=5)


def test_missing_subject_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(BenchmarkError, match="Basic_Medical_Science: folder not found"):
        load_benchmark("mmmu_med", tmp_path, expected=5)
