"""The quickstart's training runs (every arm x seed): train, then read the test split, several runs at a time;
and ``alongside``, which runs one job (the alignment captions) in a worker process while this one goes on.

Each run is one ``ArmJob``; ``run_arms`` runs them ``parallel`` at a time in worker processes with
``cores // parallel`` torch threads each (the tiny model's small matrices leave a second thread half idle: on
the 2-core development machine the quickstart's 6 runs took 385 s two at a time against 492 s one after
another), or in this process with ``parallel=1``. A run that finished earlier is reused through its stage fingerprints, and a
failed run leaves every finished one in place for the rerun.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from infimed.prompts import Mode
from infimed.quickstart.stages import StageClock, log

T = TypeVar("T")


@dataclass(frozen=True)
class ArmJob:
    """One training run and its evaluation: ``name`` is e.g. "curated-seed0"."""

    name: str
    arm: str
    seed: int
    data: Path
    n_samples: int
    base: Path
    base_fp: str
    recipe: dict[str, Any]
    run_dir: Path
    eval_dir: Path
    test: Path
    test_fp: str
    n_questions: int
    mode: Mode
    eval_batch: int


@dataclass
class ArmResult:
    name: str
    results: dict[str, Any]
    rows: list[dict[str, Any]]  # the StageClock rows of its training and evaluation


def run_arm(job: ArmJob) -> ArmResult:
    """Train ``job``'s model (unless an identical run is there), then evaluate it (likewise)."""
    from infimed.io.jsonl import load_samples
    from infimed.quickstart.run import evaluate, train_arm

    clock = StageClock()
    with clock.stage(f"train {job.name}", samples=job.n_samples):
        log(f"seed {job.seed}: training on the {job.arm} set ({job.n_samples} samples)")
        model_fp = train_arm(job.base, job.data, job.run_dir, seed=job.seed, recipe=job.recipe,
                             base_fp=job.base_fp, what=f"training {job.name}")
    with clock.stage(f"eval {job.name}", questions=job.n_questions):
        log(f"seed {job.seed}: evaluating the {job.arm} model on {job.n_questions} test samples")
        results = evaluate(job.run_dir, load_samples(job.test), job.eval_dir, batch_size=job.eval_batch,
                           model_fp=model_fp, test_fp=job.test_fp, what=f"evaluation {job.name}", mode=job.mode)
    return ArmResult(job.name, results, clock.rows)


def default_parallel() -> int:
    """Two runs at a time where there are two cores or more, else one."""
    return 2 if available_cores() >= 2 else 1


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ["INFIMED_QUIET"] = "1"  # two progress bars on one terminal garble each other; the parent logs


def run_arms(jobs: list[ArmJob], parallel: int,
             on_done: Callable[[ArmResult, int], None] | None = None) -> list[ArmResult]:
    """Every job's result, in the order of ``jobs``; ``on_done(result, n_finished)`` as each one finishes."""
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, got {parallel}")
    finished: dict[str, ArmResult] = {}

    def done(result: ArmResult) -> None:
        finished[result.name] = result
        if on_done is not None:
            on_done(result, len(finished))

    if parallel == 1 or len(jobs) <= 1:
        for job in jobs:
            done(run_arm(job))
        return [finished[j.name] for j in jobs]
    import multiprocessing

    threads = max(1, available_cores() // parallel)
    log(f"{len(jobs)} training runs, {parallel} at a time ({threads} torch thread{'s' if threads > 1 else ''} each)")
    # spawn: a fork of a process that has run torch can deadlock in its thread pools
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(parallel, mp_context=context, initializer=_init_worker, initargs=(threads,)) as pool:
        names: dict[Future[ArmResult], str] = {pool.submit(run_arm, job): job.name for job in jobs}
        pending = set(names)
        while pending:
            over, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in over:
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()  # the runs under way finish (and are kept); the queued ones never start
                    raise RuntimeError(f"training run {names[future]} failed: {error} ({len(finished)} of "
                                       f"{len(jobs)} runs finished, kept for a rerun)") from error
                done(future.result())
    return [finished[j.name] for j in jobs]


@contextmanager
def alongside(fn: Callable[..., T], /, *args: Any, background: bool, **kwargs: Any) -> Iterator[Callable[[], T]]:
    """``with alongside(fn, x, background=True) as result: ...``: ``fn(x)`` runs in a worker process while
    the block runs, and ``result()`` waits for its value (re-raising its error). An error in the block stops
    the worker at once. With ``background=False``, ``fn`` runs in this process when ``result()`` is called."""
    if not background:
        yield lambda: fn(*args, **kwargs)
        return
    import multiprocessing

    threads = max(1, available_cores() // 2)
    pool = multiprocessing.get_context("spawn").Pool(1, initializer=_init_worker, initargs=(threads,))
    try:
        pending = pool.apply_async(fn, args, kwargs)
        yield pending.get
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
