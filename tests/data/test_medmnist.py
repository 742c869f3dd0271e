"""MedMNIST import: tiny archives made in the test, and the real PneumoniaMNIST when it is present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from infimed.data.medmnist import DATASETS, detect_name, import_medmnist
from infimed.io.jsonl import load_samples, validate_file


def make_npz(path: Path, *, n: int = 6, classes: int = 2, rgb: bool = False, multi: int = 0) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "val", "test"):
        shape = (n, 28, 28, 3) if rgb else (n, 28, 28)
        arrays[f"{split}_images"] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        if multi:
            labels = (rng.random((n, multi)) < 0.2).astype(np.uint8)
            labels[0] = 0  # one image without findings
        else:
            labels = (np.arange(n) % classes).reshape(n, 1).astype(np.uint8)
        arrays[f"{split}_labels"] = labels
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def test_binary_dataset_yes_no_and_choice(tmp_path: Path) -> None:
    npz = make_npz(tmp_path / "pneumoniamnist.npz")
    summary = import_medmnist(npz, tmp_path / "out")
    assert summary["splits"] == {s: {"images": 6, "samples": 12} for s in ("train", "val", "test")}
    samples = load_samples(tmp_path / "out" / "test.jsonl", check_images=True)
    yn = [s for s in samples if s.id.endswith("-yn")]
    mc = [s for s in samples if s.id.endswith("-mc")]
    assert yn[1].id == "pneumoniamnist-test-000001-yn"
    assert yn[1].question == "Does this chest X-ray show signs of pneumonia?"
    assert [s.answer for s in yn] == ["no", "yes"] * 3  # labels alternate normal / pneumonia
    assert all(s.task == "abnormality_detection" and s.modality == "xray" for s in yn)
    for s in mc:
        assert s.options is not None and sorted(s.options.values()) == ["normal", "pneumonia"]
        assert s.options[s.answer] == s.meta["class"] and s.task == "disease_diagnosis"
    img = Image.open(tmp_path / "out" / "images" / "test" / "pneumoniamnist-test-000000.png")
    assert img.size == (28, 28) and img.mode == "L"


def test_option_order_is_deterministic_by_seed(tmp_path: Path) -> None:
    npz = make_npz(tmp_path / "dermamnist.npz", n=20, classes=7, rgb=True)
    import_medmnist(npz, tmp_path / "a", seed=1)
    import_medmnist(npz, tmp_path / "b", seed=1)
    import_medmnist(npz, tmp_path / "c", seed=2)
    a, b, c = ((tmp_path / d / "train.jsonl").read_bytes() for d in "abc")
    assert a == b and a != c


def test_many_classes_get_five_options_and_class_yes_no(tmp_path: Path) -> None:
    npz = make_npz(tmp_path / "pathmnist_64.npz", n=30, classes=9, rgb=True)
    import_medmnist(npz, tmp_path / "out", formats=("yes_no", "choice", "open"), limit=10)
    samples = load_samples(tmp_path / "out" / "train.jsonl", check_images=True)
    assert len(samples) == 30
    for s in samples:
        assert s.modality == "pathology"
        if s.answer_type == "choice":
            assert s.options is not None and len(s.options) == 5 and s.options[s.answer] == s.meta["class"]
        elif s.answer_type == "open":
            assert s.answer == s.meta["class"]
        else:
            asked = s.question.removeprefix("Does this colon pathology image show ").removesuffix("?")
            assert s.answer == ("yes" if asked == s.meta["class"] else "no")
    assert Image.open(tmp_path / "out" / "images" / "train" / "pathmnist-train-000000.png").mode == "RGB"


def test_multi_label_chest(tmp_path: Path) -> None:
    npz = make_npz(tmp_path / "chestmnist.npz", n=12, multi=14)
    import_medmnist(npz, tmp_path / "out", formats=("yes_no", "choice", "open"))
    samples = load_samples(tmp_path / "out" / "val.jsonl")
    assert not any(s.answer_type == "open" for s in samples)  # no single open answer for several findings
    for s in samples:
        findings = s.meta["findings"]
        if s.answer_type == "choice":
            assert s.options is not None
            picked = s.options[s.answer]
            assert picked in findings or (picked == "no finding" and not findings)
            assert sum(v in findings for v in s.options.values()) == (1 if findings else 0)
        else:
            asked = s.question.removeprefix("Does this chest X-ray show ").removesuffix("?")
            assert s.answer == ("yes" if asked in findings else "no")


def test_name_detection_and_errors(tmp_path: Path) -> None:
    assert detect_name(Path("x/pneumoniamnist_224.npz")) == "pneumoniamnist"
    assert detect_name(Path("organmnist_axial.npz")) == "organamnist"
    assert {DATASETS[n].modality for n in ("organamnist", "organcmnist", "organsmnist")} == {"ct"}
    with pytest.raises(ValueError, match="name: cannot tell"):
        detect_name(Path("cats.npz"))
    npz = make_npz(tmp_path / "data.npz")
    with pytest.raises(ValueError, match="name: cannot tell"):
        import_medmnist(npz, tmp_path / "o")
    with pytest.raises(ValueError, match="formats: unknown"):
        import_medmnist(npz, tmp_path / "o", name="breastmnist", formats=("essay",))
    with pytest.raises(FileNotFoundError, match="not found"):
        import_medmnist(tmp_path / "none.npz", tmp_path / "o")
    bad = tmp_path / "breastmnist.npz"
    np.savez(bad, train_images=np.zeros((2, 28, 28), np.uint8), train_labels=np.array([[0], [5]]))
    with pytest.raises(ValueError, match=r"'train_labels'\[1\] = \[5\] is outside 0..1"):
        import_medmnist(bad, tmp_path / "o")
    np.savez(bad, train_images=np.zeros((2, 28, 28), np.uint8), train_labels=np.array([[0]]))
    with pytest.raises(ValueError, match="2 'train_images' but 1 'train_labels'"):
        import_medmnist(bad, tmp_path / "o")


def test_real_pneumoniamnist_with_limit(pneumoniamnist: Path, tmp_path: Path) -> None:
    summary = import_medmnist(pneumoniamnist, tmp_path / "out", limit=25)
    assert summary["name"] == "pneumoniamnist" and summary["modality"] == "xray"
    assert {s: v["images"] for s, v in summary["splits"].items()} == {"train": 25, "val": 25, "test": 25}
    assert list(validate_file(tmp_path / "out" / "test.jsonl")) == []
    samples = load_samples(tmp_path / "out" / "test.jsonl")
    with np.load(pneumoniamnist) as z:
        labels = z["test_labels"][:25, 0]
    yn = [s for s in samples if s.answer_type == "yes_no"]
    assert [s.answer == "yes" for s in yn] == [bool(v) for v in labels]
    img = np.asarray(Image.open(tmp_path / "out" / "images" / "test" / "pneumoniamnist-test-000003.png"))
    with np.load(pneumoniamnist) as z:
        assert np.array_equal(img, z["test_images"][3])
