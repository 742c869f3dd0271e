"""Step ``quality``: score every sample on named dimensions into ``meta.scores`` and filter.

Dimensions (``infimed.curate.scorers``): image_quality, text_quality, consistency, verifiability and,
when ``ifd=True``, difficulty (IFD from a small causal LM; off by default: slow on CPU). The combined
score ``meta.scores["quality"]`` is the weighted mean of the dimensions present (``weights``; default 1
each). A sample is dropped with reason ``low_<dimension>`` when it is under a per-dimension threshold
(``thresholds``), or ``low_quality`` when its combined score is under ``min_quality``. The step buffers
the pool because the image-modality classifier is fitted on the pool itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from infimed.curate.base import STEPS, Drop
from infimed.curate.embed import ImageStats, image_vector, sample_image_stats
from infimed.curate.scorers.consistency import ModalityCentroids, consistency
from infimed.curate.scorers.image import image_quality
from infimed.curate.scorers.text import text_quality
from infimed.curate.scorers.verifiability import verifiability
from infimed.progress import track
from infimed.schema import Sample

DIMENSIONS = ("image_quality", "text_quality", "consistency", "verifiability", "difficulty")
DEFAULT_THRESHOLDS = {"image_quality": 0.1}


def combined(scores: dict[str, float], weights: dict[str, float]) -> float:
    present = [(scores[d], weights.get(d, 1.0)) for d in DIMENSIONS if d in scores]
    total = sum(w for _, w in present)
    return round(sum(s * w for s, w in present) / total, 4) if total > 0 else 0.0


class QualityStep:
    name = "quality"

    def __init__(
        self,
        *,
        thresholds: dict[str, float] | None = None,
        weights: dict[str, float] | None = None,
        min_quality: float | None = None,
        ifd: bool = False,
        ifd_model: str | None = None,
        filter: bool = True,
    ):
        self.thresholds = dict(DEFAULT_THRESHOLDS if thresholds is None else thresholds)
        self.weights = dict(weights or {})
        for name in [*self.thresholds, *self.weights]:
            if name not in DIMENSIONS and name != "quality":
                raise ValueError(f"quality: unknown dimension {name!r}; known: {', '.join(DIMENSIONS)}")
        self.min_quality = min_quality
        self.ifd = ifd
        self.ifd_model = ifd_model
        self.filter = filter
        self.sums: defaultdict[str, float] = defaultdict(float)
        self.counts: defaultdict[str, int] = defaultdict(int)
        self.predicted_modality_mismatch = 0

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        pool = list(samples)
        stats: list[tuple[ImageStats | None, str | None]] = [
            sample_image_stats(s.image_paths()) for s in track(pool, "quality: image statistics")
        ]
        vectors = [image_vector(st) if st is not None and st.std >= 0.01 else None for st, _ in stats]
        fit = [(v, s.modality) for v, s in zip(vectors, pool, strict=True) if v is not None and s.modality]
        centroids = (
            ModalityCentroids(np.stack([v for v, _ in fit]), [str(m) for _, m in fit]) if fit else None
        )
        ifd_scorer = None
        if self.ifd:
            from infimed.curate.scorers.ifd import IfdScorer

            ifd_scorer = IfdScorer(self.ifd_model)
        for sample, (st, err), vec in track(list(zip(pool, stats, vectors, strict=True)), "quality: scoring"):
            scores: dict[str, float] = {
                "text_quality": text_quality(sample),
                "consistency": consistency(sample, vec, centroids),
                "verifiability": verifiability(sample),
            }
            if sample.images:
                scores["image_quality"] = image_quality(st)
            if ifd_scorer is not None:
                scores["difficulty"] = ifd_scorer(sample)
            scores["quality"] = combined(scores, self.weights)
            for k, v in scores.items():
                self.sums[k] += v
                self.counts[k] += 1
            meta = {**sample.meta, "scores": {**sample.meta.get("scores", {}), **scores}}
            if centroids is not None and vec is not None and (pred := centroids.predict(vec)) is not None:
                meta["image_modality"] = pred
                self.predicted_modality_mismatch += int(pred != sample.modality)
            scored = sample.model_copy(update={"meta": meta}).with_base_dir(sample.base_dir)
            drop = self._verdict(scored, scores, err)
            yield drop if drop is not None else scored

    def _verdict(self, sample: Sample, scores: dict[str, float], err: str | None) -> Drop | None:
        if not self.filter:
            return None
        for dim, minimum in self.thresholds.items():
            if dim in scores and scores[dim] < minimum:
                detail = f"{dim}={scores[dim]:.3f} < {minimum}" + (f" ({err})" if err else "")
                return Drop(sample, f"low_{dim}" if dim != "quality" else "low_quality", detail)
        if self.min_quality is not None and scores["quality"] < self.min_quality:
            return Drop(sample, "low_quality", f"quality={scores['quality']:.3f} < {self.min_quality}")
        return None

    def report(self) -> dict[str, Any]:
        return {
            "mean_scores": {k: round(self.sums[k] / self.counts[k], 4) for k in self.counts},
            "image_modality_disagrees": self.predicted_modality_mismatch,
            "thresholds": self.thresholds,
            "min_quality": self.min_quality,
        }


@STEPS.register("quality")
def quality(**options: Any) -> QualityStep:
    return QualityStep(**options)
