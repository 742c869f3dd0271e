"""The curate pipeline writes de-identified DICOM copies into its output folder, never the working directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from infimed.curate.config import CurateConfig, StepSpec
from infimed.curate.pipeline import run_pipeline
from infimed.curate.steps.deidentify import DeidentifyStep
from infimed.io.jsonl import load_samples
from infimed.schema import Sample


def _input(folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "scan.dcm")
    row = {"id": "p/1", "images": ["scan.dcm"], "question": "Which organ is shown?", "answer": "lung",
           "answer_type": "open"}
    (folder / "data.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    return folder / "data.jsonl"


def test_copies_go_to_the_output_folder_and_survive_a_move(tmp_path, monkeypatch):
    data = _input(tmp_path / "in")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    config = CurateConfig(steps=[StepSpec(name="deidentify")], exports=[])
    run_pipeline([data], tmp_path / "out", config)
    assert list(cwd.iterdir()) == []  # nothing written where the command was started
    (row,) = [json.loads(line) for line in (tmp_path / "out" / "curated.jsonl").read_text().splitlines()]
    (image,) = row["images"]
    assert not Path(image).is_absolute() and image.startswith("deid_dicom/")
    shutil.move(tmp_path / "out", tmp_path / "moved")
    (sample,) = load_samples(tmp_path / "moved" / "curated.jsonl", check_images=True)
    ds = pydicom.dcmread(sample.image_paths()[0])
    assert ds.PatientIdentityRemoved == "YES" and ds.PatientName == ""
    assert pydicom.dcmread(tmp_path / "in" / "scan.dcm").PatientName != ""  # the input is never modified


def test_a_sample_without_a_folder_needs_dicom_dir(tmp_path, monkeypatch):
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "scan.dcm")
    monkeypatch.chdir(tmp_path)
    sample = Sample(id="d1", images=[str(tmp_path / "scan.dcm")], question="Which organ?", answer="lung",
                    answer_type="open")
    with pytest.raises(ValueError, match="'d1': a DICOM image needs dicom_dir"):
        list(DeidentifyStep()([sample]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.dcm"]
