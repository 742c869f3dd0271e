"""PubMedQA PQA-L (Jin et al. 2019), the layout of the authors' repository: ``data/ori_pqal.json`` (an
object keyed by PMID with ``QUESTION, CONTEXTS, LABELS, MESHES, final_decision, LONG_ANSWER``) and
``data/test_ground_truth.json`` (PMID -> yes/no/maybe for the 500 test questions). ``test`` is those 500;
``train`` the other 500 (the authors' train/dev folds). A ``pqal_test_set.json`` / ``test_set.json`` in
the ``ori_pqal`` format is accepted in place of the pair.

The gold answer is three-way, so samples are ``choice`` with A yes / B no / C maybe (a yes_no record
cannot hold "maybe"). The abstract's contexts go into the question text (``Context: ...`` then
``Question: ...``), the reasoning-required setting papers report; the long answer stays in ``meta``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infimed.eval.benchmarks.common import (
    BenchmarkError,
    BenchmarkSpec,
    Row,
    build_sample,
    read_json,
    register,
)
from infimed.schema import Sample

OPTIONS = {"A": "yes", "B": "no", "C": "maybe"}
LETTER = {v: k for k, v in OPTIONS.items()}


def _records(root: Path, split: str) -> tuple[Path, dict[str, Any]]:
    folder = root / "data" if (root / "data" / "ori_pqal.json").exists() else root
    ori = folder / "ori_pqal.json"
    truth = folder / "test_ground_truth.json"
    if ori.exists() and truth.exists():
        records, gold = _object(ori), _object(truth)
        missing = [pmid for pmid in gold if pmid not in records]
        if missing:
            raise BenchmarkError(f"{truth}: {len(missing)} test PMIDs missing from {ori} (e.g. {missing[0]})")
        if split == "test":
            return ori, {pmid: {**records[pmid], "final_decision": gold[pmid]} for pmid in gold}
        return ori, {pmid: rec for pmid, rec in records.items() if pmid not in gold}
    if split == "test":
        for name in ("pqal_test_set.json", "test_set.json"):
            if (folder / name).exists():
                return folder / name, _object(folder / name)
    raise BenchmarkError(
        f"{folder}: PubMedQA needs ori_pqal.json and test_ground_truth.json (or pqal_test_set.json for test)"
    )


def _object(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise BenchmarkError(f"{path}: expected a JSON object keyed by PMID, got {type(data).__name__}")
    return data


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    path, records = _records(root, split)
    for i, (pmid, rec) in enumerate(records.items(), start=1):
        if not isinstance(rec, dict):
            raise BenchmarkError(f"{path}: PMID {pmid}: expected an object, got {type(rec).__name__}")
        row = Row(f"{path} [PMID {pmid}]", i, rec)
        decision = row.text("final_decision").lower()
        if decision not in LETTER:
            raise row.error("final_decision", f"expected yes/no/maybe, got {decision!r}")
        contexts = rec.get("CONTEXTS")
        if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            raise row.error("CONTEXTS", "expected a list of strings")
        question = row.text("QUESTION")
        yield build_sample(
            row,
            id=f"pubmedqa-{pmid}",
            question=f"Context: {' '.join(c.strip() for c in contexts)}\nQuestion: {question}",
            options=dict(OPTIONS),
            answer=LETTER[decision],
            answer_type="choice",
            source="pubmedqa",
            split=split,
            language="en",
            meta={
                "pmid": pmid,
                "question_raw": question,
                "labels": rec.get("LABELS"),
                "meshes": rec.get("MESHES"),
                "long_answer": rec.get("LONG_ANSWER"),
                "year": rec.get("YEAR"),
            },
        )


SPEC = register(
    BenchmarkSpec(
        name="pubmedqa",
        loader=load,
        counts={"test": 500, "train": 500},
        default_split="test",
        layout="PubMedQA: data/ori_pqal.json and data/test_ground_truth.json",
    )
)
