"""DICOM de-identification by allowlist, on every file pydicom-data ships and against PS3.15 Table E.1-1."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.datadict import DicomDictionary, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from infimed.privacy import dicom_allowlist as allow
from infimed.privacy.dicom import (
    DicomDeidError,
    default_scrubber,
    deidentify_dataset,
    deidentify_file,
    remap_uid,
)
from infimed.privacy.dicom_audit import UNKNOWN_PUBLIC_TAG, plant_attributes, plant_identifiers, surviving

TABLE = Path(__file__).parent / "data" / "ps3_15_table_e1_1.tsv"


def table_e1_1() -> dict[int, str]:
    """Fixed public tags of Table E.1-1 -> Basic Profile action (repeating groups and 'private' left out)."""
    rows = [line.split("\t") for line in TABLE.read_text(encoding="utf-8").splitlines() if line[:1] not in "#t"]
    return {int(tag, 16): action for tag, action, _ in rows if len(tag) == 8 and "X" not in tag}


def _written(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.fixture(scope="module")
def scrubber():
    return default_scrubber()


@pytest.fixture
def ct() -> Dataset:
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"))


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's deliberately broken test files
def test_every_pydicom_data_file_loses_every_planted_identifier(scrubber):
    covered = with_pixels = planted = 0
    skipped: list[str] = []
    for path in sorted(get_testdata_files()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path)
                pixels = ds["PixelData"].value if "PixelData" in ds else None
            except Exception:
                skipped.append(f"{Path(path).name}: unreadable")
                continue
        if "SOPClassUID" not in ds:  # DICOMDIRs and fragments: refused with a clear error
            with pytest.raises(DicomDeidError, match="no SOPClassUID"):
                deidentify_dataset(ds, scrubber=scrubber)
            skipped.append(f"{Path(path).name}: no SOPClassUID")
            continue
        uids = {str(e.value) for e in ds.iterall() if e.VR == "UI" and e.keyword in allow.UIDS and e.value}
        marks = plant_identifiers(ds)
        deidentify_dataset(ds, allow_burned_in=True, scrubber=scrubber)
        raw = _written(ds)
        assert surviving(raw, marks) == [], path
        assert not [u for u in uids if len(u) > 12 and u.encode() in raw], path  # instance UIDs are remapped
        covered += 1
        planted += len(marks.tokens)
        if pixels is not None:
            with_pixels += 1
            assert pydicom.dcmread(io.BytesIO(raw))["PixelData"].value == pixels, path
    print(f"covered {covered} files ({with_pixels} with pixels), {planted} identifiers; skipped {len(skipped)}")
    assert covered >= 200 and with_pixels >= 150 and planted >= 10_000


def test_unknown_public_tag_is_really_unknown():
    assert UNKNOWN_PUBLIC_TAG not in DicomDictionary and UNKNOWN_PUBLIC_TAG >> 16 & 1 == 0


def test_allowlist_keeps_nothing_of_table_e1_1_but_uids_and_emptied_attributes():
    table = table_e1_1()
    assert len(table) > 600
    for name in allow.ALLOWED:
        tag = tag_for_keyword(name)
        assert tag is not None, f"{name} is not a DICOM keyword"
        if tag in table:
            assert name in allow.UIDS and table[tag] == "U" or name in allow.EMPTY and "Z" in table[tag], name


def test_every_table_e1_1_attribute_planted_is_gone(ct, scrubber):
    tags = [t for t in table_e1_1() if t not in ct and t >> 16 not in (0x0000, 0x0002)]
    marks = plant_attributes(ct, tags)
    assert marks.elements > 450
    deidentify_dataset(ct, scrubber=scrubber)
    assert surviving(_written(ct), marks) == []


def test_uids_are_remapped_consistently_and_standard_uids_kept(tmp_path, scrubber):
    src = Path(get_testdata_file("CT_small.dcm"))
    for name, salt in (("a", "s1"), ("b", "s1"), ("c", "s2")):
        deidentify_file(src, tmp_path / f"{name}.dcm", salt=salt, scrubber=scrubber)
    a, b, c = (pydicom.dcmread(tmp_path / f"{n}.dcm") for n in "abc")
    original = pydicom.dcmread(src)
    assert a.StudyInstanceUID == b.StudyInstanceUID == remap_uid(original.StudyInstanceUID, "s1")
    assert a.StudyInstanceUID != c.StudyInstanceUID != original.StudyInstanceUID
    assert a.StudyInstanceUID.startswith("2.25.") and a.SOPClassUID == original.SOPClassUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID


def test_record_says_what_was_done(ct, scrubber, tmp_path):
    ct.preamble = b"II*\0" + b"\x01" * 124  # e.g. a TIFF header in the preamble
    ct.save_as(tmp_path / "in.dcm")
    report = deidentify_file(tmp_path / "in.dcm", tmp_path / "out.dcm", scrubber=scrubber)
    out = pydicom.dcmread(tmp_path / "out.dcm")
    assert out.preamble == b"\0" * 128
    assert out.PatientIdentityRemoved == "YES" and out.LongitudinalTemporalInformationModified == "REMOVED"
    assert [c.CodeValue for c in out.DeidentificationMethodCodeSequence] == ["113100"]
    assert "all private attributes removed" in out.DeidentificationMethod
    assert all(len(v) <= 64 for v in out.DeidentificationMethod)
    assert out.PatientName == "" and out.StudyDate == "" and "InstitutionName" not in out
    assert not [e for e in out if e.VR in ("DA", "DT", "TM") and e.value]
    assert report.private_removed > 0 and report.removed > 0 and report.kept > 0


def test_kept_text_is_scrubbed_and_enumerations_checked(ct, scrubber):
    ct.Manufacturer = "ACME for patient MRN 4821337012"
    ct.ImageType = ["ORIGINAL", "MRN 4821337013"]
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "T-D3000", "SRT", "Chest, MRN 4821337014"
    ct.AnatomicRegionSequence = Sequence([item])
    report = deidentify_dataset(ct, scrubber=scrubber)
    assert "4821337012" not in ct.Manufacturer and ct.Manufacturer.startswith("ACME")
    assert list(ct.ImageType) == ["ORIGINAL", ""]  # a CS cannot hold a placeholder: emptied
    assert "4821337014" not in ct.AnatomicRegionSequence[0].CodeMeaning
    assert report.text_scrubbed == 3
    bad = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    bad.PhotometricInterpretation = "DOE JOHN"
    with pytest.raises(DicomDeidError, match="PhotometricInterpretation: a value") as err:
        deidentify_dataset(bad, scrubber=scrubber)
    assert "DOE" not in str(err.value)  # an error message never repeats a value that may be PHI


def test_non_ascii_identifiers_are_gone_in_every_encoding(ct, scrubber):
    ct.SpecificCharacterSet = "ISO_IR 192"
    ct.PatientName = "山田^太郎"
    ct.add_new(UNKNOWN_PUBLIC_TAG, "LO", "Ngozi Ọkáfọ̀r 山田太郎")
    ct.ImageComments = "Ñandú Ğül 山田"
    deidentify_dataset(ct, scrubber=scrubber)
    raw = _written(ct)
    for text in ("山田", "Ọkáfọ̀r", "Ñandú", "Ğül"):
        for codec in ("utf-8", "utf-16-le", "utf-16-be", "shift_jis", "euc_jp", "iso2022_jp"):
            try:
                assert text.encode(codec) not in raw, (text, codec)
            except UnicodeEncodeError:
                continue


def test_private_tags_go_unless_allowlisted(ct, scrubber):
    block = ct.private_block(0x0019, "ACME SAFE", create=True)
    block.add_new(0x0C, "DS", "1000")
    block.add_new(0x0D, "LO", "Seen by MRN 4821337015")
    block.add_new(0x0E, "UN", b"MRN 4821337016")  # allowlisted but uncheckable
    ct.add_new(0x00190100, "LO", "MRN 4821337017")  # outside any private block
    creator, kept = 0x00190000 | block.block_start >> 8, block.get_tag(0x0C)  # CT_small has its own 0019 block
    deidentify_dataset(ct, scrubber=scrubber, keep_private=[("ACME SAFE", 0x0019, 0x0C), ("ACME SAFE", 0x0019, 0x0E)])
    private = {e.tag: e.value for e in ct if e.tag.is_private}
    assert private == {creator: "ACME SAFE", kept: "1000"}
    assert [c.CodeValue for c in ct.DeidentificationMethodCodeSequence] == ["113100", "113111"]
    assert any("Retain Safe Private" in v for v in ct.DeidentificationMethod)


def test_burned_in_annotation_is_refused_unless_allowed(ct, tmp_path, scrubber):
    ct.BurnedInAnnotation = "YES"
    ct.save_as(tmp_path / "burned.dcm")
    with pytest.raises(DicomDeidError, match="burned.dcm: BurnedInAnnotation is YES"):
        deidentify_file(tmp_path / "burned.dcm", tmp_path / "out.dcm", scrubber=scrubber)
    assert not (tmp_path / "out.dcm").exists()
    deidentify_file(tmp_path / "burned.dcm", tmp_path / "out.dcm", scrubber=scrubber, allow_burned_in=True)
    out = pydicom.dcmread(tmp_path / "out.dcm")
    assert out.PatientIdentityRemoved == "NO" and any("NOT removed" in v for v in out.DeidentificationMethod)


@pytest.mark.parametrize("name", ["US1_UNCR.dcm", "SC_rgb.dcm"])
def test_modalities_that_carry_burned_in_text_need_a_stated_no(name, scrubber):
    ds = pydicom.dcmread(get_testdata_file(name))
    assert "BurnedInAnnotation" not in ds
    with pytest.raises(DicomDeidError, match="BurnedInAnnotation not stated"):
        deidentify_dataset(ds, scrubber=scrubber)
    ds.BurnedInAnnotation = "NO"
    deidentify_dataset(ds, scrubber=scrubber)
    assert ds.PatientIdentityRemoved == "YES"


def _with_comment(name: str, comment: bytes) -> Dataset:
    """A pydicom-data JPEG 2000 file whose first frame header gets a COM marker holding ``comment``."""
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(get_testdata_file(name))
    (frame,) = list(generate_frames(ds.PixelData, number_of_frames=1))
    com = b"\xff\x64" + (len(comment) + 4).to_bytes(2, "big") + b"\x00\x01" + comment
    ds.PixelData = encapsulate([frame[:2] + com + frame[2:]])
    return ds


def test_identifier_in_a_compressed_stream_comment_is_refused(scrubber):
    from infimed.privacy.dicom_stream import stream_texts

    ds = _with_comment("MR_small_jp2klossless.dcm", b"Smith John MRN 4821337020")
    assert stream_texts(ds) == ["Smith John MRN 4821337020", "Created by GDCM/OpenJPEG version 2.0"]
    with pytest.raises(DicomDeidError, match="compressed pixel stream holds an identifier") as err:
        deidentify_dataset(ds, scrubber=scrubber)
    assert "4821337020" not in str(err.value)
    banner = pydicom.dcmread(get_testdata_file("MR_small_jp2klossless.dcm"))  # the encoder's own COM marker
    deidentify_dataset(banner, scrubber=scrubber)  # an encoder banner is not an identifier
    assert banner.PatientIdentityRemoved == "YES"
