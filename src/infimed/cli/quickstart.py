"""`infimed quickstart`: the main job end to end on built-in defaults."""

from __future__ import annotations

from pathlib import Path

import typer

from infimed.quickstart.recipe import ALIGN_STEPS, BATCH_SIZE, HELD_OUT, LEARNING_RATE, SEEDS, STEPS


def quickstart_cmd(
    out: Path = typer.Option(Path("demo"), "--out", help="Folder for data, models, evaluations and the report."),
    budget: str = typer.Option("0.2", "--budget", help="Curated size: a fraction of the pool (0.2 or 20%) or a "
                               "count (a whole number, 500)."),
    seeds: int = typer.Option(SEEDS, "--seeds", min=1, help="Training seeds per arm (differences pooled over seeds)."),
    n: int = typer.Option(3600, "--n", min=100, help="Clean phantom samples to generate, a third of the cases "
                          "held out for the test split (defects come on top of the train pool)."),
    held_out: int = typer.Option(HELD_OUT, "--held-out", min=0, help="More phantom test questions, on cases of "
                                 "their own (the pool does not change): a tighter CI on every difference."),
    data: Path = typer.Option(None, "--data", help="Use this folder's train.jsonl/test.jsonl instead of the phantom."),
    npz: Path = typer.Option(None, "--npz", exists=True, dir_okay=False,
                             help="Use a MedMNIST .npz (defects injected into its train split)."),
    steps: int = typer.Option(STEPS, "--steps", min=0,
                              help="Optimiser steps per arm, the same for every arm (0: use --epochs instead)."),
    epochs: float = typer.Option(None, "--epochs", min=0.1,
                                 help="Train every arm for this many epochs instead of a fixed step budget."),
    lr: float = typer.Option(LEARNING_RATE, "--lr", min=0.0, help="Learning rate (every arm; the tiny model with its vision tower frozen)."),
    batch_size: int = typer.Option(BATCH_SIZE, "--batch-size", min=1, help="Training batch size."),
    align_steps: int = typer.Option(ALIGN_STEPS, "--align-steps", min=0, help="Steps of the alignment stage on "
                                    "phantom captions that every arm starts from (0: none)."),
    workers: int = typer.Option(2, "--workers", min=1, help="Processes for curation's per-image work."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data, the random subset and the first training run."),
    parallel: int = typer.Option(None, "--parallel", min=1, help="Training runs side by side, each in its own "
                                 "process (default: 2 on a machine with 2 cores or more, else 1)."),
) -> None:
    """Curate a dirty pool, train on curated vs random vs all, evaluate, and write report.html."""
    from infimed.curate.config import parse_budget
    from infimed.quickstart.run import quickstart

    try:
        size = parse_budget(budget)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--budget") from None
    if data is not None and npz is not None:
        raise typer.BadParameter("give --data or --npz, not both")
    if epochs is None and steps == 0:
        raise typer.BadParameter("--steps 0 needs --epochs")
    summary = quickstart(out, budget=size, seeds=seeds, n=n, held_out=held_out, data=data, npz=npz,
                         steps=None if epochs is not None else steps, epochs=epochs,
                         learning_rate=lr, batch_size=batch_size, align_steps=align_steps, workers=workers,
                         seed=seed, parallel=parallel)
    from infimed.quickstart.report import verdict

    for line in verdict(summary):
        typer.echo(line)
    typer.echo(f"report: {out / 'report.html'}")
