"""De-identified 12-bit DICOM files decode to the same 8-bit image as the originals."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from infimed.io.dicom import dicom_to_sample
from infimed.io.images import load_image
from infimed.privacy.dicom import deidentify_file


@pytest.mark.parametrize("name", ["MR2_UNCR.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", "6154"])
def test_twelve_bit_image_is_unchanged_by_deidentification(name, tmp_path):
    src = get_testdata_file(name)
    if src is None:
        pytest.skip(f"pydicom-data file {name} not installed")
    deidentify_file(src, tmp_path / "deid.dcm")
    before, after = np.asarray(load_image(src)), np.asarray(load_image(tmp_path / "deid.dcm"))
    assert before.dtype == np.uint8 and before.std() > 5
    assert np.array_equal(before, after)
    a = dicom_to_sample(src, tmp_path / "a", sample_id="x")
    b = dicom_to_sample(tmp_path / "deid.dcm", tmp_path / "b", sample_id="x")
    assert np.array_equal(np.asarray(load_image(a.image_paths()[0])), np.asarray(load_image(b.image_paths()[0])))
    assert a.modality == b.modality and a.meta["dicom"] == b.meta["dicom"]
