"""`infimed eval probe` (robustness probes) and `infimed eval report` (one self-contained HTML page).

Registered on the `eval` group by importing this module from ``cli/eval.py``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from infimed.cli.eval import (
    API_KEY_ENV,
    BASE_URL,
    BATCH_SIZE,
    CONCURRENCY,
    DEVICE,
    DP,
    DTYPE,
    MAX_NEW_TOKENS,
    MODE,
    N_BOOT,
    OPTION,
    OVERWRITE,
    TEMPERATURE,
    TOP_P,
    TP,
    app,
    apply_limit,
    backend_options,
    check_generation_flags,
    load_data,
    parse_options,
    start_backend,
)


def parse_severities(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        values = ()
    if not values or any(v not in (1, 2, 3) for v in values):
        raise typer.BadParameter(f"expected severities among 1,2,3 (e.g. 1,3), got {text!r}", param_hint="--severities")
    return values


@app.command()
def probe(
    model: str = typer.Option(..., "--model", help="Model folder, hub id (vllm/openai) or mock policy (gold, vision, always:A, waver:gold)."),
    out: Path = typer.Option(..., "--out", help="Output folder: robustness.json, samples.jsonl (every variant), results.json (plain), report.md."),
    probes: str = typer.Option("all", "--probes", help="Comma-separated: circular, blind, paraphrase, image, negation, confidence; or all."),
    backend: str = typer.Option("hf", "--backend", help="Generation backend: hf, vllm, openai or mock."),
    data: Path | None = typer.Option(None, "--data", help="Samples to probe (infimed JSONL)."),
    benchmark: str | None = typer.Option(None, "--benchmark", help="Named benchmark to load instead of --data."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Folder (or file) of the benchmark."),
    split: str | None = typer.Option(None, "--split", help="Benchmark split (default: its test split)."),
    image_cache: Path | None = typer.Option(None, "--image-cache", help="Where a benchmark's embedded images are written."),
    limit: int | None = typer.Option(None, "--limit", help="Probe a seeded sample of N, stratified over answer, modality and task (as eval run --limit, with --seed)."),
    severities: str = typer.Option("1,2,3", "--severities", help="image probe: corruption severities among 1,2,3."),
    teacher: str | None = typer.Option(None, "--teacher", help="paraphrase: a model that also rewords each question."),
    teacher_backend: str = typer.Option("openai", "--teacher-backend", help="Backend of --teacher (hf, vllm, openai, mock)."),
    teacher_option: list[str] = typer.Option([], "--teacher-option", help="Teacher backend option KEY=VALUE (repeatable), e.g. base_url=http://127.0.0.1:8000/v1."),
    mode: str = MODE,
    batch_size: int | None = BATCH_SIZE,
    max_new_tokens: int = MAX_NEW_TOKENS,
    temperature: float = TEMPERATURE,
    top_p: float = TOP_P,
    seed: int = typer.Option(0, "--seed", help="Seed for sampling, probe draws and bootstrap intervals."),
    concurrency: int = CONCURRENCY,
    base_url: str | None = BASE_URL,
    api_key_env: str = API_KEY_ENV,
    tp: int = TP,
    dp: int = DP,
    device: str = DEVICE,
    dtype: str = DTYPE,
    option: list[str] = OPTION,
    overwrite: bool = OVERWRITE,
    n_boot: int = N_BOOT,
) -> None:
    """Probe robustness: option order, image removed or swapped, rewording, image corruption, negation and
    "Are you sure?". Every variant is an ordinary cached request: kill it at any time and rerun to resume."""
    from infimed.backends import SamplingParams
    from infimed.eval.probes.report import blind_flags
    from infimed.eval.probes.run import parse_probes, run_probes
    from infimed.eval.probes.teacher import teacher_rewordings
    from infimed.eval.runner import RunMismatchError

    check_generation_flags(mode=mode, max_new_tokens=max_new_tokens, concurrency=concurrency, tp=tp, dp=dp,
                           batch_size=batch_size)
    try:
        names = parse_probes(probes)
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc.args[0] if exc.args else exc), param_hint="--probes") from exc
    sev = parse_severities(severities)
    if teacher is not None and "paraphrase" not in names:
        raise typer.BadParameter("--teacher rewords questions for the paraphrase probe; add it to --probes")
    samples, source = load_data(data, benchmark, data_root, split, None, image_cache, strict=limit is None)
    if not samples:
        raise typer.BadParameter(f"no samples found in {source}")
    samples, subset = apply_limit(samples, limit, seed)
    options = backend_options(backend, batch_size=batch_size, concurrency=concurrency, base_url=base_url,
                              api_key_env=api_key_env, tp=tp, dp=dp, device=device, dtype=dtype)
    options.update(parse_options(option))
    rewordings = None
    try:
        if teacher is not None and "paraphrase" in names:
            coach = start_backend(teacher_backend, teacher, parse_options(teacher_option), "--teacher-backend")
            rewordings = teacher_rewordings(samples, coach, out / "teacher", seed=seed, overwrite=overwrite)
        engine = start_backend(backend, model, options)
        params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)
        robustness = run_probes(samples, engine, params, out, probes=names, mode=mode,  # type: ignore[arg-type]
                                batch_size=batch_size, overwrite=overwrite, data_source=source, n_boot=n_boot,
                                severities=sev, rewordings=rewordings,
                                manifest_extra={"subset": subset} if subset else None)
    except RunMismatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    from infimed.eval.probes.base import PROBES

    for name, result in robustness["probes"].items():
        summary = PROBES.get(name).summary
        typer.echo(f"{name}: {summary(result['overall']) if summary else result['overall']}")
    flags = blind_flags(robustness)
    if flags:
        typer.echo("answered as well without the image: " + ", ".join(flags))
    typer.echo(f"results in {out}/ (robustness.json, samples.jsonl, results.json, report.md, manifest.json)")


@app.command()
def report(
    runs: list[Path] = typer.Argument(..., help="Run folders (eval run / score / probe); the first is the baseline of paired differences."),
    out: Path = typer.Option(Path("report.html"), "--out", help="The HTML page to write."),
    max_samples: int = typer.Option(3000, "--max-samples", help="Most rows per run in the sample browser (thumbnails make the page grow)."),
) -> None:
    """One self-contained HTML page (charts inline, no network) for one or several runs."""
    from infimed.eval.html_report import write_report

    for d in runs:
        if not (d / "results.json").exists() or not (d / "samples.jsonl").exists():
            raise typer.BadParameter(f"{d} has no results.json and samples.jsonl (not a finished eval run)")
    if max_samples < 0:
        raise typer.BadParameter(f"must be >= 0, got {max_samples}", param_hint="--max-samples")
    try:
        write_report(runs, out, max_samples=max_samples)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"report in {out}")
