"""MedQA USMLE 4-option (Jin et al. 2021). Reads the authors' release, ``data_clean/questions/US/
4_options/phrases_no_exclude_{train,dev,test}.jsonl`` (records ``question, answer, options {A..D},
answer_idx, meta_info``), given as that file, a folder above it, or the Hub copy
(GBaker/MedQA-USMLE-4-options: ``{train,test}.jsonl`` / parquet with the same fields).
Counts: train 10,178 / dev 1,272 / test 1,273. ``answer_idx`` is the gold letter and must name the
option whose text is ``answer``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import BenchmarkSpec, Row, build_sample, iter_jsonl, letter_for, register
from infimed.eval.benchmarks.hub import iter_hf_rows
from infimed.schema import Sample

RELEASE = Path("questions") / "US" / "4_options"


def _rows(root: Path, split: str) -> Iterator[Row]:
    if root.is_file():
        return iter_jsonl(root) if root.suffix == ".jsonl" else iter_hf_rows(root, split)
    name = f"phrases_no_exclude_{split}.jsonl"
    for folder in (root, root / "4_options", root / "US" / "4_options", root / RELEASE, root / "data_clean" / RELEASE):
        for candidate in (folder / name, folder / f"{split}.jsonl"):
            if candidate.exists():
                return iter_jsonl(candidate)
    return iter_hf_rows(root, split)


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    for row in _rows(root, split):
        options = row.get("options")
        if isinstance(options, list):  # some mirrors store [{"key": "A", "value": ...}]
            options = {str(o.get("key")): o.get("value") for o in options if isinstance(o, dict)}
        if not isinstance(options, dict) or not options:
            raise row.error("options", "expected an object of letter -> text")
        options = {str(k): str(v).strip() for k, v in options.items()}
        letter = row.text("answer_idx")
        text = str(row.get("answer") or "")
        if text and letter_for(options, text) not in (letter, None):
            raise row.error("answer_idx", f"{letter!r} disagrees with answer text {text!r}")
        yield build_sample(
            row,
            id=f"medqa-{split}-{row.index - 1:05d}",
            question=row.text("question"),
            options=options,
            answer=letter,
            answer_type="choice",
            source="medqa",
            split=split,
            language="en",
            meta={"meta_info": row.get("meta_info"), "row": row.index},
        )


SPEC = register(
    BenchmarkSpec(
        name="medqa",
        loader=load,
        counts={"train": 10178, "dev": 1272, "test": 1273},
        default_split="test",
        layout="MedQA: questions/US/4_options/phrases_no_exclude_{split}.jsonl (or the file itself)",
        aliases={"validation": "dev", "val": "dev"},
    )
)
