"""Probe runs of mock backends whose behaviour is known, on the session's phantom test split."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infimed.backends.base import SamplingParams
from infimed.backends.mock import MockBackend
from infimed.eval.probes.run import run_probes
from infimed.io.jsonl import load_samples
from infimed.schema import Sample


@pytest.fixture(scope="session")
def phantom_samples(phantom_dir: Path) -> list[Sample]:
    return load_samples(phantom_dir / "test.jsonl")


ProbeRun = Callable[..., tuple[dict[str, Any], list[dict[str, Any]]]]


@pytest.fixture
def probe_run(phantom_samples: list[Sample], tmp_path: Path) -> ProbeRun:
    """``probe_run(model_or_backend, "circular,blind")`` -> (robustness overall by probe, samples.jsonl rows)."""

    def run(backend: str | MockBackend, probes: str, *, out: Path | None = None,
            samples: list[Sample] | None = None, **kwargs: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        engine = MockBackend(backend) if isinstance(backend, str) else backend
        out = out or tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
        robustness = run_probes(samples or phantom_samples, engine, SamplingParams(), out,
                                probes=probes.split(","), n_boot=200, **kwargs)
        rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
        return robustness, rows

    return run
