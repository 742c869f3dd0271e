"""Step ``compound_figure``: drop multi-panel figures, whose one caption describes several images.

Two signs, either one drops the sample (reason ``compound_figure``, the detail says which):
- the caption (report samples' answer, else the question) names panels: two or more distinct panel letters
  "(a) ... (b) ...", "A: ... B: ...", or "left / right / upper / lower panel";
- an image is split by a gutter: a straight band of columns (or rows) at least ``min_gutter`` px wide,
  uniform along its length (std <= ``max_gutter_std``) and all one level, whose centre lies in the middle
  half of the image, with non-uniform content on both sides. Images are decoded with ``infimed.io.images``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from infimed.curate.base import STEPS, Drop
from infimed.schema import Sample

PANEL_LETTER = re.compile(r"(?:^|[\s;.,])\(([a-fA-F])\)\s")
PANEL_COLON = re.compile(r"(?:^|[\s;.])([A-F]):\s")
PANEL_WORD = re.compile(r"\b(?:left|right|upper|lower|top|bottom|middle)\s+panels?\b", re.IGNORECASE)


def caption_cue(text: str) -> str | None:
    letters = {m.lower() for m in PANEL_LETTER.findall(text)}
    if len(letters) >= 2:
        return f"panel letters ({', '.join(sorted(letters))}) in the caption"
    if len(set(PANEL_COLON.findall(text))) >= 2:
        return "panel labels 'A:' / 'B:' in the caption"
    word = PANEL_WORD.search(text)
    return f"{word.group(0)!r} in the caption" if word else None


def _bands(flat: np.ndarray) -> list[tuple[int, int]]:
    """Runs [start, end) of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def gutter(arr: np.ndarray, *, min_gutter: int = 3, max_std: float = 1.5) -> str | None:
    """Where a straight uniform band splits a grayscale image into two panels, or None."""
    for axis, name in ((0, "vertical"), (1, "horizontal")):
        img = arr if axis == 0 else arr.T  # columns of ``img`` run along the band
        std, mean = img.std(axis=0), img.mean(axis=0)
        width = img.shape[1]
        for start, end in _bands(std <= max_std):
            level = mean[start:end]
            if end - start < min_gutter or float(level.max() - level.min()) > 2 * max_std:
                continue
            centre = (start + end) / 2
            if not 0.25 * width <= centre <= 0.75 * width or end - start > 0.4 * width:
                continue
            left, right = img[:, :start], img[:, end:]
            if left.size and right.size and left.std() > 4 * max_std and right.std() > 4 * max_std:
                return f"{name} gutter of {end - start} px at level {float(level.mean()):.0f}"
    return None


class CompoundFigure:
    name = "compound_figure"
    per_sample = True

    def __init__(self, *, captions: bool = True, images: bool = True, min_gutter: int = 3,
                 max_gutter_std: float = 1.5):
        if min_gutter < 1:
            raise ValueError(f"min_gutter: must be >= 1 px, got {min_gutter}")
        self.captions, self.images = captions, images
        self.min_gutter, self.max_gutter_std = min_gutter, max_gutter_std
        self.signs: Counter[str] = Counter()

    def check(self, sample: Sample) -> Sample | Drop:
        from infimed.io.images import ImageLoadError, load_image

        signs = []
        if self.captions:
            cue = caption_cue(sample.answer if sample.answer_type == "report" else sample.question)
            if cue:
                signs.append(cue)
                self.signs["caption"] += 1
        if self.images:
            for path in sample.image_paths():
                try:
                    arr = np.asarray(load_image(path).convert("L"), dtype=np.float32)
                except (ImageLoadError, OSError):
                    continue  # unreadable images are validate's business
                found = gutter(arr, min_gutter=self.min_gutter, max_std=self.max_gutter_std)
                if found:
                    signs.append(found)
                    self.signs["image"] += 1
                    break
        return Drop(sample, "compound_figure", "; ".join(signs)) if signs else sample

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        for s in samples:
            yield self.check(s)

    def report(self) -> dict[str, Any]:
        return {"signs": dict(self.signs)}


@STEPS.register("compound_figure")
def build(**options: Any) -> CompoundFigure:
    return CompoundFigure(**options)
