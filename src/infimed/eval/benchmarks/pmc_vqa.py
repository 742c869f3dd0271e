"""PMC-VQA (Zhang et al. 2023), the layout of xmcmic/PMC-VQA (mirrored as RadGenome/PMC-VQA).

Version 1: ``train.csv``, ``test.csv`` and the manually checked ``test_clean.csv`` (2,000 questions, the
split papers report) with columns ``Figure_path, Question, Answer, Choice A..D, Answer_label`` and the
figures in ``images/`` (``images.zip``). Version 2 (non-compound figures): ``train_2.csv`` /
``test_2.csv`` with ``Figure_path, Caption, Question, Choice A..D, Answer`` (the letter) and figures in
``images_2/``. Choices carry a ``"A:"`` prefix in the files; it is stripped. Splits: ``test_clean``
(default), ``test``, ``train``, ``test_2``, ``train_2``. Only the counts we could verify are checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import (
    BenchmarkSpec,
    Row,
    build_sample,
    first_existing,
    iter_csv,
    letter_for,
    local_image,
    register,
)
from infimed.schema import Sample

LETTERS = ("A", "B", "C", "D")
_PREFIX = re.compile(r"^\s*([A-D])\s*[:.)]\s*")


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    csv_path = first_existing([root / f"{split}.csv", root / f"{split.replace('_2', '2')}.csv"], what=f"PMC-VQA {split}.csv")
    folders = ["images_2", "images2", "figures", "images"] if split.endswith("_2") else ["images", "figures"]
    images = first_existing([root / f for f in folders], what="PMC-VQA image folder (unzip images.zip)")
    required = ("Figure_path", "Question", *(f"Choice {x}" for x in LETTERS))
    for row in iter_csv(csv_path, required=required):
        options = _options(row)
        answer = _answer(row, options)
        figure = row.text("Figure_path")
        yield build_sample(
            row,
            id=f"pmc_vqa-{split}-{row.index - 1:06d}",
            images=[local_image(images, figure, row=row, field_name="Figure_path")],
            question=row.text("Question"),
            options=options,
            answer=answer,
            answer_type="choice",
            source="pmc_vqa",
            split=split,
            language="en",
            meta={"figure": figure, "row": row.index, "caption": row.get("Caption")},
        )


def _options(row: Row) -> dict[str, str]:
    options = {}
    for letter in LETTERS:
        raw = str(row.get(f"Choice {letter}") or "")
        match = _PREFIX.match(raw)
        # strip only the column's own label, so a text such as "A. fumigatus" in choice C survives
        text = raw[match.end():].strip() if match and match.group(1) == letter else raw.strip()
        if text:
            options[letter] = text
    if len(options) < 2:
        raise row.error("Choice A", "fewer than two non-empty choices")
    return options


def _answer(row: Row, options: dict[str, str]) -> str:
    label = str(row.get("Answer_label") or "").strip()
    if label:
        if label not in options:
            raise row.error("Answer_label", f"{label!r} is not one of {sorted(options)}")
        return label
    answer = row.text("Answer")
    if answer in options:
        return answer
    letter = letter_for(options, _PREFIX.sub("", answer))
    if letter is None:
        raise row.error("Answer", f"{answer!r} is neither an option letter nor an option's text")
    return letter


SPEC = register(
    BenchmarkSpec(
        name="pmc_vqa",
        loader=load,
        counts={"test_clean": 2000, "test": None, "train": 176948, "test_2": None, "train_2": None},
        default_split="test_clean",
        layout="xmcmic/PMC-VQA: test_clean.csv / test.csv / train.csv (+ images/) or test_2.csv / train_2.csv (+ images_2/)",
    )
)
