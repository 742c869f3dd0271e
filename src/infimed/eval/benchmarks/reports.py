"""What the report-generation loaders share: the instruction, the report text from its sections, and the
sample (answer type ``report``, task ``report_generation``, modality ``xray``)."""

from __future__ import annotations

import re
from typing import Any

from infimed.eval.benchmarks.common import Row, build_sample
from infimed.schema import Sample

INSTRUCTION = "Write the radiology report for this chest X-ray: the findings, then the impression."
_SPACE = re.compile(r"\s+")


def clean(text: str | None) -> str:
    """One paragraph: whitespace runs collapsed (reports are wrapped at fixed width)."""
    return _SPACE.sub(" ", text or "").strip()


def report_text(findings: str, impression: str) -> str:
    """``Findings: ... Impression: ...`` from the sections present (either may be missing)."""
    parts = [f"Findings: {findings}" if findings else "", f"Impression: {impression}" if impression else ""]
    return "\n".join(p for p in parts if p)


def report_sample(row: Row, *, id: str, images: list[str], findings: str, impression: str, source: str,
                  split: str, meta: dict[str, Any]) -> Sample:
    if not findings and not impression:
        raise row.error("findings/impression", "the report has neither a findings nor an impression section")
    return build_sample(
        row, id=id, images=images, question=INSTRUCTION, answer=report_text(findings, impression),
        answer_type="report", modality="xray", task="report_generation", source=source, split=split,
        meta={"findings": findings, "impression": impression, **meta},
    )
