"""MMMU's Health & Medicine discipline (Yue et al. 2024), the layout of MMMU/MMMU on the Hub: one folder
per subject (``Basic_Medical_Science``, ``Clinical_Medicine``, ``Diagnostics_and_Laboratory_Medicine``,
``Pharmacy``, ``Public_Health``) holding ``{dev,validation,test}-*.parquet`` (or a save_to_disk folder)
with ``id, question, options`` (a Python-list string), ``answer, question_type, image_1..image_7,
img_type, subfield, topic_difficulty``.

Papers report ``validation`` (30 per subject, 150 in all); ``dev`` has 5 per subject; ``test`` answers
are withheld, so it is not offered. ``multiple-choice`` questions become ``choice`` with letters A.. in
list order; ``open`` ones stay ``open``. The ``<image N>`` placeholders are kept in the text and the
images are listed in N order, so "image 1" is the first image the model sees.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import BenchmarkSpec, Row, build_sample, register
from infimed.eval.benchmarks.hub import cache_image, iter_hf_rows
from infimed.schema import OPTION_LETTERS, Sample

SUBJECTS = (
    "Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine", "Pharmacy",
    "Public_Health",
)
IMG_TYPES = {"pathological images": "pathology", "microscopic images": "microscopy"}


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    for subject in SUBJECTS:
        for row in iter_hf_rows(root / subject, split):
            yield _sample(row, subject, split, cache)


def _sample(row: Row, subject: str, split: str, cache: Path) -> Sample:
    sid = row.text("id")
    qtype = row.text("question_type")
    answer = row.text("answer")
    images = [
        cache_image(row.get(f"image_{n}"), row=row, field_name=f"image_{n}", cache_dir=cache, key=f"{sid}_{n}")
        for n in range(1, 8)
        if row.get(f"image_{n}") is not None
    ]
    fields: dict[str, object] = {"answer_type": "open", "answer": answer, "options": None}
    if qtype == "multiple-choice":
        choices = _options(row)
        fields = {
            "answer_type": "choice",
            "answer": answer,
            "options": {OPTION_LETTERS[i]: str(c).strip() for i, c in enumerate(choices)},
        }
    elif qtype != "open":
        raise row.error("question_type", f"expected 'multiple-choice' or 'open', got {qtype!r}")
    img_types = _img_types(row)
    modalities = {IMG_TYPES.get(t.lower()) for t in img_types}
    return build_sample(
        row,
        id=f"mmmu-{sid}",
        images=images,
        question=row.text("question"),
        modality=modalities.pop() if len(modalities) == 1 else None,
        source="mmmu_med",
        split=split,
        language="en",
        meta={
            "mmmu_id": sid,
            "subject": subject,
            "subfield": row.get("subfield"),
            "img_type": img_types,
            "topic_difficulty": row.get("topic_difficulty"),
            "question_type": qtype,
        },
        **fields,
    )


def _options(row: Row) -> list[str]:
    raw = row.get("options")
    try:
        choices = ast.literal_eval(raw) if isinstance(raw, str) else raw
    except (ValueError, SyntaxError) as exc:
        raise row.error("options", f"not a Python list literal ({exc})") from exc
    if not isinstance(choices, list) or len(choices) < 2 or len(choices) > len(OPTION_LETTERS):
        raise row.error("options", f"expected a list of 2..26 choices, got {raw!r}")
    return choices


def _img_types(row: Row) -> list[str]:
    raw = row.get("img_type")
    if isinstance(raw, str):
        try:
            raw = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            raw = [raw]
    return [str(t) for t in raw] if isinstance(raw, list) else []


SPEC = register(
    BenchmarkSpec(
        name="mmmu_med",
        loader=load,
        counts={"validation": 150, "dev": 25},
        default_split="validation",
        layout="MMMU/MMMU: <Subject>/{dev,validation}-*.parquet for the 5 Health & Medicine subjects",
        aliases={"val": "validation"},
    )
)
