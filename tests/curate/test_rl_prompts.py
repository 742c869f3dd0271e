"""RL prompt curation: verifiable answers, no repeats of the SFT set, the policy's own pass rate in a band."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infimed.backends.base import GenRequest
from infimed.cli import app
from infimed.curate.steps.dedup_against import DedupAgainst
from infimed.curate.steps.pass_rate import PassRate
from infimed.curate.steps.verifiable import Verifiable
from infimed.io.jsonl import load_samples
from infimed.schema import Sample


def sample(id: str, answer: str = "yes", answer_type: str = "yes_no", **extra) -> Sample:
    return Sample(id=id, images=[], question=f"Question {id}?", answer=answer, answer_type=answer_type,  # type: ignore[arg-type]
                  modality="ct", task="abnormality_detection", **extra)


def test_verifiable_keeps_what_the_checker_can_score() -> None:
    pool = [
        sample("yn"),
        sample("choice", "B", "choice", options={"A": "left lung", "B": "right lung"}),
        sample("short-open", "pneumothorax", "open"),
        sample("long-open", "a small left apical pneumothorax without mediastinal shift", "open"),
    ]
    step = Verifiable(max_open_words=5)
    out = list(step(pool))
    kept = [o.id for o in out if isinstance(o, Sample)]
    drops = {o.sample.id: o.detail for o in out if not isinstance(o, Sample)}
    assert kept == ["yn", "choice", "short-open"]
    assert "8 words" in drops["long-open"]
    assert step.report() == {"unverifiable_by_answer_type": {"open": 1}}


def test_pass_rate_keeps_the_band_and_records_the_rate(tmp_path: Path) -> None:
    calls: dict[str, int] = defaultdict(int)

    def policy(req: GenRequest) -> str:  # "right" always right, "wrong" never, "half" every other rollout
        calls[req.id] += 1
        right = {"right": True, "wrong": False, "half": calls[req.id] % 2 == 1}[req.id]
        return str(req.meta["answer"]) if right else ("no" if req.meta["answer"] == "yes" else "yes")

    step = PassRate(model="scripted", backend="mock", backend_options={"fn": policy}, k=4, mode="direct",
                    work_dir=str(tmp_path / "rollouts"))
    out = list(step([sample("right"), sample("wrong"), sample("half")]))
    kept = [o for o in out if isinstance(o, Sample)]
    assert [s.id for s in kept] == ["half"]
    assert kept[0].meta["pass_rate"] == 0.5 and kept[0].meta["rollouts"] == 4
    reasons = {o.sample.id: o.reason for o in out if not isinstance(o, Sample)}
    assert reasons == {"right": "pass_rate_above_band", "wrong": "pass_rate_below_band"}
    assert sorted(p.name for p in (tmp_path / "rollouts").iterdir()) == ["k0", "k1", "k2", "k3"]
    assert step.report()["mean_pass_rate"] == 0.5

    again = PassRate(model="scripted", backend="mock", backend_options={"fn": policy}, k=4, mode="direct",
                     work_dir=str(tmp_path / "rollouts"), band=(0.0, 1.0))
    before = dict(calls)
    assert [o.reason for o in again([sample("right")]) if not isinstance(o, Sample)] == ["pass_rate_above_band"]
    assert calls == before  # every rollout came from the cache


def test_pass_rate_errors_do_not_count(tmp_path: Path) -> None:
    step = PassRate(model="gold", backend="mock", backend_options={"fail_ids": ["broken"]}, k=2,
                    work_dir=str(tmp_path / "r"))
    out = {o.sample.id if not isinstance(o, Sample) else o.id: o for o in step([sample("broken"), sample("ok")])}
    assert out["broken"].reason == "rollout_error"  # type: ignore[union-attr]


@pytest.mark.parametrize(("options", "message"), [
    ({"k": 1}, "at least 2 rollouts"), ({"temperature": 0.0}, "must be sampled"),
    ({"band": (0.5, 0.5)}, "band: expected"), ({"mode": "cot"}, "mode: expected"),
])
def test_pass_rate_refuses_settings_that_cannot_work(options: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        PassRate(model="gold", work_dir=str(tmp_path), **options)


def test_dedup_against_drops_prompts_in_the_sft_set(tmp_path: Path, make_image, row, write_rows) -> None:
    img, copy = make_image("a.png", 1), make_image("a_again.png", 1)
    sft = write_rows("sft.jsonl", [row("sft-1", [img], "Is there a lesion in this image?")])
    pool = load_samples(write_rows("pool.jsonl", [
        row("p1", [copy], "Is there a  lesion in this image?"),  # same pixels, other file name, extra space
        row("p2", [img], "Is this a CT image?", task="modality_recognition"),
    ]))
    step = DedupAgainst(files=[str(sft)])
    out = list(step(pool))
    assert [o.id for o in out if isinstance(o, Sample)] == ["p2"]
    drop = next(o for o in out if not isinstance(o, Sample))
    assert drop.reason == "in_other_set" and drop.of == "sft-1" and "sft.jsonl" in drop.detail


def test_cli_rl_prompts_preset(tmp_path: Path, make_image, row, write_rows) -> None:
    rows = [row(f"q{i}", [make_image(f"i{i}.png", i)], f"Is there a lesion in image {i}?",
                "yes" if i % 2 else "no") for i in range(24)]
    rows.append(row("long", [make_image("long.png", 99)], "Describe the finding.",
                    "a small left apical pneumothorax without any shift", answer_type="open"))
    pool = write_rows("pool.jsonl", rows)
    sft = write_rows("sft.jsonl", [rows[0]])
    out = tmp_path / "rl"
    args = ["curate", str(pool), "--out", str(out), "--config", "rl-prompts", "--policy", "coin:0.5", "--k", "4",
            "--sft", str(sft), "--set", "steps.pass_rate.backend=mock", "--set", "steps.pass_rate.mode=direct",
            "--set", "workers=1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text())
    by_stage = {s["name"]: s for s in stats["stages"]}
    assert by_stage["verifiable"]["dropped"] == {"unverifiable": 1}
    assert by_stage["dedup_against"]["dropped"] == {"in_other_set": 1}
    curated = load_samples(out / "curated.jsonl")
    assert curated and all(0 < s.meta["pass_rate"] < 1 and s.meta["rollouts"] == 4 for s in curated)
    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text().splitlines()]
    band_drops = [r for r in rejected if r["stage"] == "pass_rate"]
    assert band_drops and all(r["sample"]["meta"]["pass_rate"] in (0.0, 1.0) for r in band_drops)
    assert len(curated) + len(band_drops) == 23
