from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from infimed.cli import app
from infimed.curate.config import ConfigError, load_config
from infimed.curate.pipeline import run_pipeline
from infimed.io.jsonl import load_samples

MY_STEPS = "validate,dedup_exact,dedup_near,decontaminate"


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.fixture
def pool(tmp_path, make_image, row, write_rows) -> tuple[Path, Path]:
    a, b = make_image("a.png", 1), make_image("b.png", 2)
    train = write_rows("train.jsonl", [
        row("s1", [a], "Is there a lesion in this image?"),
        row("s2", [a], "Is this a CT image?", task="modality_recognition"),
        row("s3", [make_image("a_copy.png", 1)], "Is there a lesion in this image?"),  # exact duplicate
        row("s4", [make_image("a.jpg", 1, fmt="JPEG", resize=80)], "Does the image show a lesion?"),  # near
        row("s5", [b], "Is there a lesion in this image?", "no"),
        row("s6", [make_image("e.jpg", 7, fmt="JPEG")], "Is the lesion in the left lobe?"),  # contaminated
        row("s7", ["images/missing.png"], "Is there a lesion in this image?"),
    ])
    # an invalid record and a record that repeats an id from the first file
    extra = write_rows("extra.jsonl", [
        {"id": "bad", "question": "x", "answer": "maybe", "answer_type": "yes_no"},
        row("s1", [b], "Is there a lesion?"),
        row("s8", [], "What enzyme is deficient in phenylketonuria, the inherited disorder?", "phenylalanine hydroxylase",
            answer_type="open", modality=None, task="other"),
    ])
    write_rows("eval.jsonl", [row("ev-1", [make_image("e.png", 7)], "Is the lesion in the left lobe?")])
    return train, extra


def config(tmp_path: Path, *more: str):
    return load_config(None, ["steps=" + json.dumps([{"name": n} for n in MY_STEPS.split(",")]), "workers=1",
                              "against=" + json.dumps([str(tmp_path / "eval.jsonl")]), *more])


def test_pipeline_outputs_and_accounting(tmp_path, pool):
    out = tmp_path / "out"
    result = run_pipeline(list(pool), out, config(tmp_path))
    curated = load_samples(out / "curated.jsonl")
    rejected = lines(out / "rejected.jsonl")
    assert sorted(s.id for s in curated) == ["s1", "s2", "s5", "s8"]
    why = {(r["id"], r["stage"]): (r["reason"], r["of"]) for r in rejected}
    assert why == {
        ("bad", "read"): ("invalid_record", None), ("s1", "read"): ("duplicate_id", None),
        ("s7", "validate"): ("image_unreadable", None), ("s3", "dedup_exact"): ("exact_duplicate", "s1"),
        ("s4", "dedup_near"): ("near_duplicate", "s1"), ("s6", "decontaminate"): ("contamination", "ev-1"),
    }
    assert result["n_read"] == 10 == len(curated) + len(rejected)  # nothing vanishes
    # image paths in curated.jsonl are relative to the output folder and resolve
    assert all(not Path(p).is_absolute() for s in curated for p in s.images)
    assert all(p.exists() for s in curated for p in s.image_paths())
    stats = json.loads((out / "stats.json").read_text())
    assert [s["name"] for s in stats["stages"]] == ["read", *MY_STEPS.split(",")]
    assert stats["stages"][1] | {"seconds": 0} == stats["stages"][1] | {"seconds": 0, "in": 8, "kept": 7,
                                                                         "dropped": {"image_unreadable": 1}}
    card = (out / "card.md").read_text()
    for heading in ("Counts per stage", "Final mix by modality", "Final mix by task", "### near_duplicate"):
        assert heading in card
    assert "bad" in (out / "rejected.jsonl").read_text()


def test_rerun_resumes_and_option_change_reruns_from_that_step(tmp_path, pool):
    out = tmp_path / "out"
    run_pipeline(list(pool), out, config(tmp_path))
    again = run_pipeline(list(pool), out, config(tmp_path))
    assert all(s.get("resumed") for s in again["stages"])
    changed = run_pipeline(list(pool), out, config(tmp_path, "steps.dedup_near.max_hamming=4"))
    assert [bool(s.get("resumed")) for s in changed["stages"]] == [True, True, True, False, False]
    assert (out / ".steps" / "03_dedup_near" / "done.json").exists()


def test_wiring_errors_are_clear(tmp_path, pool):
    with pytest.raises(ValueError, match="no 'select' or 'mix' step"):
        run_pipeline(list(pool), tmp_path / "o", config(tmp_path, "budget=10"))
    with pytest.raises(ValueError, match="unknown step"):
        run_pipeline(list(pool), tmp_path / "o", load_config(None, ['steps=[{"name": "nope"}]']))
    with pytest.raises(ConfigError, match="no step 'nope'"):
        load_config(None, ["steps.nope.x=1"])
    with pytest.raises(ConfigError, match="budget"):
        load_config(None, ["budget=2.5"])


