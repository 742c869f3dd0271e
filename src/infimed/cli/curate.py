"""`infimed curate INPUT.jsonl ... --out DIR`: run the curation pipeline (steps, order and options from YAML)."""

from __future__ import annotations

from pathlib import Path

import typer


def curate(
    inputs: list[Path] = typer.Argument(..., help="Sample-record JSONL files to curate (one pool)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: curated.jsonl, rejected.jsonl, stats.json, card.md, export/."),
    budget: str | None = typer.Option(None, "--budget", help="Keep a count (5000: a whole number) or a fraction of the pool (0.2 or 20%); applied by the select step."),
    against: list[Path] = typer.Option([], "--against", help="Evaluation JSONL file to decontaminate against (repeatable)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config, or a bundled one by name: default, rl-prompts (RL prompts chosen by the policy's pass rate), captions (caption / report pairs)."),
    steps: str | None = typer.Option(None, "--steps", help="Comma-separated step names to run, in order (overrides the config's list)."),
    engine: str | None = typer.Option(None, "--engine", help="local (processes) or ray (Ray Data for per-sample steps)."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes (local) or Ray CPUs."),
    images: str | None = typer.Option(None, "--images", help="Image paths in curated.jsonl: relative (to --out), absolute, or copy."),
    images_within: bool | None = typer.Option(None, "--images-within-data/--allow-outside-images", help="Reject a record whose image path leaves its JSONL's folder ('..', absolute) (default: allow; config key images_within_data)."),
    truth: Path | None = typer.Option(None, "--truth", help="defects.jsonl ground truth to score the run against (default: one beside an input)."),
    set_: list[str] = typer.Option([], "--set", help="Override any config key: KEY=VALUE (YAML value), e.g. steps.dedup_near.max_hamming=8."),
    force: bool = typer.Option(False, "--force", help="Rerun every stage instead of resuming finished ones."),
    policy: str | None = typer.Option(None, "--policy", help="rl-prompts: the policy model whose pass rate selects prompts (steps.pass_rate.model)."),
    k: int | None = typer.Option(None, "--k", min=2, help="rl-prompts: rollouts sampled per prompt (steps.pass_rate.k)."),
    sft: list[Path] = typer.Option([], "--sft", help="rl-prompts: SFT sample file the prompts must not repeat (repeatable; steps.dedup_against.files)."),
    align_model: str | None = typer.Option(None, "--align-model", help="captions: local VLM folder that scores image-text alignment (steps.alignment.model)."),
    align_threshold: float | None = typer.Option(None, "--align-threshold", help="captions: drop pairs whose alignment score is below this (steps.alignment.threshold)."),
) -> None:
    """Curate sample files into a clean training set, with a rejected list, stats, data card and exports."""
    from rich.console import Console

    from infimed.curate.config import ConfigError, load_config, parse_budget, select_steps
    from infimed.curate.pipeline import run_pipeline

    overrides = list(set_)
    flags = {"engine": engine, "workers": workers, "images": images, "budget": budget, "against": against or None,
             "truth": truth}
    origins = {key: f"--{key}" for key, value in flags.items() if value is not None}  # blamed for bad values
    for key, value in (("engine", engine), ("workers", workers), ("images", images)):
        if value is not None:
            overrides.append(f"{key}={value}")
    if images_within is not None:
        overrides.append(f"images_within_data={str(images_within).lower()}")
    if budget is not None:
        try:
            overrides.append(f"budget={parse_budget(budget)!r}")  # an int stays a count, a float a fraction
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--budget") from None
    if against:
        overrides.append("against=" + _yaml_list([str(p) for p in against]))
    if policy is not None:
        overrides.append(f"steps.pass_rate.model={_yaml_str(policy)}")
    if k is not None:
        overrides.append(f"steps.pass_rate.k={k}")
    if sft:
        overrides.append("steps.dedup_against.files=" + _yaml_list([str(p) for p in sft]))
    if align_model is not None:
        overrides.append(f"steps.alignment.model={_yaml_str(align_model)}")
    if align_threshold is not None:
        overrides.append(f"steps.alignment.threshold={align_threshold}")
    if truth is not None:
        overrides.append(f"truth={_yaml_str(str(truth))}")
    try:
        cfg = load_config(config, overrides, origins=origins)
        if steps:
            names = [n.strip() for n in steps.split(",") if n.strip()]
            cfg = cfg.model_copy(update={"steps": select_steps(cfg.steps, names)})
        result = run_pipeline(inputs, out, cfg, force=force)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    console = Console()
    for i, s in enumerate(result["stages"]):
        if s.get("resumed"):
            console.print(f"reused stage {i:02d}_{s['name']} (inputs unchanged)", highlight=False)
    for s in result["stages"]:
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(s["dropped"].items())) or "-"
        console.print(f"{s['name']:<14} in {s['in']:>8}  kept {s['kept']:>8}  {s['seconds']:>7.2f}s  {dropped}")
    console.print(f"curated {result['n_curated']} of {result['n_read']} -> {out}/curated.jsonl (card: {out}/card.md)")
    for s in result["stages"]:
        report = s.get("report") or {}
        if report.get("clamped_to_pool"):
            console.print(f"note: the budget of {report['requested']} is more than the {report['pool']} samples "
                          f"left at {s['name']}: all of them were kept", highlight=False)


def _yaml_str(text: str) -> str:
    import json

    return json.dumps(text)  # JSON strings are YAML strings


def _yaml_list(items: list[str]) -> str:
    import json

    return json.dumps(items)
