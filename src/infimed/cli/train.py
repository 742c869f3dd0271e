"""`infimed train sft|align|grpo`: thin commands over ``infimed.train.sft.train_sft``, ``infimed.train.align.train_align``
and ``infimed.train.grpo.train_grpo``.

Extra files after ``--data`` are taken as more training files (``--data a.jsonl b.jsonl``). Multi-GPU /
multi-node: ``accelerate launch --config_file $(infimed train accelerate-config zero2) -m infimed.cli train ...``
(see docs/training.md).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Fine-tune models: supervised (SFT) and reinforcement learning (GRPO).", no_args_is_help=True)

ACCELERATE_CONFIGS = ("ddp", "zero2", "zero3", "fsdp")

# options shared by both recipes
MODEL = typer.Option(..., "--model", help="Model folder (local checkpoint or a PEFT adapter folder).")
DATA = typer.Option(..., "--data", help="Training sample file (JSONL); more files may follow it.")
MORE = typer.Argument(None, help="More training sample files (mixed by --ratios).", show_default=False)
OUT = typer.Option(..., "--out", help="Output folder: adapter/model, processor, loss.jsonl, config.yaml, checkpoints/.")
METHOD = typer.Option("lora", "--method", help="lora | qlora (4-bit base; needs a CUDA GPU and bitsandbytes) | full.")
LORA_R = typer.Option(16, "--lora-r", min=1, help="LoRA rank.")
LORA_ALPHA = typer.Option(32, "--lora-alpha", min=1, help="LoRA scaling alpha.")
LORA_DROPOUT = typer.Option(0.05, "--lora-dropout", min=0.0, max=1.0, help="LoRA dropout.")
LORA_TARGETS = typer.Option(None, "--lora-targets", help="Modules for LoRA: a regex or comma-separated names "
                            "(default: the language model's attention and MLP projections).")
FREEZE_VISION = typer.Option(True, "--freeze-vision/--train-vision", help="Keep the vision tower frozen "
                             "(full) or without LoRA (lora).")
FREEZE_PROJECTOR = typer.Option(True, "--freeze-projector/--train-projector", help="Keep the vision-language "
                                "projector (merger) frozen.")
MIN_PIXELS = typer.Option(None, "--min-pixels", min=1, help="Smallest image area after resizing (pixels).")
MAX_PIXELS = typer.Option(None, "--max-pixels", min=1, help="Largest image area after resizing (pixels); "
                          "fewer pixels -> fewer image tokens.")
EPOCHS = typer.Option(1.0, "--epochs", min=0.0, help="Passes over the training set (ignored with --max-steps).")
MAX_STEPS = typer.Option(-1, "--max-steps", help="Stop after this many optimiser steps (-1: use --epochs).")
SCHEDULE = typer.Option(None, "--schedule", help="Learning-rate schedule: cosine, linear, constant, "
                        "constant_with_warmup (default: cosine for SFT, constant for GRPO).")
WARMUP = typer.Option(None, "--warmup", min=0.0, help="Warm-up: a fraction of training (< 1) or a step count.")
GRAD_ACCUM = typer.Option(1, "--grad-accum", min=1, help="Gradient accumulation steps.")
GRAD_CKPT = typer.Option(False, "--gradient-checkpointing", help="Recompute activations to save memory.")
RATIOS = typer.Option(None, "--ratios", help="Mixing ratios, one per data file, e.g. 0.7,0.3.")
MIX_SIZE = typer.Option(None, "--mix-size", min=1, help="Size of the mixture (default: all samples of all files).")
BALANCE = typer.Option(False, "--balance", help="Oversample minority answers (choice letters, yes/no).")
MERGE = typer.Option(False, "--merge", help="Also save the adapter merged into the base model (OUT/merged).")
SAVE_STEPS = typer.Option(None, "--save-steps", min=1, help="Checkpoint every N steps (resume point after a kill).")
LOGGING_STEPS = typer.Option(None, "--logging-steps", min=1, help="Write a loss.jsonl row every N steps.")
RESUME = typer.Option(True, "--resume/--no-resume", help="Continue from the last checkpoint in OUT if there is one.")
SEED = typer.Option(0, "--seed", help="Seed for data order, mixing and initialisation.")
CACHE_VISION = typer.Option(False, "--cache-vision-features", help="Compute each image's frozen vision-tower "
                            "features once and reuse them at every step (needs the vision tower frozen; kept in "
                            "memory, up to 2 GiB).")
ALLOW_DOWNLOAD = typer.Option(False, "--allow-download", help="Allow a Hugging Face Hub id as --model.")


def _floats(text: str | None, option: str) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}", param_hint=option) from exc


def _files(first: Path, more: list[Path] | None) -> list[Path]:
    files = [first, *(more or [])]
    for f in files:
        if not f.is_file():
            raise typer.BadParameter(f"{f} does not exist or is not a file", param_hint="--data")
    return files


def _run(fn: Any, **kwargs: Any) -> dict[str, Any]:
    """Call a recipe; its input errors become one clear line and exit code 1."""
    from infimed.model.loading import ModelLoadError, resolve_model

    try:  # a model that cannot be trained (a GGUF file, a typo) is refused before OUT is made
        resolve_model(kwargs["model"], allow_download=kwargs["allow_download"], gguf_refused_for="training")
        result: dict[str, Any] = fn(**{k: v for k, v in kwargs.items() if v is not None})
    except (ValueError, RuntimeError, KeyError, ModelLoadError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    return result


def _report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"trained -> {result['model']}")
    table.add_column("item")
    table.add_column("value", justify="right")
    params = result["parameters"]
    rows = [
        ("samples", result["n_samples"]), ("steps", result["steps"]), ("train loss", f"{result['train_loss']:.4f}"),
        ("seconds", result["seconds"]), ("trainable / total params", f"{params['trainable']:,} / {params['total']:,}"),
        ("resumed from", result["resumed_from"] or "-"), ("loss log", result["loss_log"]),
    ]
    if result.get("zero_variance_share") is not None:
        rows.append(("groups with one reward (no gradient)", f"{result['zero_variance_share']:.1%}"))
    if "merged" in result:
        rows.append(("merged model", result["merged"]))
    for key, value in rows:
        table.add_row(key, str(value))
    Console().print(table)


@app.command()
def sft(
    model: str = MODEL, data: Path = DATA, more: list[Path] | None = MORE, out: Path = OUT,
    mode: str = typer.Option("direct", "--mode", help="direct (answer only) or reasoning (think/answer "
                             "with the sample's rationale)."),
    method: str = METHOD, lora_r: int = LORA_R, lora_alpha: int = LORA_ALPHA, lora_dropout: float = LORA_DROPOUT,
    lora_targets: str | None = LORA_TARGETS, freeze_vision: bool = FREEZE_VISION,
    freeze_projector: bool = FREEZE_PROJECTOR, min_pixels: int | None = MIN_PIXELS,
    max_pixels: int | None = MAX_PIXELS, epochs: float = EPOCHS, max_steps: int = MAX_STEPS,
    lr: float = typer.Option(2e-4, "--lr", min=0.0, help="Peak learning rate (LoRA ~2e-4, full ~1e-5; tiny "
                             "models from scratch ~1e-3)."),
    schedule: str | None = SCHEDULE, warmup: float | None = WARMUP,
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Samples per device and step."),
    grad_accum: int = GRAD_ACCUM, gradient_checkpointing: bool = GRAD_CKPT,
    assistant_only_loss: bool = typer.Option(True, "--assistant-only-loss/--full-loss", help="Loss on the "
                                             "assistant turn only, or on the whole conversation."),
    max_length: int | None = typer.Option(None, "--max-length", min=1, help="Truncate conversations to this "
                                          "many tokens (keeps the start)."),
    packing: bool = typer.Option(False, "--packing", help="Pack conversations into full rows (text-only data; "
                                 "TRL refuses it for images)."),
    padding_free: bool = typer.Option(False, "--padding-free", help="Flatten batches without padding (text-only "
                                      "data; TRL refuses it for images)."),
    ratios: str | None = RATIOS, mix_size: int | None = MIX_SIZE, balance: bool = BALANCE, merge: bool = MERGE,
    save_steps: int | None = SAVE_STEPS, logging_steps: int | None = LOGGING_STEPS, resume: bool = RESUME,
    seed: int = SEED, cache_vision_features: bool = CACHE_VISION, allow_download: bool = ALLOW_DOWNLOAD,
) -> None:
    """Supervised fine-tuning (TRL SFTTrainer) on sample files; LoRA by default."""
    from infimed.train.sft import train_sft

    result = _run(
        train_sft, model=model, data=_files(data, more), out_dir=out, mode=mode, method=method, lora_r=lora_r,
        lora_alpha=lora_alpha, lora_dropout=lora_dropout, lora_targets=lora_targets, freeze_vision=freeze_vision,
        freeze_projector=freeze_projector, min_pixels=min_pixels, max_pixels=max_pixels, epochs=epochs,
        max_steps=max_steps, learning_rate=lr, schedule=schedule, warmup=warmup, batch_size=batch_size,
        grad_accum=grad_accum, gradient_checkpointing=gradient_checkpointing,
        assistant_only_loss=assistant_only_loss, max_length=max_length, packing=packing,
        padding_free=padding_free, ratios=_floats(ratios, "--ratios"),
        mix_size=mix_size, balance=balance, merge=merge, save_steps=save_steps, logging_steps=logging_steps,
        resume=resume, seed=seed, cache_vision_features=cache_vision_features, allow_download=allow_download,
    )
    _report(result)


@app.command()
def align(
    model: str = MODEL, data: Path = DATA, more: list[Path] | None = MORE, out: Path = OUT,
    train_vision: bool = typer.Option(False, "--train-vision", help="Also train the vision tower."),
    train_language: bool = typer.Option(False, "--train-language", help="Also train the language model."),
    min_pixels: int | None = MIN_PIXELS, max_pixels: int | None = MAX_PIXELS, epochs: float = EPOCHS,
    max_steps: int = MAX_STEPS,
    lr: float = typer.Option(1e-3, "--lr", min=0.0, help="Peak learning rate (the projector alone takes ~1e-3)."),
    schedule: str | None = SCHEDULE, warmup: float | None = WARMUP,
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Samples per device and step."),
    grad_accum: int = GRAD_ACCUM, gradient_checkpointing: bool = GRAD_CKPT,
    max_length: int | None = typer.Option(None, "--max-length", min=1, help="Truncate conversations to this "
                                          "many tokens (keeps the start)."),
    ratios: str | None = RATIOS, mix_size: int | None = MIX_SIZE,
    save_steps: int | None = SAVE_STEPS, logging_steps: int | None = LOGGING_STEPS, resume: bool = RESUME,
    seed: int = SEED, cache_vision_features: bool = CACHE_VISION, allow_download: bool = ALLOW_DOWNLOAD,
) -> None:
    """Alignment stage: train the vision-language projector on caption / report pairs (vision tower and language
    model frozen); `train sft --model OUT` continues from the result."""
    from infimed.train.align import train_align

    result = _run(
        train_align, model=model, data=_files(data, more), out_dir=out, train_vision=train_vision,
        train_language=train_language, min_pixels=min_pixels, max_pixels=max_pixels, epochs=epochs,
        max_steps=max_steps, learning_rate=lr, schedule=schedule, warmup=warmup, batch_size=batch_size,
        grad_accum=grad_accum, gradient_checkpointing=gradient_checkpointing, max_length=max_length,
        ratios=_floats(ratios, "--ratios"), mix_size=mix_size, save_steps=save_steps, logging_steps=logging_steps,
        resume=resume, seed=seed, cache_vision_features=cache_vision_features and not train_vision,
        allow_download=allow_download,
    )
    _report(result)


@app.command()
def grpo(
    model: str = MODEL, data: Path = DATA, more: list[Path] | None = MORE, out: Path = OUT,
    reward: str = typer.Option("format,accuracy", "--reward", help="Comma-separated rewards: format, accuracy, "
                               "judge (accuracy with an LLM judge on open answers, needs --judge), length."),
    reward_weights: str | None = typer.Option(None, "--reward-weights", help="One weight per reward, e.g. 0.5,1."),
    partial: float = typer.Option(0.0, "--partial", min=0.0, max=1.0, help="Accuracy reward for a non-exact "
                                  "open answer: this weight times its token F1."),
    overlong_buffer: int | None = typer.Option(None, "--overlong-buffer", min=1, help="Length reward: the "
                                               "penalty ramps to -1 over the last N tokens (default: 1/4)."),
    judge: str | None = typer.Option(None, "--judge", help="Judge reward: model served at --judge-base-url "
                                     "(openai) or a local model folder (hf, vllm)."),
    judge_backend: str = typer.Option("openai", "--judge-backend", help="Judge reward: openai, hf or vllm."),
    judge_base_url: str | None = typer.Option(None, "--judge-base-url", help="Judge reward: server URL."),
    judge_on: str = typer.Option("open", "--judge-on", help="Judge reward: open, all or unparsed."),
    judge_template: str = typer.Option("infimed", "--judge-template", help="Judge reward: infimed, medevalkit."),
    mode: str = typer.Option("reasoning", "--mode", help="reasoning (think/answer prompts) or direct."),
    method: str = METHOD, lora_r: int = LORA_R, lora_alpha: int = LORA_ALPHA, lora_dropout: float = LORA_DROPOUT,
    lora_targets: str | None = LORA_TARGETS, freeze_vision: bool = FREEZE_VISION,
    freeze_projector: bool = FREEZE_PROJECTOR, min_pixels: int | None = MIN_PIXELS,
    max_pixels: int | None = MAX_PIXELS,
    num_generations: int = typer.Option(4, "--num-generations", min=2, help="Completions sampled per prompt."),
    beta: float = typer.Option(0.04, "--beta", min=0.0, help="KL penalty weight (0: no reference model)."),
    epsilon: float = typer.Option(0.2, "--epsilon", min=0.0, help="Clip range of the probability ratio."),
    epsilon_high: float | None = typer.Option(None, "--epsilon-high", min=0.0, help="Upper clip (DAPO "
                                              "clip-higher); default: --epsilon."),
    max_completion_length: int = typer.Option(256, "--max-completion-length", min=1, help="Longest completion "
                                              "in tokens."),
    temperature: float = typer.Option(1.0, "--temperature", min=0.0, help="Sampling temperature."),
    epochs: float = EPOCHS, max_steps: int = MAX_STEPS,
    lr: float = typer.Option(1e-5, "--lr", min=0.0, help="Peak learning rate."),
    schedule: str | None = SCHEDULE, warmup: float | None = WARMUP,
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Completions per device and step (a multiple "
                                   "of --num-generations)."),
    grad_accum: int = GRAD_ACCUM, gradient_checkpointing: bool = GRAD_CKPT,
    ratios: str | None = RATIOS, mix_size: int | None = MIX_SIZE, balance: bool = BALANCE,
    use_vllm: bool = typer.Option(False, "--use-vllm", help="Generate with vLLM on the training GPUs (needs vllm)."),
    merge: bool = MERGE, save_steps: int | None = SAVE_STEPS, logging_steps: int | None = LOGGING_STEPS,
    resume: bool = RESUME, seed: int = SEED, allow_download: bool = ALLOW_DOWNLOAD,
) -> None:
    """GRPO (TRL GRPOTrainer) with rewards over the answer checker; LoRA by default."""
    from infimed.train.grpo import train_grpo

    names = [r.strip() for r in reward.split(",") if r.strip()]
    result = _run(
        train_grpo, model=model, data=_files(data, more), out_dir=out, reward=names,
        reward_weights=_floats(reward_weights, "--reward-weights"), partial=partial,
        overlong_buffer=overlong_buffer, judge_model=judge, judge_backend=judge_backend,
        judge_base_url=judge_base_url, judge_on=judge_on, judge_template=judge_template, mode=mode, method=method, lora_r=lora_r, lora_alpha=lora_alpha,
        lora_dropout=lora_dropout, lora_targets=lora_targets, freeze_vision=freeze_vision,
        freeze_projector=freeze_projector, min_pixels=min_pixels, max_pixels=max_pixels,
        num_generations=num_generations, beta=beta, epsilon=epsilon, epsilon_high=epsilon_high,
        max_completion_length=max_completion_length, temperature=temperature, epochs=epochs, max_steps=max_steps,
        learning_rate=lr, schedule=schedule, warmup=warmup, batch_size=batch_size, grad_accum=grad_accum,
        gradient_checkpointing=gradient_checkpointing, ratios=_floats(ratios, "--ratios"), mix_size=mix_size,
        balance=balance, use_vllm=use_vllm, merge=merge, save_steps=save_steps, logging_steps=logging_steps,
        resume=resume, seed=seed, allow_download=allow_download,
    )
    _report(result)


@app.command("accelerate-config")
def accelerate_config(
    name: str = typer.Argument(..., help="One of: ddp, zero2, zero3, fsdp."),
) -> None:
    """Print the path of a shipped accelerate config (multi-GPU: DDP, DeepSpeed ZeRO-2/3, FSDP)."""
    if name not in ACCELERATE_CONFIGS:
        raise typer.BadParameter(f"unknown {name!r}; expected one of {', '.join(ACCELERATE_CONFIGS)}")
    typer.echo(str(resources.files("infimed.train").joinpath("accelerate", f"{name}.yaml")))
