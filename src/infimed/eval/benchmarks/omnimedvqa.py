"""OmniMedVQA (Hu et al. 2024), the layout of its release zip: ``QA_information/Open-access/*.json``
(one array per source dataset; records ``dataset, question_id, question_type, question, gt_answer,
option_A..D, modality_type, image_path``) and ``Images/...`` with ``image_path`` relative to the root.

Split ``test`` is the open-access part (42 datasets, 88,996 questions), the one papers report;
``restricted`` reads ``Restricted-access`` (its images must be fetched separately; count not checked).
``gt_answer`` is the option's text; it becomes the option letter. ``modality_type`` and
``question_type`` map onto our modality and task names (unknown ones become ``other``); the originals are
kept in ``meta``. One release file spells the field ``modality`` instead of ``modality_type``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import (
    BenchmarkError,
    BenchmarkSpec,
    build_sample,
    iter_json_array,
    letter_for,
    local_image,
    register,
    require_dir,
)
from infimed.schema import Sample

FOLDERS = {"test": "Open-access", "restricted": "Restricted-access"}
# checked in order on the lower-cased modality_type: "OCT (Optical ...)" before "CT(Computed ...)"
MODALITY_PREFIXES = (
    ("oct", "oct"), ("optical coherence", "oct"), ("ct", "ct"), ("computed tomography", "ct"),
    ("mr", "mri"), ("magnetic", "mri"), ("x-ray", "xray"), ("x_ray", "xray"), ("xray", "xray"),
    ("ultrasound", "ultrasound"), ("us", "ultrasound"), ("fundus", "fundus"),
    ("dermoscopy", "dermoscopy"), ("endoscopy", "endoscopy"), ("microscopy", "microscopy"),
)
TASKS = {
    "modality recognition": "modality_recognition",
    "anatomy identification": "anatomy_identification",
    "disease diagnosis": "disease_diagnosis",
    "lesion grading": "lesion_grading",
    "other biological attributes": "attribute",
}


def map_modality(raw: str) -> str:
    text = raw.strip().lower()
    for prefix, ours in MODALITY_PREFIXES:
        if text.startswith(prefix) and (len(text) == len(prefix) or not text[len(prefix)].isalpha()):
            return ours
    return "other"


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    qa_dir = require_dir(root / "QA_information" / FOLDERS[split], what="OmniMedVQA QA_information")
    files = sorted(qa_dir.glob("*.json"))
    if not files:
        raise BenchmarkError(f"{qa_dir}: no *.json files; partial download?")
    for path in files:
        for row in iter_json_array(path):
            options = {x: str(row.get(f"option_{x}")).strip() for x in "ABCD" if row.get(f"option_{x}") is not None}
            gt = row.text("gt_answer")
            letter = letter_for(options, gt)
            if letter is None:
                raise row.error("gt_answer", f"{gt!r} matches none of the options {options}")
            modality_raw = row.text("modality_type") if "modality_type" in row.data else row.text("modality")
            qtype = row.text("question_type")
            qid = row.text("question_id")
            yield build_sample(
                row,
                id=f"omnimedvqa-{path.stem}-{qid}",
                images=[local_image(root, row.text("image_path"), row=row, field_name="image_path")],
                question=row.text("question"),
                options=options,
                answer=letter,
                answer_type="choice",
                modality=map_modality(modality_raw),
                task=TASKS.get(qtype.lower(), "other"),
                source="omnimedvqa",
                split=split,
                language="en",
                meta={
                    "dataset": row.get("dataset", path.stem),
                    "question_id": qid,
                    "modality_type": modality_raw,
                    "question_type": qtype,
                },
            )


SPEC = register(
    BenchmarkSpec(
        name="omnimedvqa",
        loader=load,
        counts={"test": 88996, "restricted": None},
        default_split="test",
        layout="OmniMedVQA release: QA_information/Open-access/*.json and Images/",
        aliases={"open": "test", "open_access": "test"},
    )
)
