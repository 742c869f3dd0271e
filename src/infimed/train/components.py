"""Builders shared by the SFT and GRPO recipes: load, set pixel limits, freeze, LoRA, precision, resume, save.

Each takes flat keyword arguments and returns plain objects (torchtune's components-vs-recipes split), so
``sft.py`` and ``grpo.py`` stay short linear scripts instead of two copies of the same 300 lines.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

from infimed.io.jsonl import write_text

METHODS = ("lora", "qlora", "full")
# the language model's attention and MLP projections; the vision tower and its merger are left alone
LM_PROJECTIONS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"
VISION_PROJECTIONS = r".*visual\.blocks.*\.(qkv|proj|gate_proj|up_proj|down_proj)$"
PROJECTOR = "merger"
CHECKPOINTS = "checkpoints"


class ResumeConflictError(ValueError):
    """The output folder holds checkpoints made with another configuration."""


def has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def require(package: str, feature: str, *, gpu: bool = False) -> None:
    """Fail early and clearly when an optional package (or a GPU) that ``feature`` needs is missing."""
    if importlib.util.find_spec(package) is None:
        raise RuntimeError(f"{feature} needs the '{package}' package, which is not installed (pip install {package})")
    if gpu and not has_cuda():
        raise RuntimeError(f"{feature} needs a CUDA GPU; none is available on this machine")


def load_for_training(
    model: str | Path, *, method: str = "lora", allow_download: bool = False
) -> tuple[Any, Any]:
    """``(model, processor)`` on the CPU (the trainer places it), bf16 on GPUs that have it, else fp32.

    QLoRA loads the base model in 4-bit NF4 (bitsandbytes) on this process's GPU.
    """
    from infimed.model.loading import resolve_model

    if method not in METHODS:
        raise ValueError(f"method: unknown {method!r}; expected one of {', '.join(METHODS)}")
    resolve_model(model, allow_download=allow_download, gguf_refused_for="training")  # a GGUF: convert it first
    if method != "qlora":
        from infimed.model.loading import load_model_and_processor

        dtype = "bfloat16" if use_bf16() else "float32"
        return load_model_and_processor(
            _absolute(model), device="cpu", dtype=dtype, allow_download=allow_download, for_training=True
        )
    require("bitsandbytes", "QLoRA (--method qlora)", gpu=True)
    import os

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor, BitsAndBytesConfig

    quant = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    src = _absolute(model)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    loaded = AutoModelForImageTextToText.from_pretrained(
        src, quantization_config=quant, device_map={"": local_rank}, dtype=torch.bfloat16,
        local_files_only=not allow_download,
    )
    return loaded, AutoProcessor.from_pretrained(src, local_files_only=not allow_download)


def _bf16_ok() -> bool:
    import torch

    return bool(torch.cuda.is_bf16_supported())


def _absolute(model: str | Path) -> str:
    """A local folder becomes an absolute path, so a saved adapter finds its base model from anywhere."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else str(model)


def use_bf16() -> bool:
    """Mixed precision for the trainer: bf16 on GPUs that support it, fp32 on the CPU."""
    return has_cuda() and _bf16_ok()


def set_pixel_limits(processor: Any, *, min_pixels: int | None, max_pixels: int | None) -> None:
    """Bound the image processor's resize (Qwen2.5-VL: pixels per image -> image tokens per image)."""
    if min_pixels is None and max_pixels is None:
        return
    ip = processor.image_processor
    lo = min_pixels if min_pixels is not None else ip.size["shortest_edge"]
    hi = max_pixels if max_pixels is not None else ip.size["longest_edge"]
    if lo > hi:
        raise ValueError(f"min_pixels ({lo}) must not exceed max_pixels ({hi})")
    ip.size = {"shortest_edge": lo, "longest_edge": hi}
    for name, value in (("min_pixels", lo), ("max_pixels", hi)):
        if hasattr(ip, name):
            setattr(ip, name, value)


def freeze_parts(model: Any, *, vision: bool, projector: bool, language: bool = False) -> None:
    """Full fine-tuning: stop gradients into the vision tower, its merger (the projector) and/or the language
    model (everything outside the vision tower: the alignment stage trains the projector alone)."""
    for name, param in model.named_parameters():
        if ".visual." not in f".{name}":
            if language:
                param.requires_grad_(False)
            continue
        is_projector = f".{PROJECTOR}." in name
        if (is_projector and projector) or (not is_projector and vision):
            param.requires_grad_(False)


def lora_config(
    *, r: int, alpha: int, dropout: float, targets: str | None, train_vision: bool, train_projector: bool
) -> Any:
    """LoRA on the language model's projections; with ``train_vision`` on the vision blocks too.

    ``targets`` (a regex over module names, or a comma-separated list of names) replaces the default.
    ``train_projector`` trains the merger fully (``modules_to_save``).
    """
    from peft import LoraConfig

    target: str | list[str]
    if targets:
        target = targets if any(ch in targets for ch in "*.|()$^") else [t.strip() for t in targets.split(",")]
    else:
        target = f"({LM_PROJECTIONS})|({VISION_PROJECTIONS})" if train_vision else LM_PROJECTIONS
    return LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target, task_type="CAUSAL_LM",
        modules_to_save=[PROJECTOR] if train_projector else None,
    )


