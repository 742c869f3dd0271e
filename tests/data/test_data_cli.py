"""`infimed data` commands end to end through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from infimed.cli import app

runner = CliRunner()


def test_synth_with_defects_then_validate(tmp_path: Path) -> None:
    out = tmp_path / "ph"
    result = runner.invoke(app, ["data", "synth", "--out", str(out), "--n", "120", "--seed", "3", "--defects"])
    assert result.exit_code == 0, result.output
    assert "defect near_duplicate" in result.output
    assert (out / "defects.jsonl").exists() and (out / "test.jsonl").exists()
    ok = runner.invoke(app, ["data", "validate", str(out / "test.jsonl")])
    assert ok.exit_code == 0, ok.output
    # the corrupt images injected into train are reported; without image checks the text is clean
    bad = runner.invoke(app, ["data", "validate", str(out / "train.jsonl")])
    corrupt = [json.loads(x)["id"] for x in (out / "defects.jsonl").read_text().splitlines()
               if json.loads(x)["kind"] == "corrupt_image"]
    assert bad.exit_code == 1
    for sid in corrupt:
        assert f"[id={sid}] field 'images[0]'" in bad.output
    assert runner.invoke(app, ["data", "validate", "--no-images", str(out / "train.jsonl")]).exit_code == 0


def test_validate_prints_file_line_id_field(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "a", "question": "q?", "answer": "maybe", "answer_type": "yes_no"}\nnot json\n')
    result = runner.invoke(app, ["data", "validate", "--no-images", str(path), str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 1
    assert f"{path}:1 [id=a] field 'answer'" in result.output
    assert f"{path}:2 field 'record': invalid JSON" in result.output
    assert "missing.jsonl: file not found" in result.output


def test_import_medmnist_command(tmp_path: Path) -> None:
    npz = tmp_path / "breastmnist.npz"
    rng = np.random.default_rng(0)
    np.savez(npz, test_images=rng.integers(0, 255, (4, 28, 28), dtype=np.uint8), test_labels=np.array([[0], [1], [1], [0]]))
    result = runner.invoke(app, ["data", "import", "medmnist", "--npz", str(npz), "--out", str(tmp_path / "o"),
                                 "--formats", "yes_no", "--limit", "3"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in (tmp_path / "o" / "test.jsonl").read_text().splitlines()]
    assert [r["answer"] for r in rows] == ["yes", "no", "no"] and rows[0]["modality"] == "ultrasound"
    bad = runner.invoke(app, ["data", "import", "medmnist", "--npz", str(npz), "--out", str(tmp_path / "o"),
                              "--formats", "essay"])
    assert bad.exit_code != 0 and "formats" in bad.output


def test_import_dicom_folder(tmp_path: Path) -> None:
    import shutil

    from pydicom.data import get_testdata_file

    src = tmp_path / "dicom"
    src.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(str(get_testdata_file(name)), src / name)
    out = tmp_path / "out"
    result = runner.invoke(app, ["data", "import", "dicom", "--folder", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert sorted(r["modality"] for r in rows) == ["ct", "mri"]
    assert runner.invoke(app, ["data", "validate", str(out / "samples.jsonl")]).exit_code == 0


def test_validate_accepts_a_12bit_xray_png(tmp_path: Path, xray12) -> None:
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.fromarray(xray12()).save(tmp_path / "images" / "cxr16.png")
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"id": "cxr", "images": ["images/cxr16.png"], "question": "Is there a nodule?",
                                "answer": "yes", "answer_type": "yes_no", "modality": "xray"}) + "\n")
    result = runner.invoke(app, ["data", "validate", str(path)])
    assert result.exit_code == 0, result.output


def test_validate_images_within_data(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("L", (16, 16), 50).save(tmp_path / "outside.png")
    data = tmp_path / "data"
    data.mkdir()
    Image.new("L", (16, 16), 50).save(data / "inside.png")
    path = data / "x.jsonl"
    rows = [{"id": i, "images": [img], "question": "Is this a CT?", "answer": "no", "answer_type": "yes_no"}
            for i, img in (("in", "inside.png"), ("up", "../outside.png"), ("abs", str(tmp_path / "outside.png")))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert runner.invoke(app, ["data", "validate", str(path)]).exit_code == 0
    for flags in (["--images-within-data"], ["--images-within-data", "--no-images"]):
        result = runner.invoke(app, ["data", "validate", *flags, str(path)])
        assert result.exit_code == 1
        assert f"{path}:2 [id=up] field 'images': images[0] '../outside.png' lies outside the data folder {data}" \
            in result.output
        assert f"{path}:3 [id=abs] field 'images'" in result.output and "[id=in]" not in result.output


def test_synth_val_flag_writes_a_validation_split(tmp_path: Path) -> None:
    plain, with_val = tmp_path / "plain", tmp_path / "val"
    assert runner.invoke(app, ["data", "synth", "--out", str(plain), "--n", "60", "--seed", "1"]).exit_code == 0
    result = runner.invoke(app, ["data", "synth", "--out", str(with_val), "--n", "60", "--seed", "1", "--val", "25"])
    assert result.exit_code == 0, result.output
    assert not (plain / "val.jsonl").exists()
    rows = [json.loads(x) for x in (with_val / "val.jsonl").read_text().splitlines()]
    assert len(rows) == 25 and {r["split"] for r in rows} == {"val"}
    for name in ("train.jsonl", "test.jsonl"):
        assert (plain / name).read_bytes() == (with_val / name).read_bytes(), name
    assert json.loads((with_val / "synth.json").read_text())["n_val"] == 25
    bad = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "x"), "--n", "10", "--val", "-1"])
    assert bad.exit_code != 0 and not (tmp_path / "x" / "train.jsonl").exists()
