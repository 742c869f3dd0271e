"""Generate -> extract -> score -> aggregate, with a crash-safe per-sample cache in between.

Every finished response is appended (and flushed) to ``OUT/predictions.jsonl`` the moment the backend
reports it, so ``kill -9`` loses at most the line being written. A rerun of the same command reads the
finished ids back and generates only the rest. The cache is keyed by the run fingerprint (``run.json``:
model, backend, prompt version, mode, sampling) and each row by a hash of its question, so responses made
under other settings are never mixed in: a mismatch is refused unless ``overwrite`` starts afresh.
Errored rows (a timed-out API call, a broken image) are retried on rerun; finished answers never are.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infimed.backends.base import Backend, GenRequest, GenResult, SamplingParams
from infimed.eval.manifest import build_manifest, fingerprint, request_hash
from infimed.io.jsonl import JsonlAppender, iter_json_lines, write_json
from infimed.prompts import Mode, messages
from infimed.schema import Sample

if TYPE_CHECKING:
    from infimed.judge import Judge

PREDICTIONS = "predictions.jsonl"
RUN_FILE = "run.json"
OUTPUTS = (PREDICTIONS, RUN_FILE, "samples.jsonl", "results.json", "report.md", "manifest.json")


class RunMismatchError(ValueError):
    """The output folder holds a cache made with other settings."""


def build_request(sample: Sample, mode: Mode) -> GenRequest:
    """The chat request for a sample; ``meta`` carries the gold answer for the mock backend only."""
    meta = {"mode": mode, "answer": sample.answer, "answer_type": sample.answer_type}
    return GenRequest(sample.id, messages(sample, mode), meta=meta)


def check_fingerprint(out_dir: Path, fp: dict[str, Any], *, overwrite: bool) -> None:
    """Refuse to resume into a folder made with other settings; with ``overwrite`` clear it instead."""
    run_file = out_dir / RUN_FILE
    existing = _read_run_file(run_file)
    stale = existing is None and (out_dir / PREDICTIONS).exists()
    if (existing is not None and existing.get("fingerprint") != fp) or stale:
        if not overwrite:
            old = (existing or {}).get("fingerprint") or {}
            diff = sorted(k for k in set(fp) | set(old) if fp.get(k) != old.get(k))
            what = f"differs in: {', '.join(diff)}" if existing is not None else f"no {RUN_FILE} records them"
            raise RunMismatchError(
                f"{out_dir} holds predictions made with other settings ({what}); "
                "use another output folder or pass overwrite (--overwrite) to start fresh"
            )
        for name in OUTPUTS:
            (out_dir / name).unlink(missing_ok=True)
    write_json(run_file, {"fingerprint": fp})


def _read_run_file(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_cache(path: Path, hashes: dict[str, str], *, retry_errors: bool) -> dict[str, dict[str, Any]]:
    """Finished rows of the prediction cache whose question hash still matches (last row of an id wins)."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    for _lineno, row, err in iter_json_lines(path, tolerate_torn_tail=True):
        if err is not None or not isinstance(row, dict):
            continue
        sid = str(row.get("id"))
        if hashes.get(sid) != row.get("request_hash"):
            continue
        if row.get("error") and retry_errors:
            done.pop(sid, None)
            continue
        done[sid] = row
    return done


def generation_time(path: Path) -> dict[str, Any]:
    """Generation time summed over every chunk of a resumed run: per session (one invocation, named by
    its start time), from its start to its last response written; a killed chunk counts up to its last row."""
    last: dict[float, float] = {}
    if path.exists():
        for _lineno, row, err in iter_json_lines(path, tolerate_torn_tail=True):
            if err is None and isinstance(row, dict) and isinstance(row.get("session"), int | float):
                t = row.get("t")
                if isinstance(t, int | float):
                    last[row["session"]] = max(last.get(row["session"], t), t)
    total = sum(max(0.0, t - s) for s, t in last.items())
    return {"seconds_total": round(total, 3), "n_sessions": len(last)}


