"""Load a model and its processor from a local checkpoint, a PEFT adapter folder, a GGUF file (for
inference; ``model/gguf.py``) or (opt-in) the Hub.

One entry point for evaluation, training and the CLI, so the tiny test model and a real Qwen2.5-VL
checkpoint go through exactly the same code. Offline by default: a name that is not a local folder is
refused unless ``allow_download=True``, so a typo never silently triggers a multi-gigabyte download.
Vision-language checkpoints load with ``AutoModelForImageTextToText`` + ``AutoProcessor``; text-only
checkpoints fall back to ``AutoModelForCausalLM`` + ``AutoTokenizer`` (the tokenizer then plays the
processor's role).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path
from typing import Any

ADAPTER_CONFIG = "adapter_config.json"
DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelLoadError(Exception):
    """A model reference that cannot be loaded, with the reference and the reason in the message."""


def resolve_model(model: str | Path, *, allow_download: bool = False, gguf_refused_for: str | None = None) -> str:
    """A local folder (or GGUF file) path as a string, or a Hub id when downloads are allowed.

    ``gguf_refused_for`` names the use ("training") for which a GGUF file is refused, with the conversion
    command in the message; otherwise a GGUF file is accepted. Anything else raises ``ModelLoadError``.
    """
    from infimed.model.gguf import GgufError, check_gguf, convert_hint, is_gguf

    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists() and not (path / ADAPTER_CONFIG).exists():
            raise ModelLoadError(f"{path}: folder has neither config.json nor {ADAPTER_CONFIG}; not a model checkpoint")
        return str(path.resolve())
    if is_gguf(path):
        if gguf_refused_for:
            raise ModelLoadError(f"{path}: a GGUF file, which {gguf_refused_for} does not take; {convert_hint(path)}")
        try:
            check_gguf(path)
        except (GgufError, OSError) as exc:
            raise ModelLoadError(str(exc)) from exc
        return str(path.resolve())
    if path.exists():
        raise ModelLoadError(f"{path}: is a file; pass the checkpoint folder (or a .gguf file)")
    name = str(model)
    if not _HUB_ID.match(name):
        raise ModelLoadError(f"{name}: no such model folder")
    if not allow_download:
        raise ModelLoadError(
            f"{name}: not a local folder. It looks like a Hugging Face Hub id; infimed is offline by default. "
            "Download it first (huggingface-cli download) and pass the folder, or allow downloads explicitly."
        )
    return name


def resolve_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto``: bfloat16 on a CUDA device that supports it, else float32."""
    import torch

    if dtype == "auto":
        cuda = device.startswith("cuda") and torch.cuda.is_available()
        return torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    if dtype not in DTYPES:
        raise ModelLoadError(f"dtype: unknown {dtype!r}; expected auto or one of {sorted(DTYPES)}")
    return getattr(torch, DTYPES[dtype])


