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

from infimed.train import components, settings
from infimed.train.data import has_images, sft_dataset


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
    freeze_language: bool = False,
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
    cache_vision_features: bool = False,
    allow_download: bool = False,
) -> dict[str, Any]:
    """Fine-tune ``model`` on the sample files ``data``; writes into ``out_dir`` and returns a summary.

    ``out_dir`` gets the adapter (LoRA/QLoRA) or the whole model (``method="full"``), the processor,
    ``loss.jsonl``, ``config.yaml``, ``checkpoints/`` and, with ``merge``, ``merged/``. With
    ``cache_vision_features`` (vision tower frozen) each image's tower output is computed once
    (``infimed.train.vision_cache``) and shared with later runs in this process from the same tower.
    """
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in locals().items()}
    config["data"] = [str(p) for p in data]
    settings.check_options(mode=mode, method=method, schedule=schedule, warmup=warmup, batch_size=batch_size,
                           grad_accum=grad_accum, learning_rate=learning_rate)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_checkpoint = components.prepare_resume(out_dir, config, resume=resume)

    samples, skipped = settings.training_samples(data, out_dir, ratios=ratios, size=mix_size, balance=balance,
                                                 seed=seed)
    dataset = sft_dataset(samples, mode=mode)  # type: ignore[arg-type]

    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    from infimed.train.callbacks import LossLog

    set_seed(seed)
    net, processor, peft_config = components.prepare_model(
        model, method=method, allow_download=allow_download, min_pixels=min_pixels, max_pixels=max_pixels,
        freeze_vision=freeze_vision, freeze_projector=freeze_projector, lora_r=lora_r, lora_alpha=lora_alpha,
        lora_dropout=lora_dropout, lora_targets=lora_targets, freeze_language=freeze_language,
    )

    if cache_vision_features:
        from infimed.train.vision_cache import install_vision_cache

        install_vision_cache(net)
    collator = components.encoded_collator(net, processor, assistant_only_loss=assistant_only_loss,
                                           max_length=max_length) if has_images(dataset) else None
    args = SFTConfig(
        **settings.trainer_arguments(
            out_dir, epochs=epochs, max_steps=max_steps, learning_rate=learning_rate, schedule=schedule,
            warmup=warmup, batch_size=batch_size, grad_accum=grad_accum,
            gradient_checkpointing=gradient_checkpointing, save_steps=save_steps,
            save_total_limit=save_total_limit, logging_steps=logging_steps, seed=seed,
        ),
        weight_decay=weight_decay,
        assistant_only_loss=assistant_only_loss and collator is None,  # image rows: the collator masks
        max_length=max_length,
        packing=packing,
        padding_free=padding_free,
    )
    trainer_class = SFTTrainer if components.has_cuda() else components.cpu_loss_trainer(SFTTrainer)
    trainer = trainer_class(
        model=net, args=args, train_dataset=dataset, processing_class=processor, data_collator=collator,
        peft_config=peft_config, callbacks=[LossLog(out_dir / "loss.jsonl")],
    )
    return components.train_and_save(
        trainer, processor, out_dir, merge=merge, resume_from=last_checkpoint,
        data=settings.data_summary(samples, skipped),
    )