@contextmanager
def progress_callback(total: int, description: str) -> Iterator[Callable[[GenResult], None]]:
    """A callback that advances a rich progress bar (count, samples/s, ETA) when progress is enabled."""
    from infimed.progress import enabled

    if not enabled() or total == 0:
        yield lambda _r: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]:.1f} samples/s"), TextColumn("errors {task.fields[errors]}"),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )
    start = time.perf_counter()
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total, rate=0.0, errors=0)
        n = errors = 0

        def advance(result: GenResult) -> None:
            nonlocal n, errors
            n += 1
            errors += result.error is not None
            rate = n / max(time.perf_counter() - start, 1e-9)
            bar.update(task, advance=1, rate=rate, errors=errors)

        yield advance


def run_eval(
    samples: Sequence[Sample],
    backend: Backend,
    params: SamplingParams,
    out_dir: Path,
    *,
    mode: Mode = "direct",
    batch_size: int | None = None,
    overwrite: bool = False,
    retry_errors: bool = True,
    data_source: str | None = None,
    manifest_extra: dict[str, Any] | None = None,
    n_boot: int = 1000,
    judge: Judge | None = None,
    judge_on: str = "open",
) -> dict[str, Any]:
    """Evaluate ``backend`` on ``samples`` into ``out_dir``; resumable. Returns ``score_run``'s results.

    ``judge`` also grades the samples ``judge_on`` selects with an LLM judge (``infimed.judge``).

    ``batch_size`` overrides the batch size of batching backends (hf, vllm); None keeps theirs.
    Writes predictions.jsonl (generate), samples.jsonl (extract), results.json + report.md (aggregate),
    manifest.json and run.json.
    """
    from infimed.eval.scoring import score_run

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"duplicate sample id {dup!r}: ids must be unique within a run")
    if batch_size is not None and hasattr(backend, "batch_size"):
        backend.batch_size = batch_size
    info = backend.describe()
    fp = fingerprint(model=str(info.get("model")), backend=backend.name, mode=mode, params=params)
    check_fingerprint(out_dir, fp, overwrite=overwrite)

    hashes = {s.id: request_hash(s, mode) for s in samples}
    cache_path = out_dir / PREDICTIONS
    done = read_cache(cache_path, hashes, retry_errors=retry_errors)
    n_cached = sum(1 for i in ids if i in done)
    todo = [build_request(s, mode) for s in samples if s.id not in done]

    start, session = time.perf_counter(), round(time.time(), 3)
    with JsonlAppender(cache_path) as cache, progress_callback(len(todo), f"generate ({backend.name})") as tick:

        def on_result(result: GenResult) -> None:
            row = {
                "id": result.id, "response": result.response, "error": result.error,
                "seconds": round(result.seconds, 4), "tokens": result.tokens, "request_hash": hashes[result.id],
                "session": session, "t": round(time.time(), 3),
            }
            cache.write(row)
            done[result.id] = row
            tick(result)

        if todo:
            backend.generate(todo, params, on_result)
    seconds = time.perf_counter() - start

    predictions = {i: {"id": i, "response": done[i].get("response"), "error": done[i].get("error")}
                   for i in ids if i in done}
    n_generated = len(todo)
    generation = {
        "n_samples": len(ids), "n_cached": n_cached, "n_generated": n_generated,
        "n_errors": sum(1 for p in predictions.values() if p["error"]),
        "seconds": round(seconds, 3), "samples_per_s": round(n_generated / seconds, 3) if seconds > 0 else None,
        **generation_time(cache_path),
    }
    manifest = build_manifest(
        samples=samples, mode=mode, params=params, backend=info, data_source=data_source, fingerprint=fp,
        extra={"generation": generation, "bootstrap": {"seed": params.seed, "n_boot": n_boot},
               **(manifest_extra or {})},
    )
    return score_run(samples, predictions, out_dir, manifest=manifest, n_boot=n_boot, seed=params.seed,
                     judge=judge, judge_on=judge_on)
