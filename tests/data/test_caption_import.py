"""Caption import: a folder + JSONL/CSV, ROCO and PMC-OA layouts, with real-format fixtures built here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from infimed.cli import app
from infimed.data import caption_datasets, caption_import
from infimed.data.caption_datasets import import_pmc_oa, import_roco
from infimed.data.caption_import import CaptionImportError, CountError, import_captions
from infimed.io.jsonl import load_samples

runner = CliRunner()
ENV = {"COLUMNS": "200"}
CAPTIONS = [
    "Axial computed tomography of the chest showing a right upper lobe nodule (arrow).",
    "Frontal chest radiograph with bilateral perihilar opacities.",
    "Sagittal T2-weighted MRI of the lumbar spine demonstrating an L4-L5 disc herniation.",
    "Transabdominal ultrasound showing gallstones with posterior acoustic shadowing.",
]


def _image(path: Path, seed: int, *, sixteen_bit: bool = False) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if sixteen_bit:  # a 12-bit X-ray stored as a 16-bit PNG
        Image.fromarray((rng.random((48, 40)) * 4095).astype(np.uint16)).save(path)
    else:
        Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(path)


def _validate(path: Path) -> None:
    result = runner.invoke(app, ["data", "validate", str(path)], env=ENV)
    assert result.exit_code == 0, result.output


def test_folder_csv_with_multiline_caption_and_bad_rows(tmp_path: Path) -> None:
    images = tmp_path / "imgs"
    _image(images / "a.png", 0, sixteen_bit=True)
    _image(images / "sub" / "b.jpg", 1)
    _image(images / "c.png", 2)
    csv_file = tmp_path / "caps.csv"
    csv_file.write_text(
        "file_name,caption,modality\n"
        f'a.png,"{CAPTIONS[1]}\nSecond line of the caption.",xray\n'
        f"sub/b.jpg,{CAPTIONS[0]},ct\n"
        "gone.png,A caption whose image is missing.,\n"
        "c.png,   ,\n"
        "c.png,Endoscopy of the colon.,endoscopy,extra\n", encoding="utf-8")
    out = tmp_path / "out"
    res = import_captions(images, csv_file, out)
    assert res.n_written == 2 and res.n_rows == 5
    where = [(e.line, e.field) for e in res.errors]
    assert where == [(5, "image"), (6, "caption"), (7, "record")]  # the multi-line row spans lines 2-3
    assert str(res.errors[0]).startswith(f"{csv_file}:5 field 'image': image not found")
    samples = load_samples(out / "train.jsonl", check_images=True, images_within=False)
    first = samples[0]
    assert first.answer == CAPTIONS[1] + " Second line of the caption."
    assert first.answer_type == "report" and first.task == "report_generation" and first.modality == "xray"
    assert first.images == ["../imgs/a.png"] and samples[1].images == ["../imgs/sub/b.jpg"]
    assert json.loads((out / "train.import.json").read_text())["written"] == 2
    _validate(out / "train.jsonl")
    with pytest.raises(CaptionImportError, match=r"caps\.csv:5 field 'image'"):
        import_captions(images, csv_file, tmp_path / "strict", strict=True)


def test_cli_jsonl_copy_then_curate(tmp_path: Path) -> None:
    images = tmp_path / "imgs"
    rows = []
    for i, text in enumerate(CAPTIONS * 2):
        _image(images / f"im{i}.png", 10 + i, sixteen_bit=i == 0)
        rows.append({"image": f"im{i}.png", "caption": f"{text} Case {i} of the series.", "id": f"p{i}"})
    (tmp_path / "caps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    out = tmp_path / "out"
    args = ["data", "import", "captions", "--images", str(images), "--captions", str(tmp_path / "caps.jsonl"),
            "--out", str(out), "--modality", "other", "--prompt", "Describe the figure.", "--copy"]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 1  # the torn last line is reported, the other rows are written
    assert f"caps.jsonl:{len(rows) + 1} field 'record': invalid JSON" in result.output
    samples = load_samples(out / "train.jsonl", check_images=True, images_within=True)
    assert [s.id for s in samples] == [f"p{i}" for i in range(len(rows))]
    assert samples[0].images == ["images/im0.png"] and (out / "images" / "im0.png").is_file()
    assert {s.question for s in samples} == {"Describe the figure."} and samples[0].modality == "other"
    strict = runner.invoke(app, [*args, "--strict", "--out", str(tmp_path / "s")], env=ENV)
    assert strict.exit_code == 2 and "invalid JSON" in strict.output
    _validate(out / "train.jsonl")
    curated = runner.invoke(app, ["curate", str(out / "train.jsonl"), "--config", "captions", "--out",
                                  str(tmp_path / "cur"), "--set", "workers=1"], env=ENV)
    assert curated.exit_code == 0, curated.output
    kept = (tmp_path / "cur" / "curated.jsonl").read_text().splitlines()
    assert kept and all(json.loads(line)["answer_type"] == "report" for line in kept)


def _roco(root: Path, split: str, n: int, *, missing: int = 0) -> Path:
    folder = root / "data" / split / "radiology"
    lines, cuis = [], []
    for i in range(n):
        rid = f"ROCO_{split[:2]}{i:05d}"
        text = "Spine." if i == 2 else CAPTIONS[i % len(CAPTIONS)]  # real ROCO has a few one-word captions
        lines.append(f"{rid}\t {text}\n")
        cuis.append(f"{rid}\t\tC0040405\tC0817096\n")  # the real files have two tabs after the id
        if i >= missing:
            _image(folder / "images" / f"{rid}.jpg", i, sixteen_bit=False)
    (folder / "captions.txt").write_text("".join(lines), encoding="utf-8")
    (folder / "cuis.txt").write_text("".join(cuis), encoding="utf-8")
    rid0 = f"ROCO_{split[:2]}00000"
    (folder / "keywords.txt").write_text(f"{rid0}\t\tnodule\tchest\n", encoding="utf-8")
    (folder / "semtypes.txt").write_text(f"{rid0}\t\tT060\tDiagnostic Procedure\tT033\tFinding\n", encoding="utf-8")
    (folder / "licences.txt").write_text(f"ROCO_ID,PMC_ID,CC\n{rid0},PMC4608653_cro-0008-0385-g01.jpg,CC BY-NC\n",
                                         encoding="utf-8")
    return folder


def test_roco_counts_fail_then_allow_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "roco-dataset"
    _roco(root, "train", 6, missing=1)
    _roco(root, "test", 3)
    monkeypatch.setitem(caption_import.ROCO_COUNTS, ("train", "radiology"), 6)
    monkeypatch.setitem(caption_import.ROCO_COUNTS, ("test", "radiology"), 3)
    monkeypatch.setattr(caption_datasets, "ROCO_COUNTS", caption_import.ROCO_COUNTS)
    with pytest.raises(CountError, match=r"ROCO train/radiology: 5 pairs with images, the published count is 6"):
        import_roco(root, tmp_path / "o", splits=("train",))
    assert not (tmp_path / "o" / "train.jsonl").exists()
    with pytest.raises(CaptionImportError, match="validation/radiology/captions.txt: not found"):
        import_roco(root, tmp_path / "o")  # a split missing altogether
    out = tmp_path / "out"
    cli = ["data", "import", "roco", "--root", str(root), "--out", str(out), "--split", "train", "--split", "test"]
    failed = runner.invoke(app, cli, env=ENV)
    assert failed.exit_code == 2 and "--allow-partial" in failed.output
    ok = runner.invoke(app, [*cli, "--allow-partial"], env=ENV)
    assert ok.exit_code == 0, ok.output
    assert "warning: ROCO train/radiology: 5 pairs" in ok.output
    train = load_samples(out / "train.jsonl", check_images=True)
    assert [s.id for s in train] == [f"ROCO_tr{i:05d}" for i in (1, 3, 4, 5)]
    assert "train skipped one-word captions" in ok.output
    report = json.loads((out / "train.import.json").read_text())
    assert report["skipped"] == [f"{root / 'data/train/radiology/captions.txt'}:3 field 'caption': "
                                 "one-word caption 'Spine.'"]
    assert train[0].answer == CAPTIONS[1] and train[0].meta["cuis"] == ["C0040405", "C0817096"]
    assert train[0].split == "train" and train[0].source == "roco" and train[0].meta["subset"] == "radiology"
    test = load_samples(out / "test.jsonl")
    assert test[0].meta["keywords"] == ["nodule", "chest"] and len(test) == 2
    assert test[0].meta["semtypes"] == ["T060 Diagnostic Procedure", "T033 Finding"]
    assert test[0].meta["licence"] == "CC BY-NC" and test[0].meta["pmc_image"].startswith("PMC4608653_")
    _validate(out / "train.jsonl")
    _validate(out / "test.jsonl")


def test_roco_published_counts() -> None:
    counts = caption_import.ROCO_COUNTS  # the rows of the repository's caption lists (the paper: 65,460 / ...)
    assert [counts[(s, "radiology")] for s in ("train", "validation", "test")] == [65_448, 8_180, 8_179]
    assert [counts[(s, "non-radiology")] for s in ("train", "validation", "test")] == [4_895, 611, 612]


def test_pmc_oa_counts_and_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "pmc_oa"
    rows = []
    for i in range(5):
        name = f"PMC21231{i}_Fig{i + 1}_1.jpg"
        if i != 4:
            _image(root / "caption_T060_filtered_top4_sep_v0_subfigures" / name, 30 + i, sixteen_bit=False)
        rows.append({"image": name, "caption": f"A. {CAPTIONS[i % 4]}", "alignment_type": "ChatGPT",
                     "alignment_score": 0.9, "pmcid": f"PMC21231{i}"})
    rows.append({"image": "PMC212310_Fig1_1.jpg", "caption": "  "})  # a row with an empty caption
    (root / "pmc_oa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(CountError, match=r"5 pairs with images, the published count is 1,645,000-1,655,000"):
        import_pmc_oa(root, tmp_path / "o")
    cli = runner.invoke(app, ["data", "import", "pmc-oa", "--root", str(root), "--out", str(tmp_path / "c")], env=ENV)
    assert cli.exit_code == 2 and "pass --allow-partial" in cli.output
    monkeypatch.setitem(caption_import.PMC_OA_COUNTS, "pmc_oa", (6, 6))
    res = import_pmc_oa(root, tmp_path / "o", allow_partial=True)
    assert res.n_written == 4 and res.n_missing_images == 1 and len(res.errors) == 1
    assert str(res.errors[0]) == f"{root / 'pmc_oa.jsonl'}:6 field 'caption': caption is empty"
    assert res.warnings and "1 rows whose image is missing" in res.warnings[0]
    sample = load_samples(tmp_path / "o" / "train.jsonl", check_images=True)[0]
    assert sample.meta["alignment_score"] == 0.9 and sample.meta["pmcid"] == "PMC212310"
    assert sample.source == "pmc_oa" and sample.id == "PMC212310_Fig1_1"
    assert sample.images == ["../pmc_oa/caption_T060_filtered_top4_sep_v0_subfigures/PMC212310_Fig1_1.jpg"]
    _validate(tmp_path / "o" / "train.jsonl")


def test_rocov2_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ROCOv2"
    ids = [f"ROCOv2_2023_valid_{i:06d}" for i in range(1, 4)]
    for i, rid in enumerate(ids):
        _image(root / "valid" / f"{rid}.jpg", 50 + i)
    (root / "valid_captions.csv").write_text(
        "ID,Caption\n" + "".join(f'{rid},"{CAPTIONS[i]}"\n' for i, rid in enumerate(ids)), encoding="utf-8")
    (root / "valid_concepts.csv").write_text(f"ID,CUIs\n{ids[0]},C1306645;C0817096\n", encoding="utf-8")
    with pytest.raises(CountError, match="ROCOv2 validation: 3 pairs with images, the published count is 9,904"):
        import_roco(root, tmp_path / "o", splits=("validation",))
    monkeypatch.setitem(caption_import.ROCO2_COUNTS, "validation", 3)
    res = import_roco(root, tmp_path / "o", splits=("validation",), copy=True)["validation"]
    assert res.n_written == 3 and not res.warnings
    samples = load_samples(tmp_path / "o" / "validation.jsonl", check_images=True, images_within=True)
    assert samples[0].id == ids[0] and samples[0].meta["cuis"] == ["C1306645", "C0817096"]
    assert samples[0].images == [f"images/valid/{ids[0]}.jpg"] and samples[2].answer == CAPTIONS[2]
    _validate(tmp_path / "o" / "validation.jsonl")


def test_image_outside_the_folder(tmp_path: Path) -> None:
    images, elsewhere = tmp_path / "imgs", tmp_path / "elsewhere" / "x.png"
    _image(images / "a.png", 0)
    _image(elsewhere, 1)
    rows = [{"image": "a.png", "caption": CAPTIONS[0]}, {"image": str(elsewhere), "caption": CAPTIONS[1]}]
    caps = tmp_path / "caps.jsonl"
    caps.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    res = import_captions(images, caps, tmp_path / "o")
    assert res.n_written == 1 and "--allow-outside-images" in str(res.errors[0])
    res = import_captions(images, caps, tmp_path / "o2", images_within=False)
    assert res.n_written == 2 and not res.errors
    res = import_captions(images, caps, tmp_path / "o3", images_within=False, copy=True)
    assert res.n_written == 1 and "cannot be copied" in str(res.errors[0])
