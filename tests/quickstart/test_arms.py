"""Training runs side by side: results come back in job order, a bad setting is refused."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from infimed.quickstart import arms
from infimed.quickstart.arms import ArmJob, ArmResult, alongside, default_parallel, run_arms


def _job(name: str) -> ArmJob:
    p = Path(name)
    return ArmJob(name=name, arm=name.split("-")[0], seed=0, data=p, n_samples=1, base=p, base_fp="", recipe={},
                  run_dir=p, eval_dir=p, test=p, test_fp="", n_questions=1, mode="direct", eval_batch=1)


def test_run_arms_in_process_keeps_job_order_and_reports_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arms, "run_arm", lambda job: ArmResult(job.name, {"n": 1}, []))
    seen: list[tuple[str, int]] = []
    results = run_arms([_job("curated-seed0"), _job("random-seed0")], 1, on_done=lambda r, k: seen.append((r.name, k)))
    assert [r.name for r in results] == ["curated-seed0", "random-seed0"]
    assert seen == [("curated-seed0", 1), ("random-seed0", 2)]


def test_run_arms_refuses_fewer_than_one_at_a_time() -> None:
    with pytest.raises(ValueError, match="parallel must be at least 1, got 0"):
        run_arms([_job("curated-seed0")], 0)


def test_default_parallel_is_two_on_two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arms, "available_cores", lambda: 2)
    assert default_parallel() == 2
    monkeypatch.setattr(arms, "available_cores", lambda: 1)
    assert default_parallel() == 1


@pytest.mark.slow
def test_a_failed_run_in_a_worker_names_the_run(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    jobs = [ArmJob(name=f"{arm}-seed0", arm=arm, seed=0, data=missing, n_samples=1, base=tmp_path, base_fp="",
                   recipe={}, run_dir=tmp_path / arm, eval_dir=tmp_path / f"eval-{arm}", test=missing, test_fp="",
                   n_questions=1, mode="direct", eval_batch=1) for arm in ("curated", "random")]
    with pytest.raises(RuntimeError, match=r"training run (curated|random)-seed0 failed: .*missing\.jsonl"):
        run_arms(jobs, 2)


def test_alongside_without_background_runs_when_asked() -> None:
    calls: list[int] = []
    with alongside(lambda x: calls.append(x) or x * 2, 21, background=False) as result:
        assert calls == []
        assert result() == 42
    assert calls == [21]


@pytest.mark.slow
def test_alongside_in_a_worker_returns_raises_and_stops() -> None:
    with alongside(math.factorial, 5, background=True) as result:
        assert result() == 120
    with pytest.raises(ValueError, match="not defined for negative values"), \
            alongside(math.factorial, -1, background=True) as result:
        result()
    started = time.perf_counter()
    with pytest.raises(KeyError), alongside(time.sleep, 60, background=True):
        raise KeyError("curation failed")  # the worker is stopped, not waited for
    assert time.perf_counter() - started < 30
