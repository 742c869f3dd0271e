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
              strict: bool = True, images_within: bool | None = None) -> tuple[list[Sample], str]:
    """Samples from a JSONL file or a named benchmark, and a description of where they came from.

    ``strict=False`` turns a benchmark's count check into a warning (a --limit run of a partial copy);
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

            if not data.is_file():
                what = "is a folder, not a JSONL file" if data.is_dir() else "does not exist"
                raise typer.BadParameter(f"{data} {what}", param_hint="--data")
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
        samples = load_benchmark(benchmark, data_root, split=split, limit=limit, image_cache=cache, strict=strict,
                                 images_within_data=images_within is not False)
        used_split = split or (samples[0].split if samples else "")
        return samples, f"benchmark:{benchmark}:{data_root}:{used_split}"
    except (SampleValidationError, OSError, KeyError, ValueError) as exc:  # OSError: a folder given as --data
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise typer.BadParameter(str(message)) from exc


# generation options shared by `eval run` and `eval probe`
MODE = typer.Option("direct", "--mode", help="Prompt mode: direct (bare answer) or reasoning (<think>/<answer>).")
BATCH_SIZE = typer.Option(None, "--batch-size", help="Batch size of hf / chunk size of vllm (default: backend's own).")
MAX_NEW_TOKENS = typer.Option(256, "--max-new-tokens", help="Most tokens generated per answer.")
TEMPERATURE = typer.Option(0.0, "--temperature", help="Sampling temperature; 0 = greedy.")
TOP_P = typer.Option(1.0, "--top-p", help="Nucleus sampling mass (ignored when greedy).")
CONCURRENCY = typer.Option(32, "--concurrency", help="openai: requests in flight at once.")
BASE_URL = typer.Option(None, "--base-url", help="openai: server URL, e.g. http://localhost:8000/v1.")
API_KEY_ENV = typer.Option("OPENAI_API_KEY", "--api-key-env", help="openai: environment variable holding the API key.")
TP = typer.Option(1, "--tp", help="vllm: tensor-parallel GPUs per engine.")
DP = typer.Option(1, "--dp", help="vllm: data-parallel engine processes (each on its own --tp GPUs).")
DEVICE = typer.Option("auto", "--device", help="hf: device (auto, cpu, cuda, cuda:1 ...).")
DTYPE = typer.Option("auto", "--dtype", help="hf/vllm: weight dtype (auto, bfloat16, float16, float32).")
OPTION = typer.Option([], "--option", "-o", help="Extra backend option KEY=VALUE (repeatable), e.g. -o delay=0.1 for mock.")
OVERWRITE = typer.Option(False, "--overwrite", help="Discard predictions cached in --out under other settings.")
N_BOOT = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the 95% confidence intervals.")


def start_backend(backend: str, model: str, options: dict[str, Any], flag: str = "--backend") -> Any:
    from infimed.backends import BACKENDS

    if backend not in BACKENDS:
        raise typer.BadParameter(f"unknown backend {backend!r}; known: {', '.join(BACKENDS.names())}", param_hint=flag)
    try:
        return BACKENDS.get(backend)(model=model, **options)
    except TypeError as exc:
        raise typer.BadParameter(f"backend {backend!r} rejected its options: {exc}", param_hint=flag) from exc
    except Exception as exc:  # a model that does not load, a missing engine: say why, exit 1
        typer.echo(f"error: cannot start backend {backend!r} with model {model!r}: {exc}", err=True)
        raise typer.Exit(1) from exc


def check_generation_flags(*, mode: str, max_new_tokens: int, concurrency: int, tp: int, dp: int,
                           batch_size: int | None) -> None:
    if mode not in ("direct", "reasoning"):
        raise typer.BadParameter(f"expected direct or reasoning, got {mode!r}", param_hint="--mode")
    if max_new_tokens < 1 or concurrency < 1 or tp < 1 or dp < 1 or (batch_size is not None and batch_size < 1):
        raise typer.BadParameter("--max-new-tokens, --concurrency, --tp, --dp and --batch-size must be >= 1")


def apply_limit(samples: list[Sample], limit: int | None, seed: int) -> tuple[list[Sample], dict[str, Any] | None]:
    """The seeded stratified ``--limit`` sample and its manifest record (None without a limit)."""
    from infimed.eval.subset import stratified_limit, subset_record

    if limit is None:
        return samples, None
    if limit < 1:
        raise typer.BadParameter(f"must be >= 1, got {limit}", param_hint="--limit")
    chosen = stratified_limit(samples, limit, seed=seed)
    return chosen, subset_record(chosen, len(samples), limit, seed)


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


JUDGE = typer.Option(None, "--judge", help="LLM judge: model name served at --judge-base-url (openai) or a local model folder (hf, vllm).")
JUDGE_BACKEND = typer.Option("openai", "--judge-backend", help="Judge backend: openai, hf or vllm.")
JUDGE_BASE_URL = typer.Option(None, "--judge-base-url", help="openai judge: server URL, e.g. http://localhost:8000/v1.")
JUDGE_ON = typer.Option("open", "--judge-on", help="Samples the judge grades: open (open answers), all, or unparsed.")
JUDGE_TEMPLATE = typer.Option("infimed", "--judge-template", help="Judge prompt: infimed (default), medevalkit (MedEvalKit's question and 0/1 format) or report.")
JUDGE_CACHE = typer.Option(None, "--judge-cache", help="Verdict cache JSONL (default: OUT/judge_cache.jsonl); share it across runs to reuse verdicts.")
JUDGE_CONCURRENCY = typer.Option(32, "--judge-concurrency", help="openai judge: requests in flight at once.")
JUDGE_TIMEOUT = typer.Option(120.0, "--judge-timeout", help="openai judge: seconds per request before it is retried.")
JUDGE_ATTEMPTS = typer.Option(3, "--judge-attempts", help="Rounds per verdict before it is judge_error (with backoff).")
JUDGE_IMAGE = typer.Option(False, "--judge-image", help="Show the judge the image too (off by default).")
JUDGE_MAX_TOKENS = typer.Option(512, "--judge-max-tokens", help="Most tokens of a judge reply.")


def make_judge(model: str | None, out: Path, *, backend: str, base_url: str | None, policy: str, template: str,
               cache: Path | None, concurrency: int, timeout: float, attempts: int, image: bool,
               api_key_env: str = "OPENAI_API_KEY", max_tokens: int = 512) -> Any:
    """The judge the ``--judge*`` flags describe, or None without ``--judge``; bad flags are BadParameter."""
    from infimed.checkers import JUDGE_POLICIES

    if model is None:
        return None
    if policy not in JUDGE_POLICIES:
        raise typer.BadParameter(f"expected one of {', '.join(JUDGE_POLICIES)}, got {policy!r}", param_hint="--judge-on")
    if concurrency < 1 or attempts < 1 or timeout <= 0 or max_tokens < 1:
        raise typer.BadParameter("--judge-concurrency, --judge-attempts and --judge-max-tokens must be >= 1, "
                                 "--judge-timeout > 0")
    from infimed.judge import build_judge

    try:
        return build_judge(model, backend=backend, base_url=base_url, template=template,
                           cache_path=cache or out / "judge_cache.jsonl", concurrency=concurrency,
                           api_key_env=api_key_env, timeout=timeout, max_attempts=attempts, with_image=image,
                           max_new_tokens=max_tokens)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc.args[0] if isinstance(exc, KeyError) else exc), param_hint="--judge") from exc
    except Exception as exc:  # a judge model that does not load: say why, exit 1
        typer.echo(f"error: cannot start the {backend} judge {model!r}: {exc}", err=True)
        raise typer.Exit(1) from exc


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
    limit: int | None = typer.Option(None, "--limit", help="Evaluate a seeded sample of N, stratified over answer, modality and task (the same for every model)."),
    limit_seed: int = typer.Option(0, "--limit-seed", help="Seed of the --limit sample."),
    images_within: bool | None = typer.Option(None, "--images-within-data/--allow-outside-images", help="Refuse image paths that leave the data folder ('..', absolute); default: on for --benchmark, off for --data."),
    mode: str = MODE,
    batch_size: int | None = BATCH_SIZE,
    max_new_tokens: int = MAX_NEW_TOKENS,
    temperature: float = TEMPERATURE,
    top_p: float = TOP_P,
    seed: int = typer.Option(0, "--seed", help="Seed for sampling and bootstrap confidence intervals."),
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
    judge: str | None = JUDGE, judge_backend: str = JUDGE_BACKEND, judge_base_url: str | None = JUDGE_BASE_URL,
    judge_on: str = JUDGE_ON, judge_template: str = JUDGE_TEMPLATE, judge_cache: Path | None = JUDGE_CACHE,
    judge_concurrency: int = JUDGE_CONCURRENCY, judge_timeout: float = JUDGE_TIMEOUT,
    judge_attempts: int = JUDGE_ATTEMPTS, judge_image: bool = JUDGE_IMAGE, judge_max_tokens: int = JUDGE_MAX_TOKENS,
) -> None:
    """Generate -> extract -> score -> aggregate. Kill it at any time; rerunning the same command resumes."""
    from infimed.backends import BACKENDS, SamplingParams
    from infimed.eval.runner import RunMismatchError, run_eval

    check_generation_flags(mode=mode, max_new_tokens=max_new_tokens, concurrency=concurrency, tp=tp, dp=dp,
                           batch_size=batch_size)
    if backend not in BACKENDS:  # before any data is read
        raise typer.BadParameter(f"unknown backend {backend!r}; known: {', '.join(BACKENDS.names())}",
                                 param_hint="--backend")
    samples, source = load_data(data, benchmark, data_root, split, None, image_cache, strict=limit is None,
                                images_within=images_within)
    if not samples:
        raise typer.BadParameter(f"no samples found in {source}")
    samples, subset = apply_limit(samples, limit, limit_seed)
    options = backend_options(backend, batch_size=batch_size, concurrency=concurrency, base_url=base_url,
                              api_key_env=api_key_env, tp=tp, dp=dp, device=device, dtype=dtype)
    options.update(parse_options(option))
    engine = start_backend(backend, model, options)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)
    grader = make_judge(judge, out, backend=judge_backend, base_url=judge_base_url, policy=judge_on,
                        template=judge_template, cache=judge_cache, concurrency=judge_concurrency,
                        timeout=judge_timeout, attempts=judge_attempts, image=judge_image, api_key_env=api_key_env,
                        max_tokens=judge_max_tokens)
    try:
        results = run_eval(samples, engine, params, out, mode=mode, overwrite=overwrite,  # type: ignore[arg-type]
                           data_source=source, n_boot=n_boot, judge=grader, judge_on=judge_on,
                           manifest_extra={"subset": subset} if subset else None)
    except (RunMismatchError, ValueError, OSError) as exc:  # other settings in --out, an unwritable folder
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
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
    limit: int | None = typer.Option(None, "--limit", help="Score the same seeded stratified sample of N as `eval run --limit`."),
    limit_seed: int = typer.Option(0, "--limit-seed", help="Seed of the --limit sample."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the 95% confidence intervals."),
    judge: str | None = JUDGE, judge_backend: str = JUDGE_BACKEND, judge_base_url: str | None = JUDGE_BASE_URL,
    judge_on: str = JUDGE_ON, judge_template: str = JUDGE_TEMPLATE, judge_cache: Path | None = JUDGE_CACHE,
    judge_concurrency: int = JUDGE_CONCURRENCY, judge_timeout: float = JUDGE_TIMEOUT,
    judge_attempts: int = JUDGE_ATTEMPTS, judge_image: bool = JUDGE_IMAGE, judge_max_tokens: int = JUDGE_MAX_TOKENS,
) -> None:
    """Score responses produced elsewhere with exactly the same extraction and scoring as `eval run`;
    ``--judge`` adds an LLM judge's scores (responses are never regenerated)."""
    from infimed.eval.manifest import build_manifest
    from infimed.eval.scoring import score_run
    from infimed.io.jsonl import file_checksum

    if mode not in ("direct", "reasoning"):
        raise typer.BadParameter(f"expected direct or reasoning, got {mode!r}", param_hint="--mode")
    if not predictions.is_file():
        what = "is a folder, not a JSONL file" if predictions.is_dir() else "does not exist"
        raise typer.BadParameter(f"{predictions} {what}", param_hint="--predictions")
    samples, source = load_data(data, benchmark, data_root, split, None, image_cache, strict=limit is None)
    known = {s.id for s in samples}  # before --limit: responses to samples left out are not strays
    samples, subset = apply_limit(samples, limit, limit_seed)
    preds = read_predictions(predictions)
    if subset:
        chosen = {s.id for s in samples}
        preds = {i: p for i, p in preds.items() if i in chosen or i not in known}
    unknown = [i for i in preds if i not in known]
    manifest = build_manifest(
        samples=samples, mode=mode, params=None, data_source=source,
        backend={"backend": "external", "model": model, "predictions": str(predictions),
                 "predictions_sha256": file_checksum(predictions)},
        extra={"unmatched_prediction_ids": unknown[:20], "n_unmatched_predictions": len(unknown),
               "bootstrap": {"seed": seed, "n_boot": n_boot},
               **({"subset": subset} if subset else {})},
    )
    grader = make_judge(judge, out, backend=judge_backend, base_url=judge_base_url, policy=judge_on,
                        template=judge_template, cache=judge_cache, concurrency=judge_concurrency,
                        timeout=judge_timeout, attempts=judge_attempts, image=judge_image,
                        max_tokens=judge_max_tokens)
    try:
        results = score_run(samples, preds, out, manifest=manifest, n_boot=n_boot, seed=seed, judge=grader,
                            judge_on=judge_on)
    except (ValueError, OSError) as exc:  # duplicate sample ids, an unwritable --out
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
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
    force: bool = typer.Option(False, "--force", help="Compare runs whose data, prompts or sample ids differ "
                               "(every line of the table is then marked with a warning)."),
) -> None:
    """Side-by-side table of runs with paired differences against the first run."""
    from infimed.eval.compare import IncomparableRunsError, compare_runs, render_compare
    from infimed.io.jsonl import write_text

    if len(runs) < 2:
        raise typer.BadParameter("give at least two run folders")
    for d in runs:
        if not (d / "results.json").exists():
            raise typer.BadParameter(f"{d} has no results.json (not a finished eval run)")
    try:
        result = compare_runs(runs, force=force)
    except (IncomparableRunsError, ValueError, FileNotFoundError) as exc:  # the message names file and line
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for warning in result["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    table = render_compare(result)
    if out is not None:
        write_text(out, table)
    typer.echo(table)


@app.command()
def clinical(
    run_dir: Path = typer.Argument(..., help="A finished run folder with report answers (samples.jsonl, results.json)."),
    chexbert: Path | None = typer.Option(None, "--chexbert", help="Local CheXbert checkpoint (chexbert.pth); nothing is downloaded."),
    chexbert_bert: Path | None = typer.Option(None, "--chexbert-bert", help="Local bert-base-uncased folder (default: beside the checkpoint)."),
    device: str = typer.Option("cpu", "--device", help="Device for the labeler (cpu, cuda)."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the interval."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    radgraph: Path | None = typer.Option(None, "--radgraph", help="Local RadGraph folder (MODEL_DIR/<model type>/config.json, encoder in MODEL_DIR/hf); nothing is downloaded."),
    radgraph_model: str = typer.Option("radgraph-xl", "--radgraph-model", help="radgraph, radgraph-xl or modern-radgraph-xl."),
) -> None:
    """CheXbert label F1 and/or RadGraph F1 of a run's generated reports against their references, added to
    results.json."""
    from infimed.eval.clinical import ClinicalMetricError, chexbert_f1
    from infimed.eval.radgraph import radgraph_f1
    from infimed.io.jsonl import iter_json_lines, write_json

    if chexbert is None and radgraph is None:
        raise typer.BadParameter("name at least one metric's local weights: --chexbert and/or --radgraph")

    samples_file, results_file = run_dir / "samples.jsonl", run_dir / "results.json"
    if not samples_file.exists() or not results_file.exists():
        raise typer.BadParameter(f"{run_dir} has no samples.jsonl/results.json (not a finished eval run)")
    rows = [r for _n, r, err in iter_json_lines(samples_file) if err is None and isinstance(r, dict)
            and r.get("answer_type") == "report" and r.get("error") is None]
    if not rows:
        raise typer.BadParameter(f"{samples_file} has no scored report answers")
    hyps, refs = [str(r.get("extracted") or "") for r in rows], [str(r["answer"]) for r in rows]
    found: dict[str, dict[str, Any]] = {}
    try:
        if chexbert is not None:
            found["chexbert"] = chexbert_f1(hyps, refs, chexbert, chexbert_bert, device=device, n_boot=n_boot,
                                            seed=seed)
        if radgraph is not None:
            found["radgraph"] = radgraph_f1(hyps, refs, radgraph, model_type=radgraph_model,
                                            cuda=0 if device.startswith("cuda") else -1, n_boot=n_boot, seed=seed)
    except ClinicalMetricError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    results = json.loads(results_file.read_text(encoding="utf-8"))
    results.setdefault("report_metrics", {}).update(found)
    write_json(results_file, results)
    if "chexbert" in found:
        scores = found["chexbert"]
        lo, hi = scores.get("micro_f1_ci95") or (float("nan"), float("nan"))
        typer.echo(f"CheXbert F1 on {scores['n']} reports: micro {scores['micro_f1']:.3f} [95% CI {lo:.3f}-{hi:.3f}], "
                   f"macro {_num(scores['macro_f1'])}, micro-5 {scores['micro_f1_5']:.3f}")
    if "radgraph" in found:
        rg = found["radgraph"]
        typer.echo(f"RadGraph F1 ({rg['model_type']}) on {rg['n']} reports: simple {_num(rg['simple'])}, "
                   f"partial {_num(rg['partial'])}, complete {_num(rg['complete'])}")
    typer.echo(f"written to {results_file}")


def _print_summary(results: dict[str, Any], out: Path) -> None:
    overall = results["overall"]
    lo, hi = overall.get("ci95") or (None, None)
    ci = f" [95% CI {lo:.3f}-{hi:.3f}]" if lo is not None and hi is not None else ""
    acc, unparsed = overall.get("accuracy"), overall.get("unparsed_rate")
    acc_text = f"{acc:.3f}" if isinstance(acc, int | float) else "n/a"
    unparsed_text = f"{unparsed:.1%}" if isinstance(unparsed, int | float) else "n/a"
    n_errors = overall.get("n_errors", 0)
    typer.echo(
        f"accuracy {acc_text}{ci} on {overall['n']} samples; unparsed {unparsed_text}; "
        f"errors {n_errors} (left out of accuracy)"
    )
    reports = (results.get("report_metrics") or {}).get("overall") or {}
    if reports.get("n"):
        typer.echo(f"reports: {reports['n']}; BLEU-4 {_num(reports.get('bleu4'))}, ROUGE-L {_num(reports.get('rouge_l'))}")
    if overall.get("judge_n") is not None:
        typer.echo(
            f"judge accuracy {_num(overall.get('judge_accuracy'))} on {overall['judge_n']} samples; judged "
            f"{overall['n_judged']}, judge errors {overall['n_judge_errors']}; agreement with the rules "
            f"{_num(overall.get('judge_agreement'))}, kappa {_num(overall.get('judge_kappa'))}"
        )
    typer.echo(f"results in {out}/ (report.md, results.json, samples.jsonl, manifest.json)")
    if overall["n"] == 0 and n_errors:  # nothing was scored: a failed run, whatever was written
        first = _first_error(out / "samples.jsonl")
        typer.echo(f"error: every one of the {n_errors} samples is an error (first: {first}); "
                   "nothing was scored (is the server or model reachable?)", err=True)
        raise typer.Exit(1)


def _first_error(path: Path) -> str | None:
    from infimed.io.jsonl import iter_json_lines

    rows = iter_json_lines(path) if path.exists() else iter(())
    return next((str(row["error"]) for _, row, _ in rows if isinstance(row, dict) and row.get("error")), None)


def _num(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, int | float) else "n/a"


from infimed.cli import eval_probe  # noqa: E402, F401  (registers `eval probe` and `eval report`)
