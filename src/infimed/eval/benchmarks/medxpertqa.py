"""MedXpertQA MM (Zuo et al. 2025), the layout of TsinghuaC3I/MedXpertQA: ``MM/{dev,test}.jsonl``
(records ``id, question, options {A..E}, label, images, medical_task, body_system, question_type``) and
``images/`` (``images.zip``). The files' ``question`` ends with an ``Answer Choices: (A) ...`` block that
repeats ``options``; it is cut off (our prompt lists the options) and the full text kept in ``meta``.
``medical_task`` Diagnosis maps to ``disease_diagnosis``; the other tasks (Treatment, Basic Medicine) to
``other``. Counts: test 2,000, dev 5.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import (
    BenchmarkSpec,
    build_sample,
    first_existing,
    iter_jsonl,
    local_image,
    register,
)
from infimed.schema import Sample

_CHOICES = re.compile(r"\s*Answer Choices:\s*\(A\).*\Z", re.DOTALL)
TASKS = {"diagnosis": "disease_diagnosis"}


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    path = first_existing([root / "MM" / f"{split}.jsonl", root / f"{split}.jsonl"], what=f"MedXpertQA MM/{split}.jsonl")
    folder = first_existing([root / "images", path.parent / "images"], what="MedXpertQA images/ (unzip images.zip)")
    for row in iter_jsonl(path):
        options = row.get("options")
        if not isinstance(options, dict) or not options:
            raise row.error("options", "expected an object of letter -> text")
        names = row.get("images")
        if not isinstance(names, list) or not names:
            raise row.error("images", "expected a non-empty list of image file names")
        full = row.text("question")
        task = str(row.get("medical_task") or "")
        yield build_sample(
            row,
            id=row.text("id"),
            images=[local_image(folder, str(n), row=row, field_name="images") for n in names],
            question=_CHOICES.sub("", full) or full,
            options={str(k): str(v).strip() for k, v in options.items()},
            answer=row.text("label"),
            answer_type="choice",
            task=TASKS.get(task.lower(), "other" if task else None),
            source="medxpertqa_mm",
            split=split,
            language="en",
            meta={
                "question_full": full,
                "medical_task": task,
                "body_system": row.get("body_system"),
                "question_type": row.get("question_type"),
            },
        )


SPEC = register(
    BenchmarkSpec(
        name="medxpertqa_mm",
        loader=load,
        counts={"test": 2000, "dev": 5},
        default_split="test",
        layout="TsinghuaC3I/MedXpertQA: MM/{dev,test}.jsonl and images/",
    )
)
