"""GRPO recipe: prompts with images -> TRL's GRPOTrainer with rewards over the shared answer checker.

For each prompt the policy samples ``num_generations`` completions; each is scored by the reward functions
of ``infimed.train.rewards`` (format, accuracy, length) and advantages are taken within the group. The
same loading, LoRA, freezing, resume and saving components as SFT are used, so the two recipes differ
only in their trainer. ``use_vllm`` generates with vLLM (colocated on the training GPUs) where installed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from infimed.train import components, settings
from infimed.train.data import grpo_dataset
from infimed.train.rewards import build_rewards


def train_grpo(
    model: str | Path,
    data: list[Path],
    out_dir: Path,
    *,
    reward: Sequence[str | Callable[..., list[float]]] = ("format", "accuracy"),
    reward_weights: list[float] | None = None,
    partial: float = 0.0,
    overlong_buffer: int | None = None,
    judge_model: str | None = None,
    judge_backend: str = "openai",
    judge_base_url: str | None = None,
    judge_on: str = "open",
    judge_template: str = "infimed",
    mode: str = "reasoning",
    method: str = "lora",
    lora_r: int = 16,
    lora_alpha: int = 32,
    lora_dropout: float = 0.05,
    lora_targets: str | None = None,
    freeze_vision: bool = True,
    freeze_projector: bool = True,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    num_generations: int = 4,
    beta: float = 0.04,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    max_completion_length: int = 256,
    temperature: float = 1.0,
    epochs: float = 1.0,
    max_steps: int = -1,
    learning_rate: float = 1e-5,
    schedule: str = "constant",
    warmup: float = 0.0,
    batch_size: int = 8,
    grad_accum: int = 1,
    gradient_checkpointing: bool = False,
    ratios: list[float] | None = None,
    mix_size: int | None = None,
    balance: bool = False,
    use_vllm: bool = False,
    merge: bool = False,
    save_steps: int = 100,
    save_total_limit: int = 2,
    logging_steps: int = 5,
    resume: bool = True,
    seed: int = 0,
    allow_download: bool = False,
) -> dict[str, Any]:
    """Optimise ``model`` with GRPO on the sample files ``data``; writes into ``out_dir`` like ``train_sft``.

    ``reward`` names rewards of ``infimed.train.rewards`` (``format``, ``accuracy``, ``judge``, ``length``) or passes
    reward functions directly (Python API). ``batch_size`` counts completions per device and step and must be
    a multiple of ``num_generations``; ``beta`` weighs the KL penalty, ``epsilon``(``_high``) clip the ratio.
    """
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in locals().items()}
    config["data"] = [str(p) for p in data]
    config["reward"] = [r if isinstance(r, str) else getattr(r, "__name__", repr(r)) for r in reward]
    if num_generations < 2:
        raise ValueError(f"num_generations: GRPO needs at least 2 completions per prompt, got {num_generations}")
    if batch_size % num_generations:
        raise ValueError(f"batch_size ({batch_size}) must be a multiple of num_generations ({num_generations})")
    settings.check_options(mode=mode, method=method, schedule=schedule, warmup=warmup, batch_size=batch_size,
                           grad_accum=grad_accum, learning_rate=learning_rate)
    if use_vllm:
        components.require("vllm", "GRPO generation with vLLM (--use-vllm)", gpu=True)
    reward_funcs: list[Any] = [
        r if callable(r) else build_rewards([r], partial=partial, max_length=max_completion_length,
                                            buffer=overlong_buffer, judge_model=judge_model,
                                            judge_backend=judge_backend, judge_base_url=judge_base_url,
                                            judge_on=judge_on, judge_template=judge_template,
                                            judge_cache=str(Path(out_dir) / "judge_cache.jsonl"))[0]
        for r in reward
    ]
    if reward_weights is not None and len(reward_weights) != len(reward_funcs):
        raise ValueError(f"got {len(reward_weights)} reward weights for {len(reward_funcs)} rewards")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_checkpoint = components.prepare_resume(out_dir, config, resume=resume)

    samples, skipped = settings.training_samples(data, out_dir, ratios=ratios, size=mix_size, balance=balance,
                                                 seed=seed)
    dataset = grpo_dataset(samples, mode=mode)  # type: ignore[arg-type]

    from transformers import set_seed
    from trl import GRPOConfig, GRPOTrainer

    from infimed.train.callbacks import LossLog, read_loss_log

    set_seed(seed)
    net, processor, peft_config = components.prepare_model(
        model, method=method, allow_download=allow_download, min_pixels=min_pixels, max_pixels=max_pixels,
        freeze_vision=freeze_vision, freeze_projector=freeze_projector, lora_r=lora_r, lora_alpha=lora_alpha,
        lora_dropout=lora_dropout, lora_targets=lora_targets,
    )
    # GRPOTrainer left-pads prompt ids but takes mm_token_type_ids from the processor's own padding: the two
    # must agree, or image positions shift in any batch whose prompts differ in length
    getattr(processor, "tokenizer", processor).padding_side = "left"

    args = GRPOConfig(
        **settings.trainer_arguments(
            out_dir, epochs=epochs, max_steps=max_steps, learning_rate=learning_rate, schedule=schedule,
            warmup=warmup, batch_size=batch_size, grad_accum=grad_accum,
            gradient_checkpointing=gradient_checkpointing, save_steps=save_steps,
            save_total_limit=save_total_limit, logging_steps=logging_steps, seed=seed,
        ),
        num_generations=num_generations,
        beta=beta,
        epsilon=epsilon,
        epsilon_high=epsilon_high,
        max_completion_length=max_completion_length,
        temperature=temperature,
        generation_kwargs={"suppress_tokens": vision_token_ids(net)},
        reward_weights=reward_weights,
        use_vllm=use_vllm,
        vllm_mode="colocate",
    )
    trainer = GRPOTrainer(
        model=net, reward_funcs=reward_funcs, args=args, train_dataset=dataset, processing_class=processor,
        peft_config=peft_config, callbacks=[LossLog(out_dir / "loss.jsonl")],
    )
    result = components.train_and_save(
        trainer, processor, out_dir, merge=merge, resume_from=last_checkpoint,
        data=settings.data_summary(samples, skipped),
    )
    shares = [row["zero_variance_share"] for row in read_loss_log(out_dir / "loss.jsonl")
              if isinstance(row.get("zero_variance_share"), int | float)]
    result["zero_variance_share"] = round(sum(shares) / len(shares), 4) if shares else None
    return result


def vision_token_ids(model: Any) -> list[int]:
    """Image/video placeholder and vision start/end ids: a sampled one would break the image-token layout
    of the next forward pass (mrope positions, feature count), so generation never emits them."""
    config = model.config
    names = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    return [int(v) for n in names if isinstance(v := getattr(config, n, None), int)]
