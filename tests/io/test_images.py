"""The one image decoder: DICOM windowing, 12/16-bit and float grey, every Pillow mode, EXIF orientation, the
size guard before decoding, what a model server is sent, image-path containment; failures as ImageLoadError."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from infimed.io.images import (
    THUMB,
    ImageLoadError,
    ImagePathError,
    encode_for_model,
    is_dicom,
    load_image,
    resolve_image_path,
    thumb_vector,
    window_to_uint8,
)


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


# ---- one decoder for every mode ---------------------------------------------------------------------


def test_12bit_xray_png_keeps_its_contrast_in_every_mode(tmp_path: Path, xray12: Any) -> None:
    raw = xray12()
    Image.fromarray(raw).save(tmp_path / "cxr.png")
    assert Image.open(tmp_path / "cxr.png").mode == "I;16"
    for mode in ("RGB", "L", "auto"):
        image = load_image(tmp_path / "cxr.png", mode=mode)
        assert image.mode == ("L" if mode == "auto" else mode)
        grey = np.asarray(image.convert("L"), dtype=float)
        assert grey.std() > 40  # Pillow's own convert("RGB") gives all white (std 0)
        assert np.corrcoef(grey.ravel(), raw.ravel())[0, 1] > 0.98  # a monotonic window, not a wrap or a clip


def test_real_chest_xray_as_12bit_png(tmp_path: Path, pneumoniamnist: Path) -> None:
    """A real PneumoniaMNIST X-ray, upscaled and re-quantised to 12 bits, decodes like the 8-bit original."""
    with np.load(pneumoniamnist) as npz:
        xray = npz["train_images"][0].astype(np.float64)
    big = np.kron(xray, np.ones((4, 4)))
    raw = np.clip(big * 16 + np.random.default_rng(0).integers(0, 16, big.shape), 0, 4095).astype(np.uint16)
    Image.fromarray(raw).save(tmp_path / "real.png")
    grey = np.asarray(load_image(tmp_path / "real.png", mode="auto"), dtype=float)
    assert grey.std() > 30 and np.corrcoef(grey.ravel(), big.ravel())[0, 1] > 0.98


def test_float_and_32bit_tiff_are_windowed(tmp_path: Path) -> None:
    values = np.linspace(-1.5, 3.0, 32 * 32, dtype=np.float32).reshape(32, 32)
    values[0, 0] = np.nan
    Image.fromarray(values, "F").save(tmp_path / "f.tif")
    Image.fromarray((values * 1e6).astype(np.int32), "I").save(tmp_path / "i.tif")
    for name in ("f.tif", "i.tif"):
        grey = np.asarray(load_image(tmp_path / name, mode="auto"), dtype=int)
        assert grey.shape == (32, 32) and grey.std() > 50
        assert np.all(np.diff(grey.ravel()[1:]) >= 0)  # monotonic in the stored value
    assert np.asarray(load_image(tmp_path / "f.tif", mode="L"))[0, 0] == 0  # NaN -> black, not a crash


def test_palette_pngs_grey_colour_and_transparent(tmp_path: Path) -> None:
    grey = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4, "L").convert("P")
    grey.save(tmp_path / "grey_p.png")
    assert Image.open(tmp_path / "grey_p.png").mode == "P"
    out = load_image(tmp_path / "grey_p.png", mode="auto")
    assert out.mode == "L" and np.array_equal(np.asarray(out), np.arange(64).reshape(8, 8) * 4)
    colour = Image.new("P", (4, 4), 0)
    colour.putpalette([0, 0, 0, 255, 0, 0])
    colour.putpixel((1, 1), 1)
    colour.save(tmp_path / "colour_p.png", transparency=0)
    rgb = np.asarray(load_image(tmp_path / "colour_p.png"))
    assert rgb[1, 1].tolist() == [255, 0, 0] and rgb[0, 0].tolist() == [255, 255, 255]  # transparent -> white


def test_rgba_and_la_are_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = (200, 10, 10, 255)  # opaque red
    rgba[1, 1] = (0, 0, 0, 128)  # half-transparent black stroke
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = np.asarray(load_image(tmp_path / "rgba.png"), dtype=int)
    assert out[0, 0].tolist() == [200, 10, 10] and out[3, 3].tolist() == [255, 255, 255]
    assert abs(out[1, 1, 0] - 127) <= 1  # blended half way to white
    la = Image.fromarray(np.dstack([np.full((4, 4), 30, np.uint8), np.eye(4, dtype=np.uint8) * 255]), "LA")
    la.save(tmp_path / "la.png")
    grey = load_image(tmp_path / "la.png", mode="auto")
    assert grey.mode == "L" and np.array_equal(np.asarray(grey), np.where(np.eye(4) > 0, 30, 255))


def test_cmyk_jpeg_colours(tmp_path: Path) -> None:
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    r, g, b = np.asarray(load_image(tmp_path / "cmyk.jpg"), dtype=int)[8, 8]
    assert r > 230 and g < 25 and b < 25  # red, not its inverse


def _marked(path: Path, orientation: int, fmt: str = "JPEG") -> Path:
    """A 40x20 black picture with a white 6x6 block in its stored top-left corner and an EXIF orientation."""
    arr = np.zeros((20, 40), np.uint8)
    arr[:6, :6] = 255
    im = Image.fromarray(arr, "L")
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, format=fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    return path


@pytest.mark.parametrize(("orientation", "size", "corner"), [
    (1, (40, 20), (0, 0)), (3, (40, 20), (19, 39)), (6, (20, 40), (0, 19)), (8, (20, 40), (39, 0)),
])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, size: tuple[int, int],
                                     corner: tuple[int, int]) -> None:
    for fmt in ("JPEG", "PNG"):
        image = load_image(_marked(tmp_path / f"o{orientation}.{fmt.lower()}", orientation, fmt), mode="L")
        arr = np.asarray(image)
        assert image.size == size and arr[corner] > 200
        assert (arr > 128).sum() in range(30, 42)  # the block moved, it was not smeared


def test_one_bit_and_grey_rgb_modes(tmp_path: Path) -> None:
    Image.fromarray(np.eye(8, dtype=bool)).save(tmp_path / "one.png")
    assert np.array_equal(np.asarray(load_image(tmp_path / "one.png", mode="auto")), np.eye(8) * 255)
    Image.fromarray(np.dstack([np.eye(8, dtype=np.uint8) * 200] * 3), "RGB").save(tmp_path / "greyrgb.png")
    assert load_image(tmp_path / "greyrgb.png", mode="auto").mode == "L"  # grey however it was stored
    Image.new("RGB", (8, 8), (10, 200, 30)).save(tmp_path / "colour.png")
    assert load_image(tmp_path / "colour.png", mode="auto").mode == "RGB"


def test_size_is_checked_before_decoding(tmp_path: Path, xray12: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.fromarray(xray12(64)).save(tmp_path / "x.png")
    decoded: list[str] = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append("load") or real_load(self))
    from PIL import PngImagePlugin
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", lambda self: decoded.append("load") or real_load(self))
    with pytest.raises(ImageLoadError, match="64x64 exceeds the 1000 pixel limit"):
        load_image(tmp_path / "x.png", max_pixels=1000)
    assert decoded == []
    # DICOM: the header's Rows x Columns decide; this file's 8 bytes of pixel data are never decoded
    path = _dicom(tmp_path / "huge.dcm", np.zeros((2, 2), dtype=np.uint16))
    import pydicom

    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = 30000, 30000
    ds.save_as(path)
    with pytest.raises(ImageLoadError, match="30000x30000 exceeds"):
        load_image(path)


def test_pillow_bomb_warning_does_not_override_a_larger_limit(tmp_path: Path, xray12: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.fromarray(xray12(64)).save(tmp_path / "x.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64 - 1)  # Pillow would warn, max_pixels allows it
    assert load_image(tmp_path / "x.png", max_pixels=64 * 64).size == (64, 64)


def test_encode_for_model_sends_what_we_decode(tmp_path: Path, xray12: Any) -> None:
    plain = tmp_path / "plain.png"
    Image.fromarray(xray12(32).astype(np.uint8), "L").save(plain)
    assert encode_for_model(plain) == (plain.read_bytes(), "image/png")
    Image.fromarray(xray12(32)).save(tmp_path / "x16.png")
    _marked(tmp_path / "rot.jpg", 6)
    for name in ("x16.png", "rot.jpg"):
        data, mime = encode_for_model(tmp_path / name)
        sent = Image.open(io.BytesIO(data))
        assert mime == "image/png" and sent.mode in ("L", "RGB")
        assert np.array_equal(np.asarray(sent.convert("L")), np.asarray(load_image(tmp_path / name, mode="L")))
    assert Image.open(io.BytesIO(encode_for_model(tmp_path / "rot.jpg")[0])).size == (20, 40)  # upright


def test_thumb_vector_is_centred_unit_and_zero_for_flat(xray12: Any) -> None:
    v = thumb_vector(Image.fromarray(xray12(64).astype(np.float32) / 16).convert("L"))
    assert v.shape == (THUMB * THUMB,) and abs(v.mean()) < 1e-6 and abs(np.linalg.norm(v) - 1) < 1e-5
    assert not thumb_vector(Image.new("L", (64, 64), 90)).any()


def test_resolve_image_path_containment(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert resolve_image_path(data, "images/a.png") == data / "images" / "a.png"
    assert resolve_image_path(data, "images/../images/a.png") == data / "images" / "a.png"
    assert resolve_image_path(data, str(data / "b.png")) == data / "b.png"  # absolute but inside
    for name in ("../secret.png", "images/../../x.png", "/etc/passwd", str(tmp_path / "other" / "c.png")):
        with pytest.raises(ImagePathError, match="outside the data folder"):
            resolve_image_path(data, name)
        assert resolve_image_path(data, name, within=False).is_absolute()
    assert resolve_image_path(None, "a.png", within=False) == Path.cwd() / "a.png"


@pytest.mark.parametrize("name", ["MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_RLE.dcm",
                                  "MR_small_bigendian.dcm"])
def test_compressed_dicom_decodes_like_the_uncompressed_file(name: str) -> None:
    """JPEG-LS, JPEG 2000 and RLE (what PACS exports use) decode pixel for pixel like the plain file."""
    from pydicom.data import get_testdata_file

    plain = np.asarray(load_image(get_testdata_file("MR_small.dcm"), mode="auto"))
    assert plain.std() > 30
    assert np.array_equal(np.asarray(load_image(get_testdata_file(name), mode="auto")), plain)


def test_jpeg_lossless_dicom_decodes() -> None:
    from pydicom.data import get_testdata_file

    image = load_image(get_testdata_file("JPEG-LL.dcm"), mode="auto")
    assert image.mode == "L" and np.asarray(image).std() > 20


@pytest.mark.parametrize("name", ["OBXXXX1A.dcm", "OBXXXX1A_expb.dcm", "OBXXXX1A_rle.dcm"])
def test_palette_colour_dicom_goes_through_its_lookup_table(name: str) -> None:
    from pydicom.data import get_testdata_file

    rgb = np.asarray(load_image(get_testdata_file(name)), dtype=int)
    reference = np.asarray(load_image(get_testdata_file("OBXXXX1A.dcm")), dtype=int)
    assert rgb.std() > 30 and np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 1  # colour, not indices as grey
    assert np.abs(rgb - reference).max() <= 1  # little/big endian, RLE: the same picture


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint8])
@pytest.mark.parametrize("window", [(None, None), (40.0, 400.0), (100.0, 1.0)])
def test_integer_windowing_matches_the_float_formula(dtype: type, window: tuple[float | None, float | None]) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.normal(100, 300, (64, 64)).clip(np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)
    fast = window_to_uint8(pixels, *window).astype(int)
    slow = window_to_uint8(pixels.astype(np.float64), *window).astype(int)
    explicit = window[1] is not None and window[1] > 1
    assert np.abs(fast - slow).max() <= (0 if explicit else 1)  # percentiles: inverted CDF vs interpolated
