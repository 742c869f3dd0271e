"""SLAKE, PMC-VQA, OmniMedVQA and MedXpertQA-MM from the folders their authors publish."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from bench_files import write_json, write_png

from infimed.eval.benchmarks import BenchmarkError, load_benchmark
from infimed.eval.benchmarks.omnimedvqa import map_modality


def _slake_row(qid: int, **over) -> dict:
    row = {
        "img_id": 102, "img_name": "xmlab102/source.jpg", "question": "Is the lung healthy?", "answer": "No",
        "q_lang": "en", "location": "Lung", "modality": "X-Ray", "answer_type": "CLOSED", "base_type": "vqa",
        "content_type": "Abnormality", "triple": ["vhead", "_", "_"], "qid": qid,
    }
    return row | over


def test_slake_languages_types_modality_and_task(tmp_path: Path) -> None:
    write_png(tmp_path / "imgs" / "xmlab102" / "source.jpg")
    write_json(tmp_path / "test.json", [
        _slake_row(1),
        _slake_row(2, question="这张图片是什么模态?", answer="X光", q_lang="zh", answer_type="OPEN", content_type="Modality"),
        _slake_row(3, question="肺是否健康?", answer="否", q_lang="zh"),
        _slake_row(4, question="Which is bigger, heart or lung?", answer="Lung", content_type="Size", modality="CT"),
        _slake_row(5, question="Where is the lesion?", answer="Left Lung, Right", answer_type="OPEN",
                   content_type="Position", modality="MRI"),
    ])
    s = load_benchmark("slake", tmp_path, expected=5)
    assert [x.language for x in s] == ["en", "zh", "zh", "en", "en"]
    assert [x.answer_type for x in s] == ["yes_no", "open", "yes_no", "open", "open"]
    assert [x.answer for x in s] == ["no", "X光", "no", "Lung", "Left Lung, Right"]
    assert [x.modality for x in s] == ["xray", "xray", "xray", "ct", "mri"]
    assert [x.task for x in s] == [
        "abnormality_detection", "modality_recognition", "abnormality_detection", "attribute", "lesion_localization",
    ]
    assert s[2].meta["answer_raw"] == "否" and s[3].meta["answer_type"] == "CLOSED"
    assert s[0].id == "slake-test-1" and s[0].image_paths()[0] == (tmp_path / "imgs/xmlab102/source.jpg").resolve()


def test_slake_missing_images_and_bad_rows(tmp_path: Path) -> None:
    write_json(tmp_path / "test.json", [_slake_row(1)])
    with pytest.raises(BenchmarkError, match=r"1 image file\(s\) missing .*slake-test-1"):
        load_benchmark("slake", tmp_path, expected=1)
    with pytest.warns(UserWarning, match="image file"):
        assert len(load_benchmark("slake", tmp_path, expected=1, strict=False)) == 1
    write_json(tmp_path / "test.json", [_slake_row(1), _slake_row(2, q_lang="fr")])
    with pytest.raises(BenchmarkError, match=r"test.json: row 2 field 'q_lang': expected en or zh"):
        load_benchmark("slake", tmp_path, expected=2)
    with pytest.raises(BenchmarkError, match="unknown split 'dev2'"):
        load_benchmark("slake", tmp_path, split="dev2")


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def test_pmc_vqa_test_clean_and_v2(tmp_path: Path) -> None:
    write_png(tmp_path / "images" / "PMC1064097_F1.jpg")
    write_png(tmp_path / "images_2" / "PMC1_F2.jpg")
    _write_csv(
        tmp_path / "test_clean.csv",
        ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"],
        [["PMC1064097_F1.jpg", "What is the uptake pattern in the breast?", "Focal uptake pattern",
          "A:Diffuse uptake pattern", "B:Focal uptake pattern", "C:No uptake pattern ",
          "D:Cannot determine from the information given", "B"]],
    )
    (sample,) = load_benchmark("pmc_vqa", tmp_path, expected=1)
    assert sample.split == "test_clean" and sample.answer_type == "choice" and sample.answer == "B"
    assert sample.options == {
        "A": "Diffuse uptake pattern", "B": "Focal uptake pattern", "C": "No uptake pattern",
        "D": "Cannot determine from the information given",
    }
    _write_csv(
        tmp_path / "test_2.csv",
        ["index", "Figure_path", "Caption", "Question", "Choice A", "Choice B", "Choice C", "Choice D", "Answer", "split"],
        [["0", "PMC1_F2.jpg", "a caption", "Which organism?", "A:E. coli", "B:S. aureus", "C:A. fumigatus",
          "D: C. albicans", "C", "test"]],
    )
    (v2,) = load_benchmark("pmc_vqa", tmp_path, split="test_2")
    assert v2.answer == "C" and v2.image_paths()[0].parent.name == "images_2" and v2.meta["caption"] == "a caption"
    assert v2.options == {"A": "E. coli", "B": "S. aureus", "C": "A. fumigatus", "D": "C. albicans"}
    with pytest.raises(BenchmarkError, match=r"expected 2000 rows, found 1"):
        load_benchmark("pmc_vqa", tmp_path)


def test_pmc_vqa_answer_label_not_an_option(tmp_path: Path) -> None:
    write_png(tmp_path / "images" / "f.jpg")
    _write_csv(
        tmp_path / "test_clean.csv",
        ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"],
        [["f.jpg", "Q?", "x", "A:x", "B:y", "C:z", "D:w", "E"]],
    )
    with pytest.raises(BenchmarkError, match=r"test_clean.csv: row 1 field 'Answer_label'"):
        load_benchmark("pmc_vqa", tmp_path, expected=1)


def _omni_row(qid: str, **over) -> dict:
    row = {
        "dataset": "Chest CT Scan", "question_id": qid, "question_type": "Disease Diagnosis",
        "question": "What abnormality is shown?", "gt_answer": "Adenocarcinoma",
        "image_path": "Images/Chest CT Scan/test/a.png", "option_A": "Normal", "option_B": "Adenocarcinoma",
        "option_C": "Large cell carcinoma", "option_D": "Squamous cell carcinoma",
        "modality_type": "CT(Computed Tomography)",
    }
    return row | over


def test_omnimedvqa_maps_modality_and_question_type(tmp_path: Path) -> None:
    write_png(tmp_path / "Images" / "Chest CT Scan" / "test" / "a.png")
    qa = tmp_path / "QA_information" / "Open-access"
    write_json(qa / "Chest CT Scan.json", [
        _omni_row("q1"),
        # one release file spells the field "modality"
        {k: v for k, v in _omni_row("q2", question_type="Modality Recognition", gt_answer="CT").items()
         if k != "modality_type"} | {"modality": "CT(Computed Tomography)", "option_A": "MR", "option_B": "CT"},
    ])
    write_json(qa / "RetOCT.json", [
        _omni_row("q1", dataset="RetOCT", modality_type="OCT (Optical Coherence Tomography",
                  question_type="Other Biological Attributes", gt_answer="yes", option_A="yes", option_B="no",
                  option_C=None, option_D=None),
    ])
    s = load_benchmark("omnimedvqa", tmp_path, expected=3)
    assert [x.answer for x in s] == ["B", "B", "A"]
    assert [x.modality for x in s] == ["ct", "ct", "oct"]
    assert [x.task for x in s] == ["disease_diagnosis", "modality_recognition", "attribute"]
    assert s[2].options == {"A": "yes", "B": "no"}
    assert s[2].id == "omnimedvqa-RetOCT-q1" and s[2].meta["modality_type"].startswith("OCT")
    write_json(qa / "Bad.json", [_omni_row("q9", gt_answer="Melanoma")])
    with pytest.raises(BenchmarkError, match=r"Bad.json: row 1 field 'gt_answer'"):
        load_benchmark("omnimedvqa", tmp_path, strict=False)


@pytest.mark.parametrize(
    ("raw", "ours"),
    [
        ("CT(Computed Tomography)", "ct"), ("MR (Mag-netic Resonance Imaging)", "mri"), ("X-Ray", "xray"),
        ("Fundus Photography", "fundus"), ("Dermoscopy", "dermoscopy"), ("Microscopy Images", "microscopy"),
        ("OCT (Optical Coherence Tomography", "oct"), ("ultrasound", "ultrasound"), ("Endoscopy", "endoscopy"),
        ("Digital Photography", "other"), ("Infrared Reflectance Imaging", "other"),
    ],
)
def test_omnimedvqa_modality_names(raw: str, ours: str) -> None:
    assert map_modality(raw) == ours


def test_medxpertqa_mm_strips_the_repeated_choices(tmp_path: Path) -> None:
    write_png(tmp_path / "images" / "MM-0-a.jpeg")
    write_png(tmp_path / "images" / "MM-0-b.jpeg")
    write_png(tmp_path / "images" / "MM-1-a.jpeg")
    options = {"A": "Gout", "B": "Pseudogout", "C": "Septic arthritis", "D": "Psoriatic arthritis", "E": "RA"}
    write_json(tmp_path / "MM" / "test.jsonl", [
        {"id": "MM-0", "question": "A 60-year-old man ... What is the diagnosis?\nAnswer Choices: (A) Gout (B) "
         "Pseudogout (C) Septic arthritis (D) Psoriatic arthritis (E) RA", "options": options, "label": "B",
         "images": ["MM-0-a.jpeg", "MM-0-b.jpeg"], "medical_task": "Diagnosis", "body_system": "Skeletal",
         "question_type": "Reasoning"},
        {"id": "MM-1", "question": "Next step?", "options": options, "label": "E", "images": ["MM-1-a.jpeg"],
         "medical_task": "Treatment", "body_system": "Skeletal", "question_type": "Understanding"},
    ], lines=True)
    s = load_benchmark("medxpertqa_mm", tmp_path, expected=2)
    assert s[0].question == "A 60-year-old man ... What is the diagnosis?"
    assert "Answer Choices" in s[0].meta["question_full"]
    assert (s[0].answer, s[0].task, len(s[0].images)) == ("B", "disease_diagnosis", 2)
    assert (s[1].answer, s[1].task, s[1].meta["question_type"]) == ("E", "other", "Understanding")
    with pytest.raises(BenchmarkError, match=r"expected 2000 rows, found 2"):
        load_benchmark("medxpertqa_mm", tmp_path)


def test_image_names_leaving_the_benchmark_folder_are_refused(tmp_path: Path) -> None:
    write_png(tmp_path / "secret.png")
    root = tmp_path / "slake"
    write_png(root / "imgs" / "xmlab102" / "source.jpg")
    write_json(root / "test.json", [_slake_row(1), _slake_row(2, img_name="../../secret.png")])
    with pytest.raises(BenchmarkError, match=r"test.json: row 2 field 'img_name': '../../secret.png' lies outside"):
        load_benchmark("slake", root, expected=2)
    s = load_benchmark("slake", root, expected=2, images_within_data=False)
    assert s[1].image_paths()[0] == (tmp_path / "secret.png").resolve()
