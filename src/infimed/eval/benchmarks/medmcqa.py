"""MedMCQA (Pal et al. 2022). Reads the authors' release, ``{train,dev,test}.json`` as JSON lines with
``id, question, opa..opd, cop, choice_type, exp, subject_name, topic_name``, where ``cop`` is the correct
option numbered 1..4; or the Hub copy (openlifescienceai/medmcqa parquet / save_to_disk, splits
train/validation/test) where ``cop`` is a class index 0..3. Papers report ``dev`` (4,183) because the
test answers (6,150 questions) are withheld; loading ``test`` fails with a clear error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import BenchmarkSpec, Row, build_sample, iter_jsonl, register
from infimed.eval.benchmarks.hub import iter_hf_rows
from infimed.schema import Sample

LETTERS = ("A", "B", "C", "D")
HF_SPLITS = {"dev": "validation"}


def _rows(root: Path, split: str) -> tuple[Iterator[Row], int]:
    """The rows and the number ``cop`` counts from (1 in the release JSON, 0 on the Hub)."""
    if root.is_file():
        return (iter_jsonl(root), 1) if root.suffix == ".json" else (iter_hf_rows(root, split), 0)
    for candidate in (root / f"{split}.json", root / "data" / f"{split}.json"):
        if candidate.exists():
            return iter_jsonl(candidate), 1
    return iter_hf_rows(root, split, hf_split=HF_SPLITS.get(split, split)), 0


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    rows, base = _rows(root, split)
    for row in rows:
        cop = row.get("cop")
        if cop is None or cop == -1:
            raise row.error("cop", "no answer in this row (MedMCQA's test answers are withheld; use split 'dev')")
        if isinstance(cop, bool) or not isinstance(cop, int) or not base <= cop < base + 4:
            raise row.error("cop", f"expected an option number {base}..{base + 3}, got {cop!r}")
        answer = LETTERS[cop - base]
        options = {x: row.text(f"op{x.lower()}", allow_empty=True) for x in LETTERS}
        if not options[answer]:
            raise row.error(f"op{answer.lower()}", "the correct option's text is empty")
        yield build_sample(
            row,
            id=f"medmcqa-{row.text('id')}",
            question=row.text("question"),
            options={k: v for k, v in options.items() if v},  # a few rows leave a wrong option empty
            answer=answer,
            answer_type="choice",
            source="medmcqa",
            split=split,
            language="en",
            meta={
                "subject_name": row.get("subject_name"),
                "topic_name": row.get("topic_name"),
                "choice_type": row.get("choice_type"),
                "explanation": row.get("exp"),
            },
        )


SPEC = register(
    BenchmarkSpec(
        name="medmcqa",
        loader=load,
        counts={"train": 182822, "dev": 4183, "test": 6150},
        default_split="dev",
        layout="MedMCQA: {train,dev,test}.json (JSON lines) or openlifescienceai/medmcqa parquet",
        aliases={"validation": "dev", "val": "dev"},
    )
)
