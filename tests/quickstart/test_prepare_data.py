"""The quickstart's data stage hands back a clean validation split next to the dirty pool and the test split."""

from __future__ import annotations

from pathlib import Path

import pytest

from infimed.data.medmnist import import_medmnist
from infimed.io.jsonl import load_samples
from infimed.quickstart.run import prepare_data


def test_phantom_val_is_asked_for_and_fingerprinted(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    plain = prepare_data(tmp_path, data=None, npz=None, n=60, seed=0)
    assert plain["val"] == tmp_path / "data" / "val.jsonl" and not plain["val"].exists()
    train = plain["train"].read_bytes()
    capsys.readouterr()
    paths = prepare_data(tmp_path, data=None, npz=None, n=60, seed=0, val=15)
    assert "rerunning the phantom data" in capsys.readouterr().err
    val = load_samples(paths["val"], check_images=True)
    assert len(val) == 15 and {s.split for s in val} == {"val"}
    assert paths["train"].read_bytes() == train
    prepare_data(tmp_path, data=None, npz=None, n=60, seed=0, val=15)
    assert "reused the phantom data" in capsys.readouterr().err
    assert prepare_data(tmp_path, data=paths["train"], npz=None, n=0, seed=0)["val"] == paths["val"]


def test_medmnist_val_split_is_returned_clean(pneumoniamnist: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from infimed.quickstart import medmnist_defects

    limit = 40  # a small import (the quickstart imports the whole archive)
    real = medmnist_defects.medmnist_with_defects
    monkeypatch.setattr(medmnist_defects, "medmnist_with_defects",
                        lambda npz, folder, seed=0: real(npz, folder, seed=seed, limit=limit))
    paths = prepare_data(tmp_path / "q", data=None, npz=pneumoniamnist, n=0, seed=0)
    import_medmnist(pneumoniamnist, tmp_path / "plain", seed=0, limit=limit)
    # the defects went into train only: val.jsonl is what the archive's val split imports to, byte for byte
    assert paths["val"].read_bytes() == (tmp_path / "plain" / "val.jsonl").read_bytes()
    val = load_samples(paths["val"], check_images=True)
    assert val and {s.split for s in val} == {"val"}
    dirty = load_samples(paths["train"])
    assert not {s.images[0] for s in val} & {s.images[0] for s in dirty}
