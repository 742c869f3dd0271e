"""RadGraph F1 of generated reports (Delbrouck et al. 2022), from a RadGraph model the user has locally.

The metric is the well-kept ``radgraph`` package's ``F1RadGraph`` (Stanford AIMI): it extracts clinical
entities and relations from each report with a DyGIE++ model and scores the overlap of the generated and
reference graphs at three levels (``simple``: entities; ``partial``: entities and whether they relate;
``complete``: entities with their relations). That package downloads its model from the hub when its folder
is empty; here the folder must already be on disk (``MODEL_DIR/<model_type>/config.json``, the extracted
archive of StanfordAIMI/RRG_scorers) with its BERT encoder in ``MODEL_DIR/hf`` (a hub cache), and the hub is
switched off while it loads, so nothing is fetched: what is missing is a one-line error naming it. Each level
gets a percentile bootstrap interval of the mean over reports.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from infimed.eval.clinical import ClinicalMetricError
from infimed.eval.metrics import LEVEL

MODEL_TYPES = ("radgraph", "radgraph-xl", "modern-radgraph-xl")
LEVELS = ("simple", "partial", "complete")
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@contextmanager
def _offline() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in OFFLINE}
    os.environ.update(OFFLINE)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def load_radgraph(model_dir: Path, *, model_type: str = "radgraph-xl", cuda: int = -1) -> Any:
    """``F1RadGraph`` (all three levels) from ``model_dir``; never downloads."""
    if model_type not in MODEL_TYPES:
        raise ClinicalMetricError(f"RadGraph model type {model_type!r}: expected one of {', '.join(MODEL_TYPES)}")
    if importlib.util.find_spec("radgraph") is None:
        raise ClinicalMetricError("RadGraph F1 needs the 'radgraph' package (pip install 'infimed[clinical]')")
    folder = Path(model_dir) / model_type
    if not (folder / "config.json").is_file():
        raise ClinicalMetricError(f"RadGraph model not found: {folder}/config.json is missing; extract the "
                                  f"{model_type} archive of StanfordAIMI/RRG_scorers there (nothing is downloaded)")
    from radgraph import F1RadGraph

    try:
        with _offline():
            return F1RadGraph(reward_level="all", model_type=model_type, model_cache_dir=str(model_dir),
                              tokenizer_cache_dir=str(Path(model_dir) / "hf"), cuda=cuda)
    except Exception as exc:  # the encoder not in MODEL_DIR/hf, a damaged archive
        raise ClinicalMetricError(f"RadGraph model in {folder} does not load offline ({exc}); its BERT encoder "
                                  f"must be in the hub cache {Path(model_dir) / 'hf'}") from exc


def level_scores(per_report: Sequence[Sequence[float]], *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Mean F1 per level with a bootstrap interval; ``per_report[level][i]`` is report i's F1 at a level."""
    out: dict[str, Any] = {"n": len(per_report[0]) if per_report else 0}
    rng = np.random.default_rng(seed)
    tail = (1 - LEVEL) / 2 * 100
    for name, values in zip(LEVELS, per_report, strict=True):
        arr = np.asarray(values, dtype=float)
        out[name] = float(arr.mean()) if arr.size else None
        if arr.size:
            boot = arr[rng.integers(0, arr.size, size=(n_boot, arr.size))].mean(axis=1)
            out[f"{name}_ci95"] = [float(x) for x in np.percentile(boot, [tail, 100 - tail])]
    return out


def radgraph_f1(hyps: Sequence[str], refs: Sequence[str], model_dir: Path, *, model_type: str = "radgraph-xl",
                cuda: int = -1, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    if len(hyps) != len(refs):
        raise ValueError(f"radgraph_f1: {len(hyps)} generated reports for {len(refs)} references")
    scorer = load_radgraph(model_dir, model_type=model_type, cuda=cuda)
    with _offline():
        _mean, reward_list, _hyp_graphs, _ref_graphs = scorer(hyps=list(hyps), refs=list(refs))
    result = level_scores([list(level) for level in reward_list], n_boot=n_boot, seed=seed)
    result.update(model_type=model_type, weights=str(Path(model_dir) / model_type))
    return result
