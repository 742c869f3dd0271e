"""``validate``: drop samples that cannot be trained on.

Schema errors never reach a step (the pipeline's reader rejects them with stage ``read``); this step checks
what the schema cannot: images exist, decode, and are within size limits (a decompression bomb is refused
before its pixels are decoded), an image is not one flat colour, choice options are usable (at least two,
non-empty, distinct, the answer's option present), and question / answer / option text is neither too long
nor degenerate (no letters at all, or one character repeated). Image decoding goes through the shared
signature cache, so the dedup steps after it decode nothing again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from infimed.curate.base import STEPS, Drop
from infimed.curate.hashing import WorkerPool, chunks, normalize_text
from infimed.io.images import DEFAULT_MAX_PIXELS
from infimed.schema import Sample

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_RUN = re.compile(r"(.)\1{9,}", re.DOTALL)  # one character ten times or more in a row


def degenerate(text: str, *, min_unique_ratio: float = 0.1, need_letters: bool = True) -> str | None:
    """Why a text is degenerate, or None: no letters, a long run of one character, or almost no variety."""
    stripped = text.strip()
    if need_letters and not _LETTER.search(stripped):
        return "has no letters"
    if _RUN.search(stripped.replace(" ", "")):
        return "repeats one character 10+ times"
    if len(stripped) >= 40 and len(set(stripped.casefold())) / len(stripped) < min_unique_ratio:
        return "almost no character variety"
    return None


class Validate:
    name = "validate"
    per_sample = True

    def __init__(
        self,
        *,
        check_images: bool = True,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        min_side: int = 8,
        min_image_std: float = 3.0,
        max_images: int = 16,
        max_question_chars: int = 4000,
        max_answer_chars: int = 2000,
        max_option_chars: int = 500,
        workers: int = 1,
        chunk_size: int = 2048,
    ):
        self.check_images = check_images
        self.max_pixels = max_pixels
        self.min_side = min_side
        self.min_image_std = min_image_std
        self.max_images = max_images
        self.max_question_chars = max_question_chars
        self.max_answer_chars = max_answer_chars
        self.max_option_chars = max_option_chars
        self.workers = workers
        self.chunk_size = chunk_size
        self._image_seconds = 0.0
        self._n_images = 0

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        with WorkerPool(self.workers) as pool:
            for chunk in chunks(samples, self.chunk_size):
                yield from self._chunk(chunk, pool)

    def _chunk(self, chunk: list[Sample], pool: WorkerPool) -> Iterator[Sample | Drop]:
        sigs = {}
        if self.check_images:
            t0 = time.perf_counter()
            paths = [str(p) for s in chunk if len(s.images) <= self.max_images for p in s.image_paths()]
            sigs = pool.signatures(paths, self.max_pixels)
            self._image_seconds += time.perf_counter() - t0
            self._n_images += len(sigs)
        for s in chunk:
            problem = self.text_problem(s) or (self.image_problem(s, sigs) if self.check_images else None)
            yield s if problem is None else Drop(s, problem[0], problem[1])

    def text_problem(self, s: Sample) -> tuple[str, str] | None:
        if len(s.images) > self.max_images:
            return "too_many_images", f"{len(s.images)} images > max_images={self.max_images}"
        if len(s.question) > self.max_question_chars:
            return "text_too_long", f"question has {len(s.question)} chars > {self.max_question_chars}"
        if len(s.answer) > self.max_answer_chars:
            return "text_too_long", f"answer has {len(s.answer)} chars > {self.max_answer_chars}"
        why = degenerate(s.question)
        if why:
            return "text_degenerate", f"question {why}"
        if s.answer_type == "open" and (why := degenerate(s.answer, need_letters=False)):  # "3" is an answer
            return "text_degenerate", f"answer {why}"
        if s.answer_type == "choice":
            return self.options_problem(s.options or {}, s.answer)
        return None

    def options_problem(self, options: dict[str, str], answer: str) -> tuple[str, str] | None:
        if len(options) < 2:
            return "answer_inconsistent", f"a choice question needs >= 2 options, has {len(options)}"
        for letter, text in options.items():
            if not text.strip():
                return "answer_inconsistent", f"option {letter} is empty"
            if len(text) > self.max_option_chars:
                return "text_too_long", f"option {letter} has {len(text)} chars > {self.max_option_chars}"
        normalised = [normalize_text(t) for t in options.values()]
        if len(set(normalised)) < len(normalised):
            return "answer_inconsistent", "two options have the same text"
        if answer not in options:
            return "answer_inconsistent", f"answer {answer!r} is not an option letter"
        return None

    def image_problem(self, s: Sample, sigs: dict[str, Any]) -> tuple[str, str] | None:
        for i, p in enumerate(s.image_paths()):
            sig = sigs[str(p)]
            if not sig.ok:
                return sig.reason, f"images[{i}]: {sig.error}"
            if min(sig.width, sig.height) < self.min_side:
                return "image_too_small", f"images[{i}]: {sig.width}x{sig.height} < min_side={self.min_side}"
            if sig.std < self.min_image_std:
                return "image_blank", f"images[{i}]: grey std {sig.std:.2f} < min_image_std={self.min_image_std}"
        return None

    def report(self) -> dict[str, Any]:
        return {"image_lookups": self._n_images, "image_seconds": round(self._image_seconds, 3)}


@STEPS.register("validate")
def validate(**options: Any) -> Validate:
    return Validate(**options)
