"""The shared reader of the two radiology/pathology VQA sets published on the Hub as ``image, question,
answer`` parquet (flaviagiammarino/vqa-rad and flaviagiammarino/path-vqa).

Neither set has an answer-type field: an answer that is ``yes`` or ``no`` makes a ``yes_no`` sample,
anything else an ``open`` one (the convention of the VQA-RAD and PathVQA papers and of MedEvalKit).
Rows have no ids, so ids are ``<name>-<split>-<row index>``, stable for a given file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import build_sample, yes_no
from infimed.eval.benchmarks.hub import cache_image, iter_hf_rows
from infimed.schema import Modality, Sample


def load_hf_vqa(
    name: str, root: Path, split: str, cache: Path, *, modality: Modality | None
) -> Iterator[Sample]:
    for row in iter_hf_rows(root, split):
        sid = f"{name}-{split}-{row.index - 1:05d}"
        question = row.text("question")
        answer = row.text("answer")
        binary = yes_no(answer)
        image = cache_image(row.get("image"), row=row, field_name="image", cache_dir=cache, key=sid)
        yield build_sample(
            row,
            id=sid,
            images=[image],
            question=question,
            answer=binary or answer,
            answer_type="yes_no" if binary else "open",
            modality=modality,
            source=name,
            split=split,
            language="en",
            meta={"answer_raw": answer, "row": row.index},
        )
