"""Loading local, adapter and text-only checkpoints; offline-by-default refusal; manifest descriptions."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

from infimed.model.loading import (
    ModelLoadError,
    describe_model,
    load_model_and_processor,
    resolve_dtype,
    resolve_model,
)


def test_loads_tiny_for_generation_and_training(tiny_model_dir: Path) -> None:
    model, processor = load_model_and_processor(tiny_model_dir, device="cpu")
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert not model.training and model.dtype == torch.float32
    assert processor.tokenizer.padding_side == "left"
    _, train_processor = load_model_and_processor(str(tiny_model_dir), for_training=True)
    assert train_processor.tokenizer.padding_side == "right"


def test_hub_id_is_refused_offline() -> None:
    with pytest.raises(ModelLoadError, match="offline by default"):
        resolve_model("Qwen/Qwen2.5-VL-3B-Instruct")
    assert resolve_model("Qwen/Qwen2.5-VL-3B-Instruct", allow_download=True) == "Qwen/Qwen2.5-VL-3B-Instruct"


def test_allowed_download_still_fails_cleanly_when_hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="no-such-org/no-such-model"):
        load_model_and_processor("no-such-org/no-such-model", allow_download=True)


def test_bad_local_paths(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such model folder"):
        resolve_model(tmp_path / "missing" / "model")
    with pytest.raises(ModelLoadError, match="is a file"):
        resolve_model(tiny_model_dir / "config.json")
    with pytest.raises(ModelLoadError, match="not a model checkpoint"):
        resolve_model(tmp_path)


def test_dtype_resolution() -> None:
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16
    with pytest.raises(ModelLoadError, match="dtype"):
        resolve_dtype("int3", "cpu")


def test_peft_adapter_loads_on_its_base_with_relative_path(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    base = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                           init_lora_weights=False))
    adapter_dir = tmp_path / "adapter"
    lora.save_pretrained(adapter_dir)
    cfg_path = adapter_dir / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = os.path.relpath(tiny_model_dir, adapter_dir)
    cfg_path.write_text(json.dumps(cfg))
    monkeypatch.chdir(tmp_path)  # the relative base path only resolves against the adapter folder

    model, processor = load_model_and_processor(adapter_dir, device="cpu")
    assert type(model).__name__ == "PeftModel" and not model.training
    assert processor.tokenizer.padding_side == "left"
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, lora.eval()(input_ids=ids).logits)
    trainable, _ = load_model_and_processor(adapter_dir, device="cpu", for_training=True)
    assert any(p.requires_grad for n, p in trainable.named_parameters() if "lora_" in n)

    info = describe_model(adapter_dir)
    assert info["adapter"] is True and info["base_model"]["model_type"] == "qwen2_5_vl"
    assert info["parameters"] == sum(p.numel() for n, p in lora.named_parameters() if "lora_" in n)


def test_text_only_checkpoint_falls_back_to_causal_lm(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    Qwen2ForCausalLM(config).save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    model, processor = load_model_and_processor(tmp_path / "lm", device="cpu")
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert processor.padding_side == "left" and processor.pad_token == "<|endoftext|>"


def test_describe_model_counts_without_loading(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForImageTextToText

    info = describe_model(tiny_model_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["parameter_groups"]["vision"] == sum(p.numel() for p in model.model.visual.parameters())
    assert info["config_sha256"] == hashlib.sha256((tiny_model_dir / "config.json").read_bytes()).hexdigest()
    assert describe_model("Qwen/Qwen2.5-VL-3B-Instruct") == {
        "name": "Qwen/Qwen2.5-VL-3B-Instruct", "path": None, "parameters": None, "config_sha256": None,
    }
