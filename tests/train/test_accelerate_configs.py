"""The shipped accelerate configs parse and say what their names promise; the CLI finds them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from infimed.cli import app

EXPECTED = {
    "ddp": ("MULTI_GPU", None),
    "zero2": ("DEEPSPEED", 2),
    "zero3": ("DEEPSPEED", 3),
    "fsdp": ("FSDP", None),
}


@pytest.mark.parametrize(("name", "expected"), EXPECTED.items())
def test_config_is_printed_and_valid(name: str, expected: tuple[str, int | None]) -> None:
    result = CliRunner().invoke(app, ["train", "accelerate-config", name])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(Path(result.output.strip()).read_text())
    kind, stage = expected
    assert config["distributed_type"] == kind and config["mixed_precision"] == "bf16"
    if stage is not None:
        assert config["deepspeed_config"]["zero_stage"] == stage
    if kind == "FSDP":
        assert "Qwen2_5_VLDecoderLayer" in config["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"]


def test_unknown_config_is_refused() -> None:
    result = CliRunner().invoke(app, ["train", "accelerate-config", "zero9"])
    assert result.exit_code == 2
