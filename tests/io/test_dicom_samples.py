"""Real DICOM files (pydicom's bundled CT and MR) and synthetic series become samples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from infimed.io.dicom import (
    DicomError,
    dicom_to_sample,
    iter_dicom_series,
    sample_modality,
    series_to_samples,
)
from infimed.io.images import load_image
from infimed.io.jsonl import load_samples, write_jsonl


def _testfile(name: str) -> Path:
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"pydicom test file {name} not available offline")
    return Path(path)


@pytest.mark.parametrize(("name", "modality", "text"), [("CT_small.dcm", "ct", "CT"), ("MR_small.dcm", "mri", "MRI")])
def test_real_ct_and_mr_become_samples(tmp_path: Path, name: str, modality: str, text: str) -> None:
    path = _testfile(name)
    sample = dicom_to_sample(path, tmp_path)
    ds = pydicom.dcmread(path)
    assert sample.modality == modality and sample.task == "modality_recognition"
    assert sample.answer_type == "choice" and sample.options is not None and len(sample.options) == 4
    assert sample.options[sample.answer] == text
    image = load_image(sample.image_paths()[0])
    assert image.size == (ds.Columns, ds.Rows) and image.mode == "RGB"
    assert sample.meta["dicom"]["Modality"] == ds.Modality
    assert set(sample.meta["dicom"]) <= {"Modality", "BodyPartExamined", "Rows", "Columns"}
    dumped = json.dumps(sample.to_json_dict())
    assert str(ds.PatientName) not in dumped and str(ds.SOPInstanceUID) not in dumped and name not in dumped
    # the sample round-trips through a JSONL file beside its images folder
    write_jsonl(tmp_path / "samples.jsonl", [sample])
    (loaded,) = load_samples(tmp_path / "samples.jsonl", check_images=True)
    assert loaded.image_paths()[0].exists()


def test_options_are_deterministic_per_seed(tmp_path: Path) -> None:
    path = _testfile("CT_small.dcm")
    first = dicom_to_sample(path, tmp_path / "a", seed=3)
    assert dicom_to_sample(path, tmp_path / "b", seed=3).options == first.options
    orders = {tuple(dicom_to_sample(path, tmp_path / "c", seed=s).options.values()) for s in range(8)}  # type: ignore[union-attr]
    assert len(orders) > 1


def test_custom_question_and_unmapped_modality(tmp_path: Path) -> None:
    path = _testfile("MR_small.dcm")
    sample = dicom_to_sample(path, tmp_path, question="Is this a brain scan?", answer="yes")
    assert sample.answer_type == "yes_no" and sample.task is None
    with pytest.raises(DicomError, match="needs an answer"):
        dicom_to_sample(path, tmp_path, question="Which sequence?")
    rtdose = _testfile("rtdose.dcm")
    with pytest.raises(DicomError, match="'Modality'"):
        dicom_to_sample(rtdose, tmp_path)


def test_modality_mapping() -> None:
    assert [sample_modality(m) for m in ("CT", "MR", "DX", "US", "OP", "SM", "NM", None)] == [
        "ct", "mri", "xray", "ultrasound", "fundus", "pathology", "other", "other",
    ]


def _write_series(folder: Path, uid: str, numbers: list[int]) -> list[Path]:
    ds = pydicom.dcmread(_testfile("MR_small.dcm"))
    paths = []
    for n in numbers:
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = f"{uid}.{n}"
        ds.InstanceNumber = n
        path = folder / f"slice_{uid[-1]}_{10 - n}.dcm"  # file names sort opposite to InstanceNumber
        ds.save_as(path)
        paths.append(path)
    return paths


def test_series_grouped_and_sorted_middle_slice(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    _write_series(src, "1.2.3.1", [1, 2, 3, 4, 5])
    _write_series(src / "sub", "1.2.3.2", [2, 1])
    shutil.copy(_testfile("CT_small.dcm"), src / "no_suffix_ct")  # detected by its DICM preamble
    (src / "README.txt").write_text("not dicom")
    (src / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 10)

    series = list(iter_dicom_series(src))
    by_uid = {s.uid: s for s in series}
    assert set(by_uid) == {"1.2.3.1", "1.2.3.2", pydicom.dcmread(src / "no_suffix_ct").SeriesInstanceUID}
    numbers = [int(pydicom.dcmread(p).InstanceNumber) for p in by_uid["1.2.3.1"].files]
    assert numbers == [1, 2, 3, 4, 5]

    (middle,) = series_to_samples(by_uid["1.2.3.1"], tmp_path / "out")
    assert middle.meta["slice_index"] == 2 and middle.meta["n_slices"] == 5
    assert middle.id == f"{by_uid['1.2.3.1'].id}-s2"
    every = series_to_samples(by_uid["1.2.3.2"], tmp_path / "out", slices="all", split="train")
    assert [s.meta["slice_index"] for s in every] == [0, 1] and all(s.split == "train" for s in every)
    assert len({s.id for s in every}) == 2


def test_series_of_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DicomError, match="not a folder"):
        list(iter_dicom_series(tmp_path / "nope"))


def test_import_folder_writes_jsonl_and_reports_bad_series(tmp_path: Path) -> None:
    from infimed.io.dicom import import_dicom_folder

    src = tmp_path / "in"
    src.mkdir()
    _write_series(src, "1.2.3.1", [1, 2, 3])
    shutil.copy(_testfile("CT_small.dcm"), src / "ct.dcm")
    shutil.copy(_testfile("rtdose.dcm"), src / "dose.dcm")  # RTDOSE: no modality question -> reported
    report = import_dicom_folder(src, tmp_path / "out")
    assert report["n_series"] == 3 and report["n_samples"] == 2
    assert report["modalities"] == {"ct": 1, "mri": 1}
    assert len(report["errors"]) == 1 and "RTDOSE" in report["errors"][0]["error"]
    samples = load_samples(tmp_path / "out" / "samples.jsonl", check_images=True)
    assert sorted(s.modality or "" for s in samples) == ["ct", "mri"]


def test_burned_in_risk_is_refused_unless_allowed(tmp_path: Path) -> None:
    from infimed.io.dicom import import_dicom_folder

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(_testfile("US1_UNCR.dcm"), src / "us.dcm")  # ultrasound without BurnedInAnnotation
    with pytest.raises(DicomError, match="us.dcm: BurnedInAnnotation not stated and Modality US"):
        dicom_to_sample(src / "us.dcm", tmp_path / "o")
    report = import_dicom_folder(src, tmp_path / "out")
    assert report["n_samples"] == 0 and "allow_burned_in" in report["errors"][0]["error"]
    allowed = import_dicom_folder(src, tmp_path / "out2", allow_burned_in=True)
    assert allowed["modalities"] == {"ultrasound": 1}
    from typer.testing import CliRunner

    from infimed.cli import app

    args = ["data", "import", "dicom", "--folder", str(src), "--out", str(tmp_path / "cli")]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert load_samples(tmp_path / "cli" / "samples.jsonl") == []
    assert CliRunner().invoke(app, [*args, "--allow-burned-in"]).exit_code == 0
    assert len(load_samples(tmp_path / "cli" / "samples.jsonl")) == 1
