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


WIDE = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}  # Rich boxes errors at the terminal width: never match those


def curate_cli(*args: str):
    result = CliRunner().invoke(app, ["curate", *args], env=WIDE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output  # no traceback
    return result.exit_code, " ".join(result.output.replace("│", " ").split())


def test_an_output_that_would_overwrite_an_input_is_refused(tmp_path, pool):
    out = tmp_path / "out"
    assert curate_cli(str(pool[0]), "--out", str(out), "--steps", "validate", "--workers", "1")[0] == 0
    before = {name: (out / name).read_bytes() for name in ("curated.jsonl", "rejected.jsonl")}
    code, output = curate_cli(str(out / "curated.jsonl"), "--out", str(out), "--steps", "validate")
    assert code == 1 and "is an output of curate" in output and "another --out" in output
    code, output = curate_cli(str(pool[0]), "--out", str(out), "--steps", "validate,decontaminate",
                              "--against", str(out / "rejected.jsonl"))
    assert code == 1 and "--against file is an output" in output
    assert {name: (out / name).read_bytes() for name in before} == before  # nothing was overwritten


def test_fixing_a_broken_image_reruns_the_stages_that_read_it(tmp_path, pool, make_image):
    out = tmp_path / "out"
    args = (str(pool[0]), "--out", str(out), "--steps", "validate,dedup_exact", "--workers", "1")
    assert curate_cli(*args)[0] == 0
    assert "s7" not in {s.id for s in load_samples(out / "curated.jsonl")}  # images/missing.png
    code, output = curate_cli(*args)
    assert code == 0 and "reused stage 00_read (inputs unchanged)" in output
    assert "reused stage 02_dedup_exact (inputs unchanged)" in output
    make_image("missing.png", 11)  # the user supplies the missing image; the JSONL is unchanged
    code, output = curate_cli(*args)
    assert code == 0 and "reused stage 00_read" in output and "reused stage 01_validate" not in output
    assert "s7" in {s.id for s in load_samples(out / "curated.jsonl")}


def test_eval_images_changed_in_place_rerun_decontamination(tmp_path, pool, make_image):
    out = tmp_path / "out"
    run_pipeline(list(pool), out, config(tmp_path))
    make_image("e.png", 99)  # the eval image s6 copied is replaced: eval.jsonl's bytes are unchanged
    again = run_pipeline(list(pool), out, config(tmp_path))
    assert [bool(s.get("resumed")) for s in again["stages"]] == [True, True, True, True, False]
    assert "s6" in {s.id for s in load_samples(out / "curated.jsonl")}


def test_budget_flag_spellings(tmp_path, pool):
    base = [str(pool[0]), "--steps", "validate,select", "--workers", "1", "--set", "steps.select.method=random"]
    kept = {}
    for budget in ("1", "1.0", "50%", "3"):
        code, output = curate_cli(*base, "--out", str(tmp_path / budget), "--budget", budget)
        assert code == 0, output
        kept[budget] = len(load_samples(tmp_path / budget / "curated.jsonl"))
    assert kept == {"1": 1, "1.0": 6, "50%": 3, "3": 3}  # 6 of the 7 have a readable image
    code, output = curate_cli(*base, "--out", str(tmp_path / "big"), "--budget", "5000")
    assert code == 0 and "note: the budget of 5000 is more than the 6 samples left at select" in output
    for bad, words in (("2.0", "for a count of 2 write 2"), ("1.5", "a fraction must be in (0, 1]"),
                       ("0", "a count must be >= 1"), ("-4", "a count must be >= 1"), ("lots", "not a number")):
        code, output = curate_cli(*base, "--out", str(tmp_path / "bad"), "--budget", bad)
        assert code == 2 and "--budget" in output and words in output and "default.yaml" not in output, output
    code, output = curate_cli(*base, "--out", str(tmp_path / "tiny"), "--budget", "0.0001")
    assert code == 1 and "is 0 samples" in output


def test_set_errors_name_the_key_not_the_default_config(tmp_path, pool):
    base = [str(pool[0]), "--out", str(tmp_path / "o"), "--steps", "validate,select"]
    code, output = curate_cli(*base, "--set", "budget=2.0")
    assert code == 1 and "--set budget: invalid value" in output and "default.yaml" not in output
    code, output = curate_cli(*base, "--set", "workers=0")
    assert code == 1 and "--set workers" in output
    code, output = curate_cli(*base, "--workers", "0")
    assert code == 1 and "--workers: invalid value" in output
    code, output = curate_cli(*base, "--set", "steps.nope.x=1")
    assert code == 1 and "--set steps.nope.x: no step 'nope'" in output
    code, output = curate_cli(*base, "--set", "engine")
    assert code == 1 and "expected KEY=VALUE" in output


def test_a_curation_that_keeps_nothing_fails_with_the_reason(tmp_path, pool, row, write_rows, make_image):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    code, output = curate_cli(str(empty), "--out", str(tmp_path / "o1"), "--steps", "validate")
    assert code == 1 and "no records in" in output and "empty.jsonl" in output
    array = tmp_path / "array.json"
    array.write_text(json.dumps([row("a1", [make_image("z.png", 3)], "Is there a lesion?")], indent=1))
    code, output = curate_cli(str(array), "--out", str(tmp_path / "o2"), "--steps", "validate")
    assert code == 1 and "kept 0 of" in output and "stage read" in output and "looks like a JSON array" in output
    assert (tmp_path / "o2" / "rejected.jsonl").read_text().strip()  # the reasons are kept on disk
    code, output = curate_cli(str(pool[0]), "--out", str(tmp_path / "o3"), "--steps", "validate,decontaminate",
                              "--against", str(pool[0]))
    assert code == 1 and "is also an input" in output
    unreadable = write_rows("broken.jsonl", [row("b1", ["images/none.png"], "Is there a lesion?")])
    code, output = curate_cli(str(unreadable), "--out", str(tmp_path / "o4"), "--steps", "validate,dedup_exact")
    assert code == 1 and "stage validate dropped the last 1 (image_unreadable 1)" in output


def test_cli_error_classes_end_in_one_line(tmp_path, pool):
    out = str(tmp_path / "o")
    code, output = curate_cli(str(tmp_path / "none.jsonl"), "--out", out, "--steps", "validate")
    assert code == 1 and "none.jsonl not found" in output
    code, output = curate_cli(str(tmp_path), "--out", out, "--steps", "validate")
    assert code == 1 and "is a folder, not a JSONL file" in output
    code, output = curate_cli(str(pool[0]), "--out", out, "--steps", "validate,nope")
    assert code == 1 and "unknown step(s) ['nope']" in output
    code, output = curate_cli(str(pool[0]), "--out", out, "--engine", "spark")
    assert code == 1 and "--engine: invalid value" in output
    (tmp_path / "bad.yaml").write_text("workers: [1\n")
    code, output = curate_cli(str(pool[0]), "--out", out, "--config", str(tmp_path / "bad.yaml"))
    assert code == 1 and "bad.yaml: cannot read config" in output


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
