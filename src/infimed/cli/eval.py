"""`infimed eval`: run a model on a benchmark (resumable), rescore outside responses, compare runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from infimed.schema import Sample

app = typer.Typer(help="Evaluate models: run, rescore and compare.", no_args_is_help=True)


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are read as JSON when they parse (numbers, true/false, lists), else text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def load_data(data: Path | None, benchmark: str | None, data_root: Path | None, split: str | None,
              limit: int | None, image_cache: Path | None = None, *,
              images_within: bool | None = None) -> tuple[list[Sample], str]:
    """Samples from a JSONL file or a named benchmark, and a description of where they came from.

    ``images_within`` (default: on for benchmarks, off for --data) refuses image paths leaving the data folder.
    """
    from infimed.schema import SampleValidationError

    if (data is None) == (benchmark is None):
        raise typer.BadParameter("give exactly one of --data FILE.jsonl or --benchmark NAME (with --data-root)")
    if limit is not None and limit < 1:
        raise typer.BadParameter(f"must be >= 1, got {limit}", param_hint="--limit")
    try:
        if data is not None:
            from infimed.io.jsonl import read_samples

            if not data.exists():
                raise typer.BadParameter(f"{data} does not exist", param_hint="--data")
            samples: list[Sample] = []
            for s in read_samples(data, images_within=bool(images_within)):
                if limit is not None and len(samples) >= limit:
                    break
                samples.append(s)
            return samples, str(data)
        from infimed.eval.benchmarks import load_benchmark

        if data_root is None:
            raise typer.BadParameter("--benchmark needs --data-root (the benchmark's folder or file)")
        assert benchmark is not None
        cache = image_cache or default_image_cache(benchmark, data_root)
        samples = load_benchmark(benchmark, data_root, split=split, limit=limit, image_cache=cache,
                                 images_within_data=images_within is not False)
        used_split = split or (samples[0].split if samples else "")
        return samples, f"benchmark:{benchmark}:{data_root}:{used_split}"
    except (SampleValidationError, FileNotFoundError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise typer.BadParameter(str(message)) from exc


def default_image_cache(benchmark: str, data_root: Path) -> Path | None:
    """None (the loader's cache beside the data) when that folder is writable, else the user cache."""
    base = data_root if data_root.is_dir() else data_root.parent
    if os.access(base, os.W_OK):
        return None
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "infimed" / "benchmarks" / benchmark


def backend_options(backend: str, *, batch_size: int | None, concurrency: int, base_url: str | None,
                    api_key_env: str, tp: int, dp: int, device: str, dtype: str) -> dict[str, Any]:
    """The CLI flags that apply to the chosen backend, as factory keyword options."""
    if backend == "hf":
        return {"device": device, "dtype": dtype, **({"batch_size": batch_size} if batch_size else {})}
    if backend == "vllm":
        return {"tensor_parallel_size": tp, "dp": dp, "dtype": dtype,
                **({"batch_size": batch_size} if batch_size else {})}
    if backend == "openai":
        return {"concurrency": concurrency, "api_key_env": api_key_env, **({"base_url": base_url} if base_url else {})}
    return {}


@app.command()
def run(
    model: str = typer.Option(..., "--model", help="Model folder, hub id (vllm/openai) or mock policy (gold, always:A, file:PATH)."),
    out: Path = typer.Option(..., "--out", help="Output folder: predictions.jsonl, samples.jsonl, results.json, report.md, manifest.json."),
    backend: str = typer.Option("hf", "--backend", help="Generation backend: hf, vllm, openai or mock."),
    data: Path | None = typer.Option(None, "--data", help="Samples to evaluate (infimed JSONL)."),
    benchmark: str | None = typer.Option(None, "--benchmark", help="Named benchmark to load instead of --data (e.g. vqa_rad, medmnist)."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Folder (or file, e.g. a MedMNIST .npz) of the benchmark."),
    split: str | None = typer.Option(None, "--split", help="Benchmark split (default: the benchmark's test split)."),
    image_cache: Path | None = typer.Option(None, "--image-cache", help="Where a benchmark's embedded images are written (default: beside the data, or ~/.cache/infimed when read-only)."),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate only the first N samples."),
    images_within: bool | None = typer.Option(None, "--images-within-data/--allow-outside-images", help="Refuse image paths that leave the data folder ('..', absolute); default: on for --benchmark, off for --data."),
    mode: str = typer.Option("direct", "--mode", help="Prompt mode: direct (bare answer) or reasoning (<think>/<answer>)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Batch size of hf / chunk size of vllm (default: backend's own)."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Most tokens generated per answer."),
    temperature: float = typer.Option(0.0, "--temperature", help="Sampling temperature; 0 = greedy."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass (ignored when greedy)."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling and bootstrap confidence intervals."),
    concurrency: int = typer.Option(32, "--concurrency", help="openai: requests in flight at once."),
    base_url: str | None = typer.Option(None, "--base-url", help="openai: server URL, e.g. http://localhost:8000/v1."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="openai: environment variable holding the API key."),
    tp: int = typer.Option(1, "--tp", help="vllm: tensor-parallel GPUs per engine."),
    dp: int = typer.Option(1, "--dp", help="vllm: data-parallel engine processes (each on its own --tp GPUs)."),
    device: str = typer.Option("auto", "--device", help="hf: device (auto, cpu, cuda, cuda:1 ...)."),
    dtype: str = typer.Option("auto", "--dtype", help="hf/vllm: weight dtype (auto, bfloat16, float16, float32)."),
    option: list[str] = typer.Option([], "--option", "-o", help="Extra backend option KEY=VALUE (repeatable), e.g. -o delay=0.1 for mock."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Discard predictions cached in --out under other settings."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the 95% confidence intervals."),
) -> None:
    """Generate -> extract -> score -> aggregate. Kill it at any time; rerunning the same command resumes."""
    from infimed.backends import BACKENDS, SamplingParams
    from infimed.eval.runner import RunMismatchError, run_eval

    if mode not in ("direct", "reasoning"):
        raise typer.BadParameter(f"expected direct or reasoning, got {mode!r}", param_hint="--mode")
    if backend not in BACKENDS:
        raise typer.BadParameter(f"unknown backend {backend!r}; known: {', '.join(BACKENDS.names())}",
                                 param_hint="--backend")
    if max_new_tokens < 1 or concurrency < 1 or tp < 1 or dp < 1 or (batch_size is not None and batch_size < 1):
        raise typer.BadParameter("--max-new-tokens, --concurrency, --tp, --dp and --batch-size must be >= 1")
    samples, source = load_data(data, benchmark, data_root, split, limit, image_cache, images_within=images_within)
    if not samples:
        raise typer.BadParameter(f"no samples found in {source}")
    options = backend_options(backend, batch_size=batch_size, concurrency=concurrency, base_url=base_url,
                              api_key_env=api_key_env, tp=tp, dp=dp, device=device, dtype=dtype)
    options.update(parse_options(option))
    try:
        engine = BACKENDS.get(backend)(model=model, **options)
    except TypeError as exc:
        raise typer.BadParameter(f"backend {backend!r} rejected its options: {exc}") from exc
    except Exception as exc:  # a model that does not load, a missing engine: say why, exit 1
        typer.echo(f"error: cannot start backend {backend!r} with model {model!r}: {exc}", err=True)
        raise typer.Exit(1) from exc
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)
    try:
        results = run_eval(samples, engine, params, out, mode=mode, overwrite=overwrite,  # type: ignore[arg-type]
                           data_source=source, n_boot=n_boot)
    except RunMismatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    _print_summary(results, out)


@app.command()
def score(
    predictions: Path = typer.Option(..., "--predictions", help="JSONL of {\"id\", \"response\"} lines (optional \"error\")."),
    out: Path = typer.Option(..., "--out", help="Output folder for samples.jsonl, results.json, report.md, manifest.json."),
    data: Path | None = typer.Option(None, "--data", help="The samples the responses answer (infimed JSONL)."),
    benchmark: str | None = typer.Option(None, "--benchmark", help="Named benchmark instead of --data."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Folder (or file) of the benchmark."),
    split: str | None = typer.Option(None, "--split", help="Benchmark split."),
    image_cache: Path | None = typer.Option(None, "--image-cache", help="Where a benchmark's embedded images are written."),
    mode: str = typer.Option("direct", "--mode", help="Prompt mode the responses were made with (recorded only)."),
    model: str | None = typer.Option(None, "--model", help="Name of the model that answered (recorded only)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap confidence intervals."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the 95% confidence intervals."),
) -> None:
    """Score responses produced elsewhere with exactly the same extraction and scoring as `eval run`."""
    from infimed.eval.manifest import build_manifest
    from infimed.eval.scoring import score_run
    from infimed.io.jsonl import file_checksum

    if mode not in ("direct", "reasoning"):
        raise typer.BadParameter(f"expected direct or reasoning, got {mode!r}", param_hint="--mode")
    if not predictions.exists():
        raise typer.BadParameter(f"{predictions} does not exist", param_hint="--predictions")
    samples, source = load_data(data, benchmark, data_root, split, None, image_cache)
    preds = read_predictions(predictions)
    known = {s.id for s in samples}
    unknown = [i for i in preds if i not in known]
    manifest = build_manifest(
        samples=samples, mode=mode, params=None, data_source=source,
        backend={"backend": "external", "model": model, "predictions": str(predictions),
                 "predictions_sha256": file_checksum(predictions)},
        extra={"unmatched_prediction_ids": unknown[:20], "n_unmatched_predictions": len(unknown)},
    )
    results = score_run(samples, preds, out, manifest=manifest, n_boot=n_boot, seed=seed)
    if unknown:
        typer.echo(f"warning: {len(unknown)} prediction id(s) match no sample, e.g. {unknown[:3]}", err=True)
    _print_summary(results, out)


def read_predictions(path: Path) -> dict[str, dict[str, Any]]:
    """``{"id", "response", "error"?}`` rows by id; a later row for the same id replaces an earlier one."""
    from infimed.io.jsonl import iter_json_lines

    preds: dict[str, dict[str, Any]] = {}
    for lineno, row, err in iter_json_lines(path):
        if err is not None:
            raise typer.BadParameter(f"{path}:{lineno}: {err}", param_hint="--predictions")
        if not isinstance(row, dict) or not isinstance(row.get("id"), str | int):
            raise typer.BadParameter(f"{path}:{lineno}: field 'id' missing (expected {{\"id\", \"response\"}})",
                                     param_hint="--predictions")
        response, error = row.get("response"), row.get("error")
        if response is not None and not isinstance(response, str):
            raise typer.BadParameter(f"{path}:{lineno} [id={row['id']}] field 'response': expected a string",
                                     param_hint="--predictions")
        preds[str(row["id"])] = {"id": str(row["id"]), "response": response, "error": error}
    return preds


@app.command()
def compare(
    runs: list[Path] = typer.Argument(..., help="Run folders (each with samples.jsonl and results.json); the first is the baseline."),
    out: Path | None = typer.Option(None, "--out", help="Also write the markdown table to this file."),
) -> None:
    """Side-by-side table of runs with paired differences against the first run."""
    from infimed.eval.compare import compare_runs, render_compare
    from infimed.io.jsonl import write_text

    if len(runs) < 2:
        raise typer.BadParameter("give at least two run folders")
    for d in runs:
        if not (d / "results.json").exists():
            raise typer.BadParameter(f"{d} has no results.json (not a finished eval run)")
    table = render_compare(compare_runs(runs))
    if out is not None:
        write_text(out, table)
    typer.echo(table)


def _print_summary(results: dict[str, Any], out: Path) -> None:
    overall = results["overall"]
    lo, hi = overall.get("ci95") or (None, None)
    ci = f" [95% CI {lo:.3f}-{hi:.3f}]" if lo is not None and hi is not None else ""
    acc = overall.get("accuracy")
    acc_text = f"{acc:.3f}" if isinstance(acc, int | float) else "n/a"
    typer.echo(
        f"accuracy {acc_text}{ci} on {overall['n']} samples; unparsed {overall.get('unparsed_rate', 0):.1%}; "
        f"errors {overall.get('n_errors', 0)} (left out of accuracy)"
    )
    typer.echo(f"results in {out}/ (report.md, results.json, samples.jsonl, manifest.json)")
