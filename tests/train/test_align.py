"""The alignment stage on the tiny model: only the projector changes; SFT starts from its output."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from infimed.cli import app
from infimed.data.captions import synth_captions
from infimed.train.align import train_align
from infimed.train.components import PROJECTOR


def weights(folder: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(f))
    return out


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pairs")
    synth_captions(out, n=40, seed=0)
    return out


def test_align_trains_the_projector_alone_then_sft_continues(tiny_model_dir: Path, pairs: Path,
                                                             phantom_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "align"
    result = train_align(tiny_model_dir, [pairs / "train.jsonl"], out, max_steps=3, batch_size=4, save_steps=100)
    assert result["steps"] == 3 and 0 < result["parameters"]["trainable"] < result["parameters"]["total"]
    before, after = weights(tiny_model_dir), weights(out)
    assert len(before.keys() & after.keys()) >= 0.9 * len(before)
    changed = {k for k in before if k in after and not torch.equal(before[k], after[k].to(before[k].dtype))}
    assert changed and all(f".{PROJECTOR}." in f".{k}" for k in changed), sorted(changed)[:5]
    sft = CliRunner().invoke(app, ["train", "sft", "--model", str(out), "--data", str(phantom_dir / "train.jsonl"),
                                   "--out", str(tmp_path / "sft"), "--max-steps", "2", "--batch-size", "4"],
                             env={"COLUMNS": "200"})
    assert sft.exit_code == 0, sft.output
    assert (tmp_path / "sft" / "adapter_config.json").is_file()


def test_align_refuses_non_caption_data(tiny_model_dir: Path, phantom_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "align", "--model", str(tiny_model_dir), "--data",
                                      str(phantom_dir / "train.jsonl"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "answer_type report" in result.output
