from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from infimed.curate.base import Drop
from infimed.curate.steps.validate import Validate, degenerate
from infimed.io.jsonl import load_samples


def run(step: Validate, path: Path) -> dict[str, str]:
    """id -> "kept" or the drop reason."""
    return {(o.sample.id if isinstance(o, Drop) else o.id): (o.reason if isinstance(o, Drop) else "kept")
            for o in step(load_samples(path))}


def test_validate_reasons(tmp_path, make_image, row, write_rows):
    good = make_image("good.png", 1)
    (tmp_path / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(tmp_path / "images" / "blank.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (4, 4), dtype=np.uint8)).save(tmp_path / "images" / "tiny.png")
    rows = [
        row("ok", [good], "Is there a lesion?"),
        row("text-only", [], "Which drug treats condition X?", "aspirin", answer_type="open"),
        row("missing", ["images/nope.png"], "Is there a lesion?"),
        row("corrupt", ["images/corrupt.png"], "Is there a lesion?"),
        row("blank", ["images/blank.png"], "Is there a lesion?"),
        row("tiny", ["images/tiny.png"], "Is there a lesion?"),
        row("no-letters", [good], "???? 1234 !!!"),
        row("repeated", [good], "Is there a lesionnnnnnnnnnnnnnn?"),
        row("too-long", [good], "Is there a lesion " * 300),
        row("dup-options", [good], "Which side?", "A", answer_type="choice", options={"A": "Left", "B": "left"}),
        row("one-option", [good], "Which side?", "A", answer_type="choice", options={"A": "left"}),
        row("numeric-open", [good], "How many lesions?", "3", answer_type="open"),
    ]
    got = run(Validate(), write_rows("in.jsonl", rows))
    assert got == {
        "ok": "kept", "text-only": "kept", "numeric-open": "kept",
        "missing": "image_unreadable", "corrupt": "image_unreadable", "blank": "image_blank",
        "tiny": "image_too_small", "no-letters": "text_degenerate", "repeated": "text_degenerate",
        "too-long": "text_too_long", "dup-options": "answer_inconsistent", "one-option": "answer_inconsistent",
    }


def test_decompression_bomb_is_refused_with_its_size(tmp_path, make_image, row, write_rows):
    big = make_image("big.png", 2, resize=200)
    path = write_rows("in.jsonl", [row("big", [big], "Is there a lesion?")])
    (out,) = list(Validate(max_pixels=100 * 100)(load_samples(path)))
    assert isinstance(out, Drop) and out.reason == "image_too_large"
    assert "200x200" in out.detail and "images[0]" in out.detail


def test_parallel_validation_matches_serial(tmp_path, make_image, row, write_rows):
    rows = [row(f"s{i}", [make_image(f"{i}.png", i)], "Is there a lesion?") for i in range(40)]
    rows.append(row("bad", ["images/none.png"], "Is there a lesion?"))
    path = write_rows("in.jsonl", rows)
    serial = run(Validate(workers=1), path)
    from infimed.curate.hashing import clear_cache

    clear_cache()
    assert run(Validate(workers=2, chunk_size=16), path) == serial
    assert serial["bad"] == "image_unreadable"


@pytest.mark.parametrize(("text", "bad"), [
    ("What is shown?", False), ("aaaaaaaaaaaaaaaaaaaa", True), ("12 34 ??", True), ("ab" * 40, True),
])
def test_degenerate(text, bad):
    assert (degenerate(text) is not None) is bad


def test_12bit_xray_png_is_kept_and_a_flat_one_is_blank(tmp_path, xray12, row, write_rows):
    (tmp_path / "images").mkdir()
    Image.fromarray(xray12()).save(tmp_path / "images" / "cxr16.png")  # mode I;16, values within 0-4095
    Image.fromarray(np.full((64, 64), 2000, np.uint16)).save(tmp_path / "images" / "flat16.png")
    rows = [row("cxr", ["images/cxr16.png"], "Is there a nodule?"), row("flat", ["images/flat16.png"], "Is there a nodule?")]
    assert run(Validate(), write_rows("in.jsonl", rows)) == {"cxr": "kept", "flat": "image_blank"}
