"""``image``: corruptions that keep the diagnosis, written once through the one decoder; flips vs severity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from infimed.backends.base import GenRequest, request_image_paths
from infimed.backends.mock import MockBackend
from infimed.eval.probes.image import CORRUPTIONS, corrupt_file
from infimed.io.images import load_image


def _brightness_reader(req: GenRequest) -> str:
    """Reads the image: says 'abnormal'-ish things by mean brightness, so a contrast change can flip it."""
    paths = request_image_paths(req)
    mean = float(np.asarray(load_image(paths[0]), dtype=np.float32).mean()) if paths else 0.0
    options = sorted(req.meta.get("options") or {})
    if options:
        return options[int(mean) % len(options)]
    return "yes" if mean > 40 else "no"


def test_corruptions_keep_size_change_pixels_and_are_written_once(phantom_dir: Path, tmp_path: Path) -> None:
    src = next((phantom_dir / "images").glob("*.png"))
    original = np.asarray(load_image(src), dtype=np.float32)
    for corruption in CORRUPTIONS:
        diffs = []
        for severity in (1, 2, 3):
            out = corrupt_file(src, corruption, severity, tmp_path)
            img = np.asarray(load_image(out), dtype=np.float32)
            assert img.shape == original.shape, corruption
            diffs.append(float(np.abs(img - original).mean()))
        assert 0 < diffs[0] <= diffs[2], (corruption, diffs)  # more severe, further from the original
    again = corrupt_file(src, "noise", 2, tmp_path)
    mtime = again.stat().st_mtime_ns
    assert corrupt_file(src, "noise", 2, tmp_path).stat().st_mtime_ns == mtime  # reused, not rewritten
    assert not list(tmp_path.glob(".*.tmp"))


def test_16_bit_and_dicom_sources_go_through_the_decoder(tmp_path: Path) -> None:
    deep = tmp_path / "deep.png"
    Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).save(deep)
    out = corrupt_file(deep, "contrast", 3, tmp_path / "out")
    assert load_image(out).size == (64, 64)
    from pydicom.data import get_testdata_file

    dicom = Path(get_testdata_file("CT_small.dcm"))
    out = corrupt_file(dicom, "jpeg", 1, tmp_path / "out")
    assert out.suffix == ".jpg" and load_image(out).size == load_image(dicom).size


def test_a_model_that_reads_the_image_keeps_its_answers(probe_run) -> None:
    robustness, rows = probe_run("vision", "image", severities=(1, 3))
    m = robustness["probes"]["image"]["overall"]
    assert set(m["by_severity"]) == {"1", "3"} and len(m["by_corruption"]) == 2 * len(CORRUPTIONS)
    assert all(c["accuracy"]["rate"] == 1.0 and c["flip_rate"]["rate"] == 0.0 for c in m["by_corruption"].values())
    variants = [r for r in rows if r["probe"] == "image"]
    assert variants and all(Path(r["images"][0]).exists() and "probe-inputs" in r["images"][0] for r in variants)


def test_a_pixel_sensitive_model_flips(probe_run) -> None:
    robustness, _ = probe_run(MockBackend(fn=_brightness_reader), "image", severities=(3,))
    m = robustness["probes"]["image"]["overall"]
    assert m["by_corruption"]["contrast@3"]["flip_rate"]["rate"] > 0.2
    assert m["by_severity"]["3"]["flip_rate"]["ci95"][1] > 0
