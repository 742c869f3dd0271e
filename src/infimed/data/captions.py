"""Phantom image-caption and report pairs (``answer_type: report``), optionally with caption dirt.

Each case is one phantom scene (``scene.py``) with one text target written from the scene's ground truth:
a one-sentence caption ("Axial CT of the chest showing a large bright lesion in the upper right quadrant.")
or a short report (``Findings: ... Impression: ...``), each from a few template variants, under a
captioning or report prompt (task ``report_generation``). Every fifth case goes to the test split.

``defects=True`` injects caption dirt into train at fixed rates (``CAPTION_DEFECT_RATES``, fractions of the
clean train size) and writes ``defects.jsonl`` (``id``, ``kind``, ``of``, ``detail``) like ``defects.py``:

===================  ==================================================================================
kind                 what it is
===================  ==================================================================================
wrong_caption        a record's text replaced in place by the text of another scene with other findings
boilerplate          figure boilerplate woven in place ("Fig. 2(b), see text.", "(arrow)", "[12]")
truncated            the text cut off mid-sentence in place
multi_panel          a new record: two scenes side by side with a uniform gutter, "(a) ... (b) ..." text
phi                  patient identifiers woven into the text in place (``defects.phi_text``)
exact_duplicate      a copy of a clean record (image bytes copied to a new file name)
near_duplicate       a copy with a re-encoded / resized / cropped image (``defects.near_variant``) and
                     another prompt
contamination        an exact (half) or near (half) copy of a test record, put into train
===================  ==================================================================================

Files: ``train.jsonl``, ``test.jsonl``, ``images/``, ``cases.jsonl`` (scene ground truth), ``synth.json``
and, with defects, ``defects.jsonl``. Ids are opaque; same seed and ``n`` -> byte-identical files.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from infimed.data.defects import Defect, near_variant, phi_text
from infimed.data.ids import OpaqueIds
from infimed.data.phantom import TEST_EVERY, fresh_images_dir, png_bytes
from infimed.data.scene import MODALITY_NAMES, SIZE, Scene, random_scene, render
from infimed.io.jsonl import copy_private, write_bytes_private, write_json, write_jsonl
from infimed.progress import track
from infimed.schema import Sample

CAPTION_DEFECT_RATES: dict[str, float] = {
    "wrong_caption": 0.06, "boilerplate": 0.08, "truncated": 0.06, "multi_panel": 0.05, "phi": 0.05,
    "exact_duplicate": 0.08, "near_duplicate": 0.08, "contamination": 0.03,
}
CAPTION_PROMPTS = ("Write a caption for this image.", "Describe this image in one sentence.",
                   "Caption this medical image.")
REPORT_PROMPTS = ("Write a short radiology report for this image.",
                  "Write the findings and impression for this image.", "Report on this study.")
VIEWS = {"ct": "Axial", "mri": "Axial T2-weighted", "xray": "Frontal", "ultrasound": "Transverse"}
CAPTION_TEMPLATES = ("{view} {mod} of the {anatomy} showing {findings}.",
                     "{mod} image of the {anatomy} demonstrating {findings}.",
                     "{view} {mod} of the {anatomy}: {findings}.")
BOILERPLATE = ("Fig. {k}({panel}), see text. {text}", "{body} (arrow).", "{body} [{ref}].",
               "Figure {k}. {body} (arrowhead) [{ref}, {ref2}].")


def _findings(scene: Scene) -> str:
    if not scene.lesions:
        return "no focal lesion"
    parts = [f"a {les.size} bright lesion in the {les.quadrant} quadrant" for les in scene.lesions]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def caption(scene: Scene, rng: np.random.Generator) -> str:
    """A one-sentence caption of the scene from one of ``CAPTION_TEMPLATES``."""
    template = CAPTION_TEMPLATES[int(rng.integers(len(CAPTION_TEMPLATES)))]
    text = template.format(view=VIEWS[scene.modality], mod=MODALITY_NAMES[scene.modality], anatomy=scene.anatomy,
                           findings=_findings(scene))
    return text[0].upper() + text[1:]


def report(scene: Scene, rng: np.random.Generator) -> str:
    """A short report: ``Findings:`` (study, one sentence per lesion) and ``Impression:``."""
    mod = MODALITY_NAMES[scene.modality]
    study = f"{VIEWS[scene.modality]} {mod} of the {scene.anatomy}."
    if not scene.lesions:
        findings = str(rng.choice(["No focal lesion is seen.", "There is no focal abnormality."]))
        impression = str(rng.choice(["No focal lesion.", "Normal study."]))
    else:
        forms = ("There is a {size} bright lesion in the {quadrant} quadrant.",
                 "A {size} bright lesion is seen in the {quadrant} quadrant.")
        form = forms[int(rng.integers(len(forms)))]
        findings = " ".join(form.format(size=les.size, quadrant=les.quadrant) for les in scene.lesions)
        n = scene.count
        impression = (f"Single {scene.lesions[0].size} lesion in the {scene.lesions[0].quadrant} quadrant." if n == 1
                      else f"{n} focal lesions ({', '.join(les.quadrant for les in scene.lesions)}).")
    return f"Findings: {study} {findings} Impression: {impression}"


def text_for(scene: Scene, kind: str, rng: np.random.Generator) -> tuple[str, str]:
    """(prompt, target) of a ``caption`` or ``report`` record of the scene."""
    prompts = CAPTION_PROMPTS if kind == "caption" else REPORT_PROMPTS
    target = caption(scene, rng) if kind == "caption" else report(scene, rng)
    return prompts[int(rng.integers(len(prompts)))], target


def boilerplate_text(text: str, rng: np.random.Generator) -> str:
    """The text with figure boilerplate, pointer marks and reference brackets woven in."""
    template = BOILERPLATE[int(rng.integers(len(BOILERPLATE)))]
    return template.format(k=int(rng.integers(1, 9)), panel="abcd"[int(rng.integers(4))], text=text,
                           body=text.rstrip("."), ref=int(rng.integers(1, 40)), ref2=int(rng.integers(40, 80)))


def truncated_text(text: str, rng: np.random.Generator) -> str:
    """The text cut off inside its last sentence (mid-word or after a word, never at a full stop)."""
    words = text.rstrip(".").split()
    keep = int(rng.integers(max(3, len(words) // 2), len(words)))
    cut = " ".join(words[:keep])
    if rng.random() < 0.5 and len(words[keep]) > 3:  # mid-word
        cut += " " + words[keep][: int(rng.integers(1, len(words[keep]) - 1))]
    return cut.rstrip(".:,")


def panel_image(left: np.ndarray, right: np.ndarray, gutter: int, value: int) -> np.ndarray:
    """Two panels side by side with a straight uniform gutter between them."""
    return np.concatenate([left, np.full((SIZE, gutter), value, dtype=np.uint8), right], axis=1)


def synth_captions(out_dir: Path, n: int = 500, seed: int = 0, defects: bool = False) -> dict[str, Any]:
    """Write ``n`` clean phantom caption / report records (train + test) to ``out_dir``; return a summary."""
    if n < 1:
        raise ValueError(f"n: must be at least 1, got {n}")
    start = time.perf_counter()
    out_dir = Path(out_dir)
    fresh_images_dir(out_dir)
    scene_seq, id_seq, name_seq, defect_seq = np.random.SeedSequence(seed).spawn(4)
    rng = np.random.default_rng(scene_seq)
    ids = OpaqueIds(np.random.default_rng(id_seq))
    names = OpaqueIds(np.random.default_rng(name_seq), n_hex=12)
    train: list[Sample] = []
    test: list[Sample] = []
    scenes: dict[str, Scene] = {}
    cases = []
    for i in track(range(n), "caption cases"):
        scene = random_scene(rng)
        case_id = ids.new("case-")
        split = "test" if i % TEST_EVERY == TEST_EVERY - 1 else "train"
        rel = f"images/{names.new()}.png"
        write_bytes_private(out_dir / rel, png_bytes(render(scene)))
        kind = "caption" if rng.random() < 0.5 else "report"
        prompt, target = text_for(scene, kind, rng)
        sample = Sample(id=ids.new("cap-"), images=[rel], question=prompt, answer=target, answer_type="report",
                        modality=scene.modality, task="report_generation",  # type: ignore[arg-type]
                        source="phantom-captions", split=split, meta={"case_id": case_id, "text_kind": kind})
        (test if split == "test" else train).append(sample)
        scenes[sample.id] = scene
        cases.append({"case_id": case_id, "split": split, "image": rel, "text_kind": kind, **scene.to_json()})
    n_clean = len(train)
    found: list[Defect] = []
    if defects:
        train, found = _inject(train, test, scenes, out_dir, np.random.default_rng(defect_seq), ids, names)
        write_jsonl(out_dir / "defects.jsonl", [d.to_json() for d in found])
    write_jsonl(out_dir / "train.jsonl", train)
    write_jsonl(out_dir / "test.jsonl", test)
    write_jsonl(out_dir / "cases.jsonl", cases)
    summary: dict[str, Any] = {
        "n": n, "seed": seed, "n_cases": len(cases), "n_train_clean": n_clean, "n_train": len(train),
        "n_test": len(test), "by_modality": dict(sorted(Counter(str(s.modality) for s in [*train, *test]).items())),
        "by_text_kind": dict(sorted(Counter(str(s.meta.get("text_kind")) for s in [*train, *test]).items())),
        "defects": dict(Counter(d.kind for d in found)), "defect_rates": CAPTION_DEFECT_RATES if defects else {},
    }
    write_json(out_dir / "synth.json", summary)
    summary["seconds"] = round(time.perf_counter() - start, 3)
    return summary


def _inject(train: list[Sample], test: list[Sample], scenes: dict[str, Scene], root: Path, rng: np.random.Generator,
            ids: OpaqueIds, names: OpaqueIds) -> tuple[list[Sample], list[Defect]]:
    counts = {k: round(r * len(train)) for k, r in CAPTION_DEFECT_RATES.items()}
    need = sum(counts.values()) - counts["contamination"] + counts["multi_panel"]  # a panel figure uses two records
    if need > len(train) or counts["contamination"] > len(test) or not all(counts.values()):
        raise ValueError(f"n: too few train records ({len(train)}) to inject every caption defect kind; "
                         "use a larger --n")
    order = iter(int(i) for i in rng.permutation(len(train)))
    dirty, added, found = list(train), [], []

    def sources(kind: str) -> list[int]:
        return [next(order) for _ in range(counts[kind])]

    def add(src: Sample, kind: str, detail: str, **update: object) -> None:
        copy = src.model_copy(update={"id": ids.new("cap-"), "meta": {**src.meta, "case_id": ids.new("case-")},
                                      **update}, deep=True)
        added.append(copy)
        found.append(Defect(copy.id, kind, src.id, detail))

    def in_place(i: int, kind: str, text: str, detail: str) -> None:
        dirty[i] = train[i].model_copy(update={"answer": text}, deep=True)
        found.append(Defect(train[i].id, kind, None, detail))

    def new_image(data: bytes, ext: str) -> str:
        rel = f"images/{names.new()}{ext}"
        write_bytes_private(root / rel, data)
        return rel

    def exact(src: Sample, kind: str) -> None:
        rel = f"images/{names.new()}.png"
        copy_private(root / src.images[0], root / rel)
        add(src, kind, "exact copy", images=[rel], split="train")

    def near(src: Sample, kind: str) -> None:
        with Image.open(root / src.images[0]) as im:
            data, ext, detail = near_variant(np.asarray(im.convert("L")), rng)
        prompts = CAPTION_PROMPTS if src.meta.get("text_kind") == "caption" else REPORT_PROMPTS
        others = [p for p in prompts if p != src.question]
        add(src, kind, f"{detail}; other prompt", images=[new_image(data, ext)],
            question=others[int(rng.integers(len(others)))], split="train")

    for i in sources("exact_duplicate"):
        exact(train[i], "exact_duplicate")
    for i in sources("near_duplicate"):
        near(train[i], "near_duplicate")
    for n, j in enumerate(rng.choice(len(test), size=counts["contamination"], replace=False)):
        (exact if n % 2 == 0 else near)(test[int(j)], "contamination")
    for i in sources("multi_panel"):
        j = next(order)
        a, b = train[i], train[j]
        with Image.open(root / a.images[0]) as im_a, Image.open(root / b.images[0]) as im_b:
            left, right = np.asarray(im_a.convert("L")), np.asarray(im_b.convert("L"))
        gutter, value = int(rng.integers(4, 11)), int(rng.choice([0, 255]))
        text = f"(a) {caption(scenes[a.id], rng)} (b) {caption(scenes[b.id], rng)}"
        add(a, "multi_panel", f"panels of {a.id} and {b.id}, gutter {gutter} px of {value}",
            images=[new_image(png_bytes(panel_image(left, right, gutter, value)), ".png")], answer=text,
            meta={**a.meta, "case_id": ids.new("case-"), "text_kind": "caption"},
            question=CAPTION_PROMPTS[int(rng.integers(len(CAPTION_PROMPTS)))])
    for i in sources("wrong_caption"):
        s = train[i]
        pool = [k for k in range(len(train)) if scenes[train[k].id].to_json() != scenes[s.id].to_json()
                and train[k].meta.get("text_kind") == s.meta.get("text_kind")]
        other = train[pool[int(rng.integers(len(pool)))]]
        in_place(i, "wrong_caption", other.answer, f"text of {other.id}")
    for i in sources("boilerplate"):
        in_place(i, "boilerplate", boilerplate_text(train[i].answer, rng), "figure boilerplate added")
    for i in sources("truncated"):
        in_place(i, "truncated", truncated_text(train[i].answer, rng), "cut off mid-sentence")
    for i in sources("phi"):
        in_place(i, "phi", phi_text(train[i].answer, rng).replace("{question}", ""), "identifiers in the text")
    out = dirty + added
    return [out[int(k)] for k in rng.permutation(len(out))], found