def adapter_base(adapter_dir: Path) -> str:
    """The base model of a PEFT adapter folder; a relative base path is tried against the adapter folder too."""
    cfg_path = adapter_dir / ADAPTER_CONFIG
    try:
        base = json.loads(cfg_path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{cfg_path}: cannot read adapter config ({exc})") from exc
    if not base:
        raise ModelLoadError(f"{cfg_path}: field 'base_model_name_or_path' is missing")
    base_path = Path(base).expanduser()
    if not base_path.is_absolute() and not base_path.exists() and (adapter_dir / base_path).exists():
        return str((adapter_dir / base_path).resolve())
    return str(base)


def _is_vision_language(config: Any) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def _has_processor_files(folder: Path) -> bool:
    return any((folder / f).exists() for f in ("processor_config.json", "preprocessor_config.json", "tokenizer.json",
                                                "tokenizer_config.json"))


def load_model_and_processor(
    model: str | Path,
    *,
    device: str = "auto",
    dtype: str = "auto",
    allow_download: bool = False,
    for_training: bool = False,
) -> tuple[Any, Any]:
    """Load ``(model, processor)``; padding is left for generation, right for training.

    A PEFT adapter folder (``adapter_config.json``) loads its base model first, then the adapter
    (trainable when ``for_training``); the processor comes from the adapter folder if it saved one.
    A GGUF file loads as a text model with its tokenizer; training refuses it (``infimed model convert``).
    """
    ref = resolve_model(model, allow_download=allow_download, gguf_refused_for="training" if for_training else None)
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        AutoProcessor,
        AutoTokenizer,
    )

    local = Path(ref)
    if local.is_dir() and (local / ADAPTER_CONFIG).exists():
        from peft import PeftModel

        base, processor = load_model_and_processor(
            adapter_base(local), device=device, dtype=dtype, allow_download=allow_download,
            for_training=for_training,
        )
        peft_model = PeftModel.from_pretrained(base, str(local), is_trainable=for_training)
        if _has_processor_files(local):
            processor = _load_processor(str(local), vision=hasattr(processor, "image_processor"))
            _set_padding(processor, for_training)
        return (peft_model if for_training else peft_model.eval()), processor

    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    if local.is_file():  # a GGUF file (resolve_model let nothing else through): a text model + tokenizer
        from infimed.model.gguf import GgufError, load_gguf

        try:
            loaded, processor = load_gguf(local, dtype=torch_dtype, device=device)
        except GgufError as exc:
            raise ModelLoadError(str(exc)) from exc
        loaded.eval()
        _set_padding(processor, for_training)
        return loaded, processor
    offline = not allow_download
    try:
        config = AutoConfig.from_pretrained(ref, local_files_only=offline)
        vision = _is_vision_language(config)
        auto_model = AutoModelForImageTextToText if vision else AutoModelForCausalLM
        # straight onto an accelerator (no full copy in CPU memory first); CPU loads stay plain
        placement = {} if device == "cpu" else {"device_map": device}
        loaded = auto_model.from_pretrained(ref, dtype=torch_dtype, local_files_only=offline, **placement)
        processor = (AutoProcessor if vision else AutoTokenizer).from_pretrained(ref, local_files_only=offline)
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{ref}: cannot load model ({type(exc).__name__}: {exc})") from exc
    if not for_training:
        loaded.eval()
    _set_padding(processor, for_training)
    return loaded, processor


def _load_processor(ref: str, *, vision: bool) -> Any:
    from transformers import AutoProcessor, AutoTokenizer

    return (AutoProcessor if vision else AutoTokenizer).from_pretrained(ref, local_files_only=True)


def _set_padding(processor: Any, for_training: bool) -> None:
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "right" if for_training else "left"
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token


def safetensors_parameter_counts(folder: Path) -> dict[str, int]:
    """Parameter count per top-level weight group, read from safetensors headers (no weights loaded)."""
    counts: dict[str, int] = {}
    for file in sorted(folder.glob("*.safetensors")):
        with file.open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        for name, info in header.items():
            if name == "__metadata__":
                continue
            numel = 1
            for dim in info["shape"]:
                numel *= int(dim)
            group = "vision" if ".visual." in f".{name}" else "text"
            counts[group] = counts.get(group, 0) + numel
    counts["total"] = sum(counts.values())
    return counts


def describe_model(path: str | Path) -> dict[str, Any]:
    """A manifest entry for a checkpoint: name, path, parameter counts, sha256 of config.json.

    Works without loading weights. A Hub id that is not a local folder is described by name only.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        return {"name": str(path), "path": None, "parameters": None, "config_sha256": None}
    info: dict[str, Any] = {"name": folder.name, "path": str(folder.resolve())}
    if (folder / ADAPTER_CONFIG).exists():
        info["adapter"] = True
        info["base_model"] = describe_model(adapter_base(folder))
        info["adapter_config_sha256"] = hashlib.sha256((folder / ADAPTER_CONFIG).read_bytes()).hexdigest()
    config = folder / "config.json"
    info["config_sha256"] = hashlib.sha256(config.read_bytes()).hexdigest() if config.exists() else None
    if config.exists():
        info["model_type"] = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    counts = safetensors_parameter_counts(folder)
    info["parameters"] = counts["total"] if counts["total"] else None
    info["parameter_groups"] = {k: v for k, v in counts.items() if k != "total"}
    return info
