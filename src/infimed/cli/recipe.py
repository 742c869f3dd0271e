"""`infimed recipe three-stage`: align -> SFT -> GRPO on curated data, evaluated after each stage."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Multi-stage training recipes (data, curation, training and evaluation in one run).",
                  no_args_is_help=True)


@app.command("three-stage")
def three_stage_cmd(
    out: Path = typer.Option(..., "--out", help="Folder for data, curated sets, runs, evaluations and summary.json/md."),
    n: int = typer.Option(300, "--n", min=10, help="Phantom cases per data set (VQA and captions), a third held out for test."),
    data: Path | None = typer.Option(None, "--data", file_okay=False, help="VQA folder (train.jsonl, test.jsonl) instead of the phantom set."),
    captions: Path | None = typer.Option(None, "--captions", file_okay=False, help="Caption / report pair folder (train.jsonl, test.jsonl) instead of the phantom pairs."),
    model: str | None = typer.Option(None, "--model", help="Base checkpoint folder (default: build the tiny model)."),
    method: str = typer.Option("full", "--method", help="SFT and GRPO: full, lora or qlora (align always trains the projector fully)."),
    align_steps: int = typer.Option(40, "--align-steps", min=1, help="Optimiser steps of the alignment stage."),
    sft_steps: int = typer.Option(60, "--sft-steps", min=1, help="Optimiser steps of the SFT stage."),
    grpo_steps: int = typer.Option(8, "--grpo-steps", min=1, help="Optimiser steps of the GRPO stage."),
    sft_budget: float = typer.Option(0.5, "--sft-budget", min=0.0, help="SFT curation keeps this share of the pool (the rest is the RL prompt pool)."),
    rl_budget: int | None = typer.Option(None, "--rl-budget", min=1, help="At most this many RL prompts (default: all in the pass-rate band)."),
    k: int = typer.Option(4, "--k", min=2, help="Rollouts per prompt for the pass rate of the SFT policy."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Training batch size (GRPO: completions, rounded to --num-generations)."),
    align_lr: float = typer.Option(1e-3, "--align-lr", min=0.0, help="Learning rate of the alignment stage."),
    sft_lr: float = typer.Option(2e-3, "--sft-lr", min=0.0, help="Learning rate of the SFT stage (tiny model; ~1e-5 full / 2e-4 LoRA on a real one)."),
    grpo_lr: float = typer.Option(1e-4, "--grpo-lr", min=0.0, help="Learning rate of the GRPO stage."),
    num_generations: int = typer.Option(4, "--num-generations", min=2, help="GRPO completions per prompt."),
    workers: int = typer.Option(2, "--workers", min=1, help="Processes for curation's per-image work."),
    accelerate_config: str | None = typer.Option(None, "--accelerate-config", help="Run each training stage under `accelerate launch` with this config: ddp, zero2, zero3, fsdp or a YAML path."),
    accelerate_args: str = typer.Option("", "--accelerate-args", help="More `accelerate launch` options, e.g. '--num_processes 4'."),
    rollout_backend: str = typer.Option("hf", "--rollout-backend", help="Backend sampling the SFT policy's rollouts for the pass rate: hf, or vllm on a GPU."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data, the tiny model and every training stage."),
) -> None:
    """Curate captions, SFT data and RL prompts; train align -> SFT -> GRPO; evaluate after each stage."""
    from infimed.recipes.three_stage import STAGES, three_stage

    try:
        summary = three_stage(
            out, n=n, seed=seed, data=data, captions=captions, model=model, method=method, align_steps=align_steps,
            sft_steps=sft_steps, grpo_steps=grpo_steps, sft_budget=sft_budget, rl_budget=rl_budget, k=k,
            batch_size=batch_size, align_lr=align_lr, sft_lr=sft_lr, grpo_lr=grpo_lr, num_generations=num_generations,
            workers=workers, accelerate_config=accelerate_config, accelerate_args=accelerate_args, rollout_backend=rollout_backend,
        )
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for stage in STAGES:
        ev = summary["stages"][stage]["eval"]
        acc = "-" if ev["accuracy"] is None else f"{ev['accuracy']:.1%}"
        typer.echo(f"{stage:<6} trained on {summary['stages'][stage]['n_train']:>5} curated samples: accuracy {acc} (n={ev['n']})")
    typer.echo(f"summary: {out / 'summary.md'}")
