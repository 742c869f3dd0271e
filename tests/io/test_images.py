"""Image loading: DICOM windowing to 8-bit, 16-bit PNG scaling, and every failure as ImageLoadError."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from infimed.io.images import ImageLoadError, is_dicom, load_image, window_to_uint8


def _dicom(path: Path, pixels: np.ndarray, *, photometric: str = "MONOCHROME2", **tags: Any) -> Path:
    """A minimal uncompressed single-frame (or multi-frame) DICOM file with the given pixel array and tags."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = tags.pop("Modality", "CT")
    ds.PhotometricInterpretation = photometric
    rgb = photometric == "RGB"
    ds.SamplesPerPixel = 3 if rgb else 1
    if rgb:
        ds.PlanarConfiguration = 0
    frames = pixels.shape[0] if pixels.ndim == (4 if rgb else 3) else 1
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if rgb else pixels.shape[-2:]
    ds.BitsAllocated = ds.BitsStored = pixels.dtype.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image)[..., 0].astype(int)


def test_ct_window_with_rescale(tmp_path: Path) -> None:
    hu = np.array([[-1000, -160, 40], [240, 1000, 40]], dtype=np.int16)
    raw = ((hu + 1024) // 2).astype(np.uint16)  # stored = (HU - intercept) / slope
    path = _dicom(tmp_path / "ct.dcm", raw, RescaleSlope=2, RescaleIntercept=-1024, WindowCenter=40,
                  WindowWidth=400)
    out = _gray(load_image(path))
    assert out[0, 0] == 0 and out[0, 1] == 0  # at / below the window floor (-160)
    assert out[1, 0] == 255 and out[1, 1] == 255  # at / above the window ceiling (240)
    assert abs(out[0, 2] - 128) <= 1  # window centre


def test_mr_without_window_uses_percentiles(tmp_path: Path) -> None:
    raw = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 7
    out = _gray(load_image(_dicom(tmp_path / "mr.dcm", raw, Modality="MR")))
    assert out.min() == 0 and out.max() == 255
    assert np.all(np.diff(out.ravel()) >= 0)  # monotonic mapping


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    raw = np.array([[0, 100], [200, 4000]], dtype=np.uint16)
    out = _gray(load_image(_dicom(tmp_path / "cr.dcm", raw, photometric="MONOCHROME1", Modality="CR",
                                  WindowCenter=100, WindowWidth=200)))
    assert out[0, 0] == 255 and out[1, 1] == 0


def test_multiframe_takes_middle_frame(tmp_path: Path) -> None:
    frames = np.stack([np.full((4, 4), v, dtype=np.uint16) for v in (0, 500, 1000)])
    out = _gray(load_image(_dicom(tmp_path / "mf.dcm", frames, WindowCenter=500, WindowWidth=1000)))
    assert np.all(out == 128)


def test_16bit_rgb_dicom_is_scaled_not_wrapped(tmp_path: Path) -> None:
    pixels = np.zeros((2, 2, 3), dtype=np.uint16)
    pixels[0, 0] = 65535
    pixels[1, 1] = 32768
    out = np.asarray(load_image(_dicom(tmp_path / "rgb.dcm", pixels, photometric="RGB", Modality="OT")))
    assert out[0, 0].tolist() == [255, 255, 255] and out[1, 1].tolist() == [128, 128, 128]


def test_dicom_detected_without_suffix(tmp_path: Path) -> None:
    path = _dicom(tmp_path / "IM0001", np.zeros((2, 2), dtype=np.uint16))
    assert is_dicom(path)
    assert load_image(path).size == (2, 2)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_corrupt_dicom(tmp_path: Path) -> None:
    path = tmp_path / "bad.dcm"
    path.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage")
    with pytest.raises(ImageLoadError, match="bad.dcm: cannot read DICOM"):
        load_image(path)


def test_dicom_without_pixel_data(tmp_path: Path) -> None:
    path = _dicom(tmp_path / "nopix.dcm", np.zeros((2, 2), dtype=np.uint16))
    import pydicom

    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(ImageLoadError, match="nopix.dcm"):
        load_image(path)


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims a huge size: what a decompression bomb looks like before decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_png(tmp_path: Path) -> None:
    bomb = _png_header_only(tmp_path / "bomb.png", 40000, 40000)
    with pytest.raises(ImageLoadError, match="bomb"):
        load_image(bomb)
    Image.new("L", (100, 100)).save(tmp_path / "big.png")
    with pytest.raises(ImageLoadError, match="pixel limit"):
        load_image(tmp_path / "big.png", max_pixels=1000)


def test_missing_and_corrupt_png(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ImageLoadError, match="broken.png: cannot decode"):
        load_image(tmp_path / "broken.png")


def test_16bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.linspace(0, 4000, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "x16.png")
    out = _gray(load_image(tmp_path / "x16.png"))
    assert out.min() == 0 and out.max() == 255
    assert (out == 255).mean() < 0.05  # Pillow's own conversion would clip ~94% to white


def test_rgba_and_palette_become_rgb(tmp_path: Path) -> None:
    Image.new("RGBA", (3, 2), (10, 20, 30, 40)).save(tmp_path / "a.png")
    Image.new("P", (3, 2)).save(tmp_path / "p.png")
    for name in ("a.png", "p.png"):
        image = load_image(tmp_path / name)
        assert image.mode == "RGB" and image.size == (3, 2)


def test_window_to_uint8_degenerate_inputs() -> None:
    assert window_to_uint8(np.full((2, 2), 7.0)).tolist() == [[0, 0], [0, 0]]
    assert window_to_uint8(np.array([0.0, 10.0]), 5.0, 0.5).tolist() == [0, 255]  # width <= 1 -> percentiles
