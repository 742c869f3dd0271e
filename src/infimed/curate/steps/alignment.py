"""Step ``alignment``: score how well each image-text pair agrees under a local VLM; drop poor pairs if asked.

The score (``infimed.curate.scorers.alignment``) is the target's loss without the image minus its loss with
the image, recorded as ``meta.scores.alignment``. With ``threshold`` set, a pair scoring below it is dropped
as ``low_alignment``; without one the step only scores. Samples without images pass unscored. ``model`` is a
local model folder (nothing is downloaded); in ``--config captions`` the step is skipped until one is named.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from infimed.curate.base import STEPS, Drop
from infimed.progress import track
from infimed.schema import Sample


class Alignment:
    name = "alignment"

    def __init__(self, *, model: str | None = None, threshold: float | None = None, max_tokens: int = 256,
                 device: str = "auto"):
        if not model:
            raise ValueError("alignment: needs model (a local vision-language model folder)")
        self.model, self.threshold, self.max_tokens, self.device = model, threshold, max_tokens, device
        self.values: list[float] = []
        self.failed = 0

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        from infimed.curate.scorers.alignment import AlignmentScorer
        from infimed.io.images import ImageLoadError

        scorer = AlignmentScorer(self.model, max_tokens=self.max_tokens, device=self.device)
        for s in track(samples, "alignment"):
            if not s.images:
                yield s
                continue
            try:
                value = scorer(s)
            except (ImageLoadError, OSError) as exc:
                self.failed += 1
                yield Drop(s, "image_unreadable", f"alignment: {exc}")
                continue
            self.values.append(value)
            if self.threshold is not None and value < self.threshold:
                yield Drop(s, "low_alignment", f"alignment {value:.3f} < {self.threshold}")
                continue
            scores = {**(s.meta.get("scores") or {}), "alignment": value}
            yield s.model_copy(update={"meta": {**s.meta, "scores": scores}}).with_base_dir(s.base_dir)

    def report(self) -> dict[str, Any]:
        if not self.values:
            return {"scored": 0}
        v = np.asarray(self.values)
        return {"scored": len(v), "mean": round(float(v.mean()), 4), "p10": round(float(np.quantile(v, 0.1)), 4),
                "p50": round(float(np.quantile(v, 0.5)), 4), "failed": self.failed}


@STEPS.register("alignment")
def build(**options: Any) -> Alignment:
    return Alignment(**options)
