"""`infimed model tiny` and `infimed model info`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infimed.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_tiny_command_is_deterministic(tmp_path: Path, tiny_model_dir: Path) -> None:
    result = runner.invoke(app, ["model", "tiny", "--out", str(tmp_path / "tiny"), "--seed", "0"])
    assert result.exit_code == 0, result.output
    for name in ("model.safetensors", "tokenizer.json", "config.json", "processor_config.json"):
        assert (tmp_path / "tiny" / name).read_bytes() == (tiny_model_dir / name).read_bytes(), name


def test_tiny_command_rejects_bad_image_size(tmp_path: Path) -> None:
    result = runner.invoke(app, ["model", "tiny", "--out", str(tmp_path / "t"), "--image-size", "50"])
    assert result.exit_code == 2
    assert "multiple of 28" in result.output
    assert not (tmp_path / "t").exists()


def test_info_json(tiny_model_dir: Path) -> None:
    result = runner.invoke(app, ["model", "info", str(tiny_model_dir), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["config"]["model_type"] == "qwen2_5_vl"
    assert info["config"]["text"]["hidden_size"] == 128
    assert info["processor"]["max_image_tokens"] == 4
    assert info["parameters"] == sum(info["parameter_groups"].values())


def test_info_table_and_bad_path(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["model", "info", str(tiny_model_dir)])
    assert result.exit_code == 0 and "qwen2_5_vl" in result.output
    result = runner.invoke(app, ["model", "info", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a model checkpoint" in result.output


def test_info_reads_released_qwen_layout(tmp_path: Path) -> None:
    """Released Qwen2.5-VL checkpoints keep text fields at the top level and pixels in preprocessor_config."""
    from infimed.model.info import model_info

    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "qwen2_5_vl", "hidden_size": 2048, "num_hidden_layers": 36, "vocab_size": 151936,
        "vision_config": {"depth": 32, "hidden_size": 1280}, "rope_scaling": {"type": "mrope"},
    }))
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({
        "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "merge_size": 2,
        "image_processor_type": "Qwen2_5_VLImageProcessor",
    }))
    info = model_info(tmp_path)
    assert info["config"]["text"] == {"hidden_size": 2048, "num_hidden_layers": 36, "vocab_size": 151936}
    assert info["config"]["rope"] == {"type": "mrope"}
    assert info["processor"]["max_image_tokens"] == 16384
    assert info["parameters"] is None
