from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from infimed.privacy.dicom import DicomDeidError, deidentify_dataset, deidentify_file, remap_uid


@pytest.fixture
def ct_path() -> Path:
    return Path(get_testdata_file("CT_small.dcm"))


def test_basic_profile_removes_identity_and_keeps_pixels(ct_path, tmp_path):
    before = pydicom.dcmread(ct_path)
    assert before.PatientName and before.InstitutionName and any(e.tag.is_private for e in before)
    counts = deidentify_file(ct_path, tmp_path / "out.dcm")
    after = pydicom.dcmread(tmp_path / "out.dcm")
    assert after.PatientName == "" and after.PatientID == "" and after.PatientBirthDate == ""
    assert "InstitutionName" not in after and "StudyDescription" not in after
    assert not any(e.tag.is_private for e in after)
    assert after.PatientIdentityRemoved == "YES"
    assert after.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert (after.pixel_array == before.pixel_array).all()
    assert counts["removed"] > 0 and counts["uid_remapped"] > 0


def test_uids_are_remapped_consistently_and_standard_uids_kept(ct_path, tmp_path):
    a = deidentify_file(ct_path, tmp_path / "a.dcm", salt="s1") and pydicom.dcmread(tmp_path / "a.dcm")
    b = deidentify_file(ct_path, tmp_path / "b.dcm", salt="s1") and pydicom.dcmread(tmp_path / "b.dcm")
    c = deidentify_file(ct_path, tmp_path / "c.dcm", salt="s2") and pydicom.dcmread(tmp_path / "c.dcm")
    original = pydicom.dcmread(ct_path)
    assert a.StudyInstanceUID == b.StudyInstanceUID == remap_uid(original.StudyInstanceUID, "s1")
    assert a.StudyInstanceUID != c.StudyInstanceUID != original.StudyInstanceUID
    assert a.StudyInstanceUID.startswith("2.25.")
    assert a.SOPClassUID == original.SOPClassUID  # a registered DICOM UID, not an identifier
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID


def test_nested_sequences_are_walked(ct_path):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(ct_path)
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.4.5"
    item.PersonName = "Doe^Jane"
    ds.ReferencedImageSequence = Sequence([item])
    deidentify_dataset(ds, salt="x")
    ref = ds.ReferencedImageSequence[0]
    assert ref.ReferencedSOPInstanceUID == remap_uid("1.2.3.4.5", "x")
    assert ref.PersonName == "ANONYMIZED"


def test_burned_in_annotation_is_refused(ct_path, tmp_path):
    ds = pydicom.dcmread(ct_path)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(tmp_path / "burned.dcm")
    with pytest.raises(DicomDeidError, match="burned.dcm: BurnedInAnnotation"):
        deidentify_file(tmp_path / "burned.dcm", tmp_path / "out.dcm")
    assert not (tmp_path / "out.dcm").exists()
