import json
from collections import Counter
from pathlib import Path

from infimed.data.defects import DEFECT_RATES
from infimed.io.jsonl import load_samples
from infimed.quickstart.medmnist_defects import medmnist_with_defects


def test_real_chest_xrays_get_the_phantom_defects(pneumoniamnist: Path, tmp_path: Path) -> None:
    summary = medmnist_with_defects(pneumoniamnist, tmp_path, seed=0, limit=200)
    clean = load_samples(tmp_path / "train.clean.jsonl")
    dirty = {s.id: s for s in load_samples(tmp_path / "train.jsonl")}
    defects = [json.loads(line) for line in (tmp_path / "defects.jsonl").read_text().splitlines()]
    kinds = Counter(d["kind"] for d in defects)
    assert kinds == {k: round(r * len(clean)) for k, r in DEFECT_RATES.items()}
    assert summary["n_train_dirty"] == len(dirty)
    by_id = {s.id: s for s in clean}
    for d in defects:
        assert d["id"] in dirty
        if d["kind"] == "wrong_label":
            assert dirty[d["id"]].answer != by_id[d["id"]].answer
        if d["kind"] == "near_duplicate":
            assert dirty[d["id"]].question != by_id[d["of"]].question
            assert dirty[d["id"]].modality == "xray"
    assert all(p.exists() for s in dirty.values() for p in s.image_paths())
