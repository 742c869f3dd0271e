"""Shared test fixtures."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("INFIMED_QUIET", "1")
# CLI errors must not depend on the terminal that runs the tests: Typer boxes usage errors and wraps them at
# the terminal width, which would split messages and long temp paths across lines. Typer reads
# TERMINAL_WIDTH once at import, so this is set before any test imports the CLI.
os.environ["TERMINAL_WIDTH"] = "1000"

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests that need it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def pneumoniamnist(shared_data: Path) -> Path:
    path = shared_data / "pneumoniamnist" / "pneumoniamnist.npz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2.5-VL model + processor, built once per test session (seconds, offline)."""
    from infimed.model.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"), seed=0)


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small clean phantom VQA set (train.jsonl, test.jsonl, images), built once per test session."""
    from infimed.data.phantom import synth

    out = tmp_path_factory.mktemp("phantom")
    synth(out, n=240, seed=0, defects=False)
    return out


@pytest.fixture(scope="session")
def phantom_defects_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A phantom set with injected defects and its defects.jsonl ground truth."""
    from infimed.data.phantom import synth

    out = tmp_path_factory.mktemp("phantom_defects")
    synth(out, n=300, seed=1, defects=True)
    return out


def _xray12(size: int = 96, seed: int = 0) -> Any:
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    body = 2600 + 900 * np.exp(-((xx - 0.5) ** 2) / 0.08)
    lungs = ((xx - 0.3) ** 2 / 0.02 + (yy - 0.5) ** 2 / 0.09 < 1) | ((xx - 0.7) ** 2 / 0.02 + (yy - 0.5) ** 2 / 0.09 < 1)
    ribs = 250 * (np.sin(yy * 40) > 0.6)
    nodule = 600 * ((xx - 0.25 - 0.5 * rng.random()) ** 2 + (yy - 0.3 - 0.4 * rng.random()) ** 2 < 0.004)
    img = np.where(lungs, 900 + ribs + nodule, body) + rng.normal(0, 40, (size, size))
    return np.clip(img, 0, 4095).astype(np.uint16)


@pytest.fixture
def xray12() -> Callable[..., Any]:
    """``xray12(size=96, seed=0)``: a chest-X-ray-like 12-bit picture as uint16 (values within 0-4095): what RSNA,
    VinDr-CXR and most DICOM-to-PNG converters store in 16-bit PNGs (``Image.fromarray(...)`` -> mode I;16)."""
    return _xray12
