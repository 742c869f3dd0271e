"""SLAKE (Liu et al. 2021), the layout of BoKelvin/SLAKE: ``{train,validation,test}.json`` (arrays of
records with ``qid, img_name, question, answer, answer_type OPEN|CLOSED, q_lang en|zh, modality,
content_type, location``) beside ``imgs/<img_name>`` (from ``imgs.zip``).

English and Chinese questions are reported separately, so ``language`` comes from ``q_lang``. A CLOSED
question whose answer is yes/no (是/否 in Chinese) is ``yes_no`` (the original answer stays in
``meta["answer_raw"]``); other CLOSED questions ("Which is bigger, ...?") and all OPEN ones are ``open``.
``content_type`` maps onto our task names; the original is kept in ``meta``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from infimed.eval.benchmarks.common import (
    BenchmarkSpec,
    build_sample,
    first_existing,
    iter_json_array,
    local_image,
    register,
    yes_no,
)
from infimed.schema import Sample

MODALITIES = {"ct": "ct", "mri": "mri", "x-ray": "xray", "xray": "xray"}
TASKS = {
    "modality": "modality_recognition",
    "plane": "modality_recognition",  # the imaging plane is a property of the acquisition
    "organ": "anatomy_identification",
    "position": "lesion_localization",
    "abnormality": "abnormality_detection",
    "quantity": "counting",
    "color": "attribute",
    "size": "attribute",
    "shape": "attribute",
    "kg": "other",
}


def load(root: Path, split: str, cache: Path) -> Iterator[Sample]:
    path = first_existing([root / f"{split}.json", root / "Slake1.0" / f"{split}.json"], what=f"SLAKE {split}.json")
    images = path.parent / "imgs"
    for row in iter_json_array(path):
        qid = row.text("qid")
        answer = row.text("answer")
        kind = row.text("answer_type").upper()
        if kind not in ("OPEN", "CLOSED"):
            raise row.error("answer_type", f"expected OPEN or CLOSED, got {kind!r}")
        lang = row.text("q_lang")
        if lang not in ("en", "zh"):
            raise row.error("q_lang", f"expected en or zh, got {lang!r}")
        binary = yes_no(answer) if kind == "CLOSED" else None
        modality_raw = str(row.get("modality") or "")
        content = str(row.get("content_type") or "")
        yield build_sample(
            row,
            id=f"slake-{split}-{qid}",
            images=[local_image(images, row.text("img_name"), row=row, field_name="img_name")],
            question=row.text("question"),
            answer=binary or answer,
            answer_type="yes_no" if binary else "open",
            modality=MODALITIES.get(modality_raw.strip().lower(), "other" if modality_raw else None),
            task=TASKS.get(content.strip().lower(), "other" if content else None),
            source="slake",
            split=split,
            language=lang,
            meta={
                "qid": qid,
                "answer_type": kind,
                "answer_raw": answer,
                "modality": modality_raw,
                "content_type": content,
                "location": row.get("location"),
                "base_type": row.get("base_type"),
            },
        )


SPEC = register(
    BenchmarkSpec(
        name="slake",
        loader=load,
        counts={"train": 9835, "validation": 2099, "test": 2094},
        default_split="test",
        layout="BoKelvin/SLAKE: {train,validation,test}.json and imgs/ (unzipped imgs.zip)",
        aliases={"val": "validation", "dev": "validation"},
    )
)
