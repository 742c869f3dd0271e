from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from infimed.curate.base import STEPS, Drop
from infimed.curate.steps.deidentify import DeidentifyStep
from infimed.io.jsonl import load_samples
from infimed.schema import Sample


@pytest.fixture(scope="module")
def step() -> DeidentifyStep:
    import infimed.curate.steps  # noqa: F401  (registers the steps)

    return STEPS.get("deidentify")()


def test_text_fields_are_scrubbed_and_ids_kept(step):
    sample = Sample(
        id="s1", question="Patient John Smith, MRN 1234567. Which finding is shown?",
        options={"A": "Hodgkin lymphoma", "B": "Call 555-201-3344"}, answer="A", answer_type="choice",
        rationale="Seen on 03/14/2020 by Dr. Alice Wong.", meta={"case_id": "c1"},
    )
    (out,) = list(step([sample]))
    assert isinstance(out, Sample) and out.id == "s1" and out.answer == "A"
    assert out.question == "Patient [NAME], MRN [MRN]. Which finding is shown?"
    assert out.options == {"A": "Hodgkin lymphoma", "B": "Call [PHONE]"}
    assert out.rationale == "Seen on [DATE] by Dr. [NAME]."
    assert out.meta == {"case_id": "c1", "deid": {"name": 2, "mrn": 1, "phone": 1, "date": 1}}
    report = step.report()
    assert report["phi_found"]["name"] >= 2 and report["samples_with_phi"] >= 1


def test_clean_sample_passes_unchanged(step):
    sample = Sample(id="s2", question="Is there a fracture of the femur?", answer="no", answer_type="yes_no")
    (out,) = list(step([sample]))
    assert out == sample and "deid" not in out.meta


def test_dicom_images_are_deidentified_into_copies(tmp_path):
    src = tmp_path / "scan.dcm"
    shutil.copy(get_testdata_file("CT_small.dcm"), src)
    sample = Sample(id="d1", images=["scan.dcm"], question="What organ is shown?", answer="lung",
                    answer_type="open").with_base_dir(tmp_path)
    (out,) = list(DeidentifyStep(dicom_dir=str(tmp_path / "clean"))([sample]))
    assert isinstance(out, Sample)
    new = Path(out.images[0])
    assert new.is_absolute() and new.parent == tmp_path / "clean"
    ds = pydicom.dcmread(new)
    assert ds.PatientIdentityRemoved == "YES" and ds.PatientName == ""
    assert pydicom.dcmread(src).PatientName != ""  # the input is never modified


def test_unsafe_dicom_is_dropped(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.BurnedInAnnotation = "YES"
    ds.save_as(tmp_path / "burned.dcm")
    sample = Sample(id="d2", images=["burned.dcm"], question="Which organ?", answer="lung",
                    answer_type="open").with_base_dir(tmp_path)
    (out,) = list(DeidentifyStep(dicom_dir=str(tmp_path / "clean"))([sample]))
    assert isinstance(out, Drop) and out.reason == "dicom_phi" and "BurnedInAnnotation" in out.detail


def test_phantom_phi_is_found(step, phantom_defects_dir):
    samples = load_samples(phantom_defects_dir / "train.jsonl")
    phi = {d["id"] for d in map(json.loads, (phantom_defects_dir / "defects.jsonl").read_text().splitlines())
           if d["kind"] == "phi"}
    out = {s.id: s for s in step(samples) if isinstance(s, Sample)}
    flagged = {i for i, s in out.items() if s.meta.get("deid")}
    assert phi <= flagged  # every injected PHI record is caught
    assert len(flagged - phi) <= 0.02 * len(samples)  # and clean questions are (almost) never touched
    for i in phi:
        assert {"name", "mrn"} & set(out[i].meta["deid"])