def test_cli(tmp_path, pool):
    out = tmp_path / "cli_out"
    args = ["curate", *map(str, pool), "--out", str(out), "--steps", MY_STEPS, "--workers", "1",
            "--against", str(tmp_path / "eval.jsonl"), "--images", "copy"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "curated 4 of 10" in res.output
    curated = load_samples(out / "curated.jsonl")
    assert all(s.images[0].startswith("images/") and s.image_paths()[0].exists() for s in curated if s.images)
    bad = CliRunner().invoke(app, ["curate", str(pool[0]), "--out", str(out), "--budget", "lots"])
    assert bad.exit_code != 0 and "--budget" in bad.output
    missing = CliRunner().invoke(app, ["curate", str(tmp_path / "none.jsonl"), "--out", str(out), "--steps", "validate"])
    assert missing.exit_code == 1 and "none.jsonl" in missing.output


@pytest.mark.slow
def test_phantom_defects_are_removed_and_scored(phantom_defects_dir, tmp_path):
    out = tmp_path / "out"
    cfg = load_config(None, ["steps=" + json.dumps([{"name": n} for n in MY_STEPS.split(",")]), "workers=1",
                             "against=" + json.dumps([str(phantom_defects_dir / "test.jsonl")])])
    result = run_pipeline([phantom_defects_dir / "train.jsonl"], out, cfg)
    recall = result["truth"]["recall"]
    for kind in ("exact_duplicate", "corrupt_image", "blank_image"):
        assert recall[kind]["recall"] == 1.0, kind
    # the phantom draws distinct cases that look alike; see dedup_near defaults and the bench for the trade-off
    assert recall["near_duplicate"]["recall"] >= 0.65
    assert recall["contamination"]["recall"] >= 0.85
    precision = result["truth"]["precision"]
    assert precision["exact_duplicate"]["precision"] == 1.0
    assert precision["image_unreadable"]["precision"] == 1.0
    assert "Against ground truth" in (out / "card.md").read_text()


def test_select_without_budget_is_skipped_and_said(tmp_path, pool):
    cfg = load_config(None, ['steps=[{"name": "validate"}, {"name": "select"}]', "workers=1"])
    result = run_pipeline([pool[0]], tmp_path / "out", cfg)
    assert result["skipped"] == ["select"]
    assert [s["name"] for s in result["stages"]] == ["read", "validate"]
    assert "Skipped: select" in (tmp_path / "out" / "card.md").read_text()


def test_default_config_names_the_agreed_order():
    names = [s.name for s in load_config().steps]
    assert names == ["validate", "deidentify", "dedup_exact", "label_noise", "dedup_near", "decontaminate",
                     "quality", "select"]


def test_editing_an_eval_file_reruns_decontamination(tmp_path, pool, row, write_rows, make_image):
    out = tmp_path / "out"
    run_pipeline(list(pool), out, config(tmp_path))
    write_rows("eval.jsonl", [row("ev-9", [make_image("e9.png", 33)], "Is the lesion in the left lobe?")])
    again = run_pipeline(list(pool), out, config(tmp_path))
    assert [bool(s.get("resumed")) for s in again["stages"]] == [True, True, True, True, False]
    assert "s6" in {s.id for s in load_samples(out / "curated.jsonl")}  # no longer contaminated


def test_partial_config_file_extends_the_default_and_overrides_win(tmp_path):
    path = tmp_path / "curate.yaml"
    path.write_text("workers: 3\nsteps:\n  - name: validate\n    options: {min_side: 16}\n", encoding="utf-8")
    cfg = load_config(path, ["steps.validate.min_side=32", "engine=ray"])
    assert (cfg.workers, cfg.engine, [s.name for s in cfg.steps]) == (3, "ray", ["validate"])
    assert cfg.step_options(cfg.steps[0]) == {"min_side": 32, "workers": 3}
    (tmp_path / "other.yaml").write_text("images: copy\n", encoding="utf-8")
    assert len(load_config(tmp_path / "other.yaml").steps) == 8  # no steps given: the default pipeline
    (tmp_path / "bad.yaml").write_text("engine: spark\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.yaml.*engine"):
        load_config(tmp_path / "bad.yaml")


def test_cli_keeps_a_12bit_xray_and_drops_its_8bit_copy(tmp_path, xray12, make_image, row, write_rows):
    raw = xray12(128)
    (tmp_path / "images").mkdir(exist_ok=True)
    Image.fromarray(raw).save(tmp_path / "images" / "cxr16.png")
    Image.fromarray((raw >> 4).astype(np.uint8)).save(tmp_path / "images" / "cxr8.png")
    q = "Is there a nodule in the right lung?"
    train = write_rows("train.jsonl", [row("x16", ["images/cxr16.png"], q), row("x8", ["images/cxr8.png"], q),
                                       row("other", [make_image("o.png", 3)], q)])
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["curate", str(train), "--out", str(out), "--steps",
                                   "validate,dedup_exact,dedup_near", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert [s.id for s in load_samples(out / "curated.jsonl")] == ["x16", "other"]
    assert [(r["id"], r["reason"], r["of"]) for r in lines(out / "rejected.jsonl")] == [("x8", "near_duplicate", "x16")]


def test_cli_images_within_data_rejects_paths_leaving_the_folder(tmp_path, make_image, row):
    inside, outside = make_image("in.png", 1), make_image("out.png", 2)  # tmp_path/images/...
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (tmp_path / inside).rename(data / inside)
    rows = [row("in", [inside], "Is there a lesion?"), row("up", [f"../{outside}"], "Is there a lesion?"),
            row("abs", [str(tmp_path / outside)], "Is this a CT image?")]
    train = data / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["curate", str(train), "--steps", "validate", "--workers", "1"]
    allowed = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o1")])
    assert allowed.exit_code == 0, allowed.output
    assert len(load_samples(tmp_path / "o1" / "curated.jsonl")) == 3
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o2"), "--images-within-data"])
    assert res.exit_code == 0, res.output
    assert [s.id for s in load_samples(tmp_path / "o2" / "curated.jsonl")] == ["in"]
    rejected = {r["id"]: r for r in lines(tmp_path / "o2" / "rejected.jsonl")}
    assert set(rejected) == {"up", "abs"} and {r["stage"] for r in rejected.values()} == {"read"}
    assert f"{train}:2 [id=up] field 'images': images[0] '../images/out.png' lies outside the data folder" \
        in rejected["up"]["detail"]
    assert f"{train}:3 [id=abs] field 'images'" in rejected["abs"]["detail"]
