"""A readable summary of a checkpoint folder from its JSON files and safetensors headers (no weights loaded).

Handles both the current transformers layout (``text_config``/``vision_config``, ``processor_config.json``)
and the layout of released Qwen2.5-VL checkpoints (text fields at the top level, ``preprocessor_config.json``
with ``min_pixels``/``max_pixels``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infimed.model.loading import ADAPTER_CONFIG, ModelLoadError, describe_model

TEXT_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
               "intermediate_size", "vocab_size")
VISION_FIELDS = ("depth", "hidden_size", "num_heads", "patch_size", "spatial_merge_size", "out_hidden_size")


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: expected a JSON object")
    return data


def config_summary(folder: Path) -> dict[str, Any]:
    """Architecture, text and vision sizes, and the vision special-token ids from config.json."""
    cfg = _json(folder / "config.json")
    text = cfg.get("text_config") or cfg
    vision = cfg.get("vision_config") or {}
    return {
        "model_type": cfg.get("model_type"),
        "architectures": cfg.get("architectures"),
        "text": {k: text[k] for k in TEXT_FIELDS if k in text},
        "vision": {k: vision[k] for k in VISION_FIELDS if k in vision},
        "image_token_id": cfg.get("image_token_id"),
        "rope": text.get("rope_parameters") or text.get("rope_scaling"),
    }


def processor_limits(folder: Path) -> dict[str, Any] | None:
    """Image pixel limits and the resulting image-token range, or None without an image processor config."""
    if (folder / "processor_config.json").exists():
        proc = _json(folder / "processor_config.json").get("image_processor") or {}
    elif (folder / "preprocessor_config.json").exists():
        proc = _json(folder / "preprocessor_config.json")
    else:
        return None
    size = proc.get("size") or {}
    min_pixels = proc.get("min_pixels", size.get("shortest_edge"))
    max_pixels = proc.get("max_pixels", size.get("longest_edge"))
    patch, merge = int(proc.get("patch_size", 14)), int(proc.get("merge_size", 2))
    per_token = (patch * merge) ** 2
    return {
        "image_processor": proc.get("image_processor_type"),
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
        "patch_size": patch,
        "merge_size": merge,
        "max_image_tokens": int(max_pixels) // per_token if max_pixels else None,
    }


def model_info(path: str | Path) -> dict[str, Any]:
    """Everything ``infimed model info`` prints: identity, parameter counts, config and processor summary."""
    from infimed.model.gguf import convert_hint, is_gguf

    folder = Path(path).expanduser()
    if is_gguf(folder):
        raise ModelLoadError(f"{path}: a GGUF file; `model info` reads model folders: {convert_hint(path)}")
    if not folder.is_dir():
        raise ModelLoadError(f"{path}: not a local model folder")
    if not (folder / "config.json").exists() and not (folder / ADAPTER_CONFIG).exists():
        raise ModelLoadError(f"{folder}: neither config.json nor {ADAPTER_CONFIG}; not a model checkpoint")
    info = describe_model(folder)
    if (folder / ADAPTER_CONFIG).exists():
        adapter = _json(folder / ADAPTER_CONFIG)
        info["adapter_config"] = {k: adapter.get(k) for k in ("peft_type", "r", "lora_alpha", "target_modules")}
    if (folder / "config.json").exists():
        info["config"] = config_summary(folder)
    info["processor"] = processor_limits(folder)
    return info