def prepare_resume(out_dir: Path, config: dict[str, Any], *, resume: bool) -> str | None:
    """Write ``config.yaml``; return the last checkpoint to resume from (None for a fresh run).

    A folder with checkpoints made under another configuration is refused rather than silently mixed.
    """
    from transformers.trainer_utils import get_last_checkpoint

    ckpt_dir = out_dir / CHECKPOINTS
    last = get_last_checkpoint(str(ckpt_dir)) if resume and ckpt_dir.is_dir() else None
    config_path = out_dir / "config.yaml"
    if last is not None and config_path.exists():
        old = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        diff = sorted(k for k in set(old) | set(config)
                      if k not in ("resume", "cache_vision_features") and old.get(k) != config.get(k))
        if diff:
            raise ResumeConflictError(
                f"{out_dir} holds checkpoints of a run with other settings (differs in: {', '.join(diff)}); "
                "use another --out or pass --no-resume to start afresh"
            )
    write_text(config_path, yaml.safe_dump(config, sort_keys=False))
    return last


def save_outputs(model: Any, processor: Any, out_dir: Path, *, merge: bool) -> dict[str, str]:
    """Save the adapter (or the full model) and the processor in ``out_dir``; ``merge`` adds ``out_dir/merged``.

    The folder loads with ``infimed.model.loading.load_model_and_processor`` (an adapter folder is put on
    its base model), so ``infimed eval --model OUT`` evaluates the result directly.
    """
    from peft import PeftModel

    out: dict[str, str] = {"model": str(out_dir)}
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    if isinstance(model, PeftModel):
        out["adapter"] = str(out_dir)
        if merge:
            merged = model.merge_and_unload()
            merged.save_pretrained(out_dir / "merged")
            processor.save_pretrained(out_dir / "merged")
            out["merged"] = str(out_dir / "merged")
    elif merge:
        out["merged"] = str(out_dir)  # full fine-tuning: the saved model is already whole
    return out


def is_peft(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def count_parameters(model: Any) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def train_and_save(
    trainer: Any, processor: Any, out_dir: Path, *, merge: bool, resume_from: str | None, data: dict[str, Any]
) -> dict[str, Any]:
    """Run a built TRL trainer (resuming when a checkpoint is given), save, and summarise the run."""
    import time

    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - started
    saved = save_outputs(trainer.model, processor, out_dir, merge=merge)
    return {
        **saved,
        "loss_log": str(out_dir / "loss.jsonl"),
        "config": str(out_dir / "config.yaml"),
        "resumed_from": resume_from,
        **data,
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "seconds": round(seconds, 2),
        "parameters": count_parameters(trainer.model),
    }


def prepare_model(
    model: str | Path, *, method: str, allow_download: bool, min_pixels: int | None, max_pixels: int | None,
    freeze_vision: bool, freeze_projector: bool, lora_r: int, lora_alpha: int, lora_dropout: float,
    lora_targets: str | None, freeze_language: bool = False,
) -> tuple[Any, Any, Any]:
    """Load the model and processor for training; freeze parts (full) or build the LoRA config (lora/qlora).

    An adapter folder given as the model keeps training its own adapter (no new LoRA config).
    """
    net, processor = load_for_training(model, method=method, allow_download=allow_download)
    set_pixel_limits(processor, min_pixels=min_pixels, max_pixels=max_pixels)
    peft_config = None
    if freeze_language and method != "full":
        raise ValueError("freeze_language: only full fine-tuning freezes the language model (LoRA trains adapters)")
    if method == "full":
        freeze_parts(net, vision=freeze_vision, projector=freeze_projector, language=freeze_language)
        if not any(p.requires_grad for p in net.parameters()):
            raise ValueError("freeze: every part is frozen; nothing left to train")
    elif not is_peft(net):
        peft_config = lora_config(
            r=lora_r, alpha=lora_alpha, dropout=lora_dropout, targets=lora_targets,
            train_vision=not freeze_vision, train_projector=not freeze_projector,
        )
    return net, processor, peft_config


def encoded_collator(model: Any, processor: Any, *, assistant_only_loss: bool, max_length: int | None) -> Any:
    """The collator of image rows (``infimed.train.collate``), with the pad token TRL would choose, mirrored
    onto the model's configs as TRL does for its own collator."""
    from infimed.train.collate import EncodedVisionCollator

    tokenizer = getattr(processor, "tokenizer", processor)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.get_text_config().pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return EncodedVisionCollator(processor, pad_token_id=tokenizer.pad_token_id,
                                 assistant_only_loss=assistant_only_loss, max_length=max_length)


def cpu_loss_trainer(trainer_class: Any) -> Any:
    """``trainer_class`` whose loss computes logits only where there are labels (``label_token_loss``).

    TRL's fused LM head (chunked log-probs over every position, plus entropy and token accuracy) saves the
    memory of the full logits on GPUs with large vocabularies; on the CPU it costs ~45% of a tiny model's
    step, and the LM head over every position (prompt and padding included) another third
    (bench/quickstart_stages.py). Without CUDA the loss is the same mean over label tokens, computed from the
    backbone's hidden states at the label positions only; the loss log has no entropy or token accuracy.
    """

    def compute_loss(self: Any, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        loss = label_token_loss(model, inputs, num_items_in_batch)
        return (loss, {"loss": loss}) if return_outputs else loss

    return type(f"LabelLoss{trainer_class.__name__}", (trainer_class,), {"compute_loss": compute_loss})


def label_token_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
    """Next-token cross-entropy summed over label tokens, divided by ``num_items_in_batch`` (the label tokens
    of the whole accumulated batch, as ``transformers.Trainer`` counts them) or by this batch's own count."""
    import torch
    import torch.nn.functional as F

    net = model.get_base_model() if is_peft(model) else model
    inputs = dict(inputs)
    labels = inputs.pop("labels")
    hidden = net.model(**inputs, use_cache=False).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    keep = targets != -100
    logits = net.lm_head(hidden[keep]).float()
    total = F.cross_entropy(logits, targets[keep], reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else keep.sum()
    return total / torch.as_tensor(count, device=total.device).clamp(min=1)
