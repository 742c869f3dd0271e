"""Recompute a phantom sample's answer from the case ground truth in cases.jsonl (shared by the data tests)."""

from __future__ import annotations

import re
from typing import Any

from infimed.data.questions import VALUES
from infimed.schema import Sample


def expected_answer(sample: Sample, case: dict[str, Any]) -> str:
    """Recompute a sample's answer from the case's ground truth (not from the generator's question object)."""
    lesions = case["lesions"]
    truth = {
        "modality_recognition": {"ct": "CT", "mri": "MRI", "xray": "X-ray", "ultrasound": "ultrasound"}[case["modality"]],
        "anatomy_identification": case["anatomy"],
        "abnormality_detection": "abnormal" if lesions else "normal",
        "counting": str(len(lesions)),
        "lesion_localization": lesions[0]["quadrant"] if len(lesions) == 1 else None,
        "lesion_grading": lesions[0]["size"] if len(lesions) == 1 else None,
    }[str(sample.task)]
    assert truth is not None, f"{sample.id}: {sample.task} asked of a {len(lesions)}-lesion case"
    if sample.answer_type == "open":
        return truth
    if sample.answer_type == "choice":
        assert sample.options is not None
        (letter,) = [k for k, v in sample.options.items() if v == truth]
        return letter
    if sample.task == "abnormality_detection":
        return "yes" if lesions else "no"
    asked = [v for v in VALUES[str(sample.task)] if re.search(rf"\b{re.escape(v)}\b", sample.question)]
    assert len(asked) == 1, (sample.question, asked)
    return "yes" if asked[0] == truth else "no"
