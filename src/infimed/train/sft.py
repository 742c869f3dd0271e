"""Supervised fine-tuning recipe: samples -> chat conversations -> TRL's SFTTrainer -> adapter + loss log.

Linear on purpose: resolve the config, read and mix the data, load the model, attach LoRA (or freeze parts
for full fine-tuning), train (resuming from the last checkpoint of an interrupted run), save. The
conversation is the evaluation prompt plus the target ``infimed.prompts`` formats, so what the model
learns is what the checker reads. The loss covers the assistant turn only by default (the chat template's
``{% generation %}`` markers). Multi-GPU / multi-node: run the same command under ``accelerate launch``
with one of the configs in ``infimed/train/accelerate/`` (see docs/training.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infimed import progress
from infimed.train import components
from infimed.train.data import answer_counts, balance_answers, load_trainable, sft_dataset

SCHEDULES = ("cosine", "linear", "constant", "constant_with_warmup")


def train_sft(
    model: str | Path,
    data: list[Path],
    out_dir: Path,
    *,
    mode: str = "direct",
    method: str = "lora",
    lora_r: int = 16,
    lora_alpha: int = 32,
    lora_dropout: float = 0.05,
    lora_targets: str | None = None,
    freeze_vision: bool = True,
    freeze_projector: bool = True,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    epochs: float = 1.0,
    max_steps: int = -1,
    learning_rate: float = 2e-4,
    schedule: str = "cosine",
    warmup: float = 0.03,
    weight_decay: float = 0.0,
    batch_size: int = 8,
    grad_accum: int = 1,
    gradient_checkpointing: bool = False,
    assistant_only_loss: bool = True,
    max_length: int | None = None,
    packing: bool = False,
    padding_free: bool = False,
    ratios: list[float] | None = None,
    mix_size: int | None = None,
    balance: bool = False,
    merge: bool = False,
    save_steps: int = 200,
    save_total_limit: int = 2,
    logging_steps: int = 10,
    resume: bool = True,
    seed: int = 0,
    allow_download: bool = False,
) -> dict[str, Any]:
    """Fine-tune ``model`` on the sample files ``data``; writes into ``out_dir`` and returns a summary.

    ``out_dir`` gets the adapter (LoRA/QLoRA) or the whole model (``method="full"``), the processor,
    ``loss.jsonl``, ``config.yaml``, ``checkpoints/`` and, with ``merge``, ``merged/``.
    """
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in locals().items()}
    config["data"] = [str(p) for p in data]
    _check_options(mode=mode, method=method, schedule=schedule, batch_size=batch_size, grad_accum=grad_accum)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_checkpoint = components.prepare_resume(out_dir, config, resume=resume)

    samples, skipped = load_trainable([Path(p) for p in data], out_dir, ratios=ratios, size=mix_size, seed=seed)
    if balance:
        samples = balance_answers(samples, seed=seed)
    dataset = sft_dataset(samples, mode=mode)  # type: ignore[arg-type]

    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    from infimed.train.callbacks import LossLog

    set_seed(seed)
    net, processor, peft_config = components.prepare_model(
        model, method=method, allow_download=allow_download, min_pixels=min_pixels, max_pixels=max_pixels,
        freeze_vision=freeze_vision, freeze_projector=freeze_projector, lora_r=lora_r, lora_alpha=lora_alpha,
        lora_dropout=lora_dropout, lora_targets=lora_targets,
    )

    args = SFTConfig(
        output_dir=str(out_dir / components.CHECKPOINTS),
        num_train_epochs=epochs,
        max_steps=max_steps,
        learning_rate=learning_rate,
        lr_scheduler_type=schedule,
        warmup_steps=warmup,
        weight_decay=weight_decay,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        gradient_checkpointing=gradient_checkpointing,
        assistant_only_loss=assistant_only_loss,
        max_length=max_length,
        packing=packing,
        padding_free=padding_free,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=save_total_limit,
        logging_steps=logging_steps,
        seed=seed,
        data_seed=seed,
        remove_unused_columns=False,  # the dataset decodes images on access; its raw columns must stay
        dataloader_num_workers=0,
        report_to=[],
        disable_tqdm=not progress.enabled(),
        bf16=components.use_bf16(),
    )
    trainer = SFTTrainer(
        model=net, args=args, train_dataset=dataset, processing_class=processor,
        peft_config=peft_config, callbacks=[LossLog(out_dir / "loss.jsonl")],
    )
    return components.train_and_save(
        trainer, processor, out_dir, merge=merge, resume_from=last_checkpoint,
        data={"n_samples": len(samples), "n_skipped_unreadable": len(skipped), "answers": answer_counts(samples)},
    )


def _check_options(*, mode: str, method: str, schedule: str, batch_size: int, grad_accum: int) -> None:
    if mode not in ("direct", "reasoning"):
        raise ValueError(f"mode: expected 'direct' or 'reasoning', got {mode!r}")
    if method not in components.METHODS:
        raise ValueError(f"method: unknown {method!r}; expected one of {', '.join(components.METHODS)}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: unknown {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    if batch_size < 1 or grad_accum < 1:
        raise ValueError(f"batch_size and grad_accum must be >= 1, got {batch_size} and {grad_accum}")
