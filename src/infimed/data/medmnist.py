"""Import a MedMNIST v2 2D ``.npz`` archive as VQA samples: PNG images plus yes/no, choice and open questions.

The archive holds ``{split}_images`` (N, H, W[, 3]) uint8 and ``{split}_labels`` (N, 1) class indices, or
(N, 14) 0/1 findings for the multi-label ChestMNIST. Label names and modality come from the bundled
``DATASETS`` table (MedMNIST v2's own label names); the dataset is named by ``name`` or by the file name
(``pneumoniamnist.npz``, ``pneumoniamnist_224.npz``). Per image and format one sample is written:

- ``yes_no``: for datasets with a normal class, "does it show the abnormality?" (``abnormality_detection``);
  otherwise "does it show <class>?" asked of the true class or another one, half and half.
- ``choice``: "which class?" with every class as an option (or the true one plus four others when there are
  more than five), in an order drawn from ``seed``. ChestMNIST: one present finding (or "no finding") among
  three absent ones.
- ``open``: the class name as a short answer (single-label datasets only).

Ids are ``<name>-<split>-<index:06d>-<yn|mc|op>``; images go to ``out_dir/images/<split>/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from infimed.io.jsonl import open_private, write_json, write_jsonl
from infimed.progress import track
from infimed.schema import OPTION_LETTERS, Sample

FORMATS = ("yes_no", "choice", "open")
FORMAT_SUFFIX = {"yes_no": "yn", "choice": "mc", "open": "op"}
SPLITS = ("train", "val", "test")
NO_FINDING = "no finding"


@dataclass(frozen=True)
class MedMnistInfo:
    labels: tuple[str, ...]
    modality: str
    subject: str  # how questions name the image, e.g. "chest X-ray"
    task: str  # task of the class question
    choice_question: str
    class_question: str  # yes/no about one class; {value} is the class name
    normal: str | None = None  # the label meaning "no abnormality", if any
    abnormal_question: str | None = None  # yes/no abnormality question when ``normal`` is set
    multi_label: bool = False


_ORGANS = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left",
           "lung-right", "pancreas", "spleen")


def _organ(view: str) -> MedMnistInfo:
    return MedMnistInfo(
        _ORGANS, "ct", f"{view} abdominal CT image", "anatomy_identification",
        f"Which organ is shown in this {view} abdominal CT image?",
        f"Is the organ shown in this {view} abdominal CT image the {{value}}?",
    )


DATASETS: dict[str, MedMnistInfo] = {
    "pneumoniamnist": MedMnistInfo(
        ("normal", "pneumonia"), "xray", "chest X-ray", "disease_diagnosis",
        "What is the diagnosis for this chest X-ray?", "Does this chest X-ray show {value}?",
        normal="normal", abnormal_question="Does this chest X-ray show signs of pneumonia?",
    ),
    "chestmnist": MedMnistInfo(
        ("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia", "pneumothorax",
         "consolidation", "edema", "emphysema", "fibrosis", "pleural thickening", "hernia"),
        "xray", "chest X-ray", "disease_diagnosis",
        "Which of the following findings is present in this chest X-ray?", "Does this chest X-ray show {value}?",
        multi_label=True,
    ),
    "pathmnist": MedMnistInfo(
        ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
         "cancer-associated stroma", "colorectal adenocarcinoma epithelium"),
        "pathology", "colon pathology image", "disease_diagnosis",
        "Which tissue type is shown in this colon pathology image?",
        "Does this colon pathology image show {value}?",
    ),
    "dermamnist": MedMnistInfo(
        ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma", "benign keratosis-like lesions",
         "dermatofibroma", "melanoma", "melanocytic nevi", "vascular lesions"),
        "dermoscopy", "dermoscopic image", "disease_diagnosis",
        "What is the most likely diagnosis for this skin lesion?", "Does this dermoscopic image show {value}?",
    ),
    "octmnist": MedMnistInfo(
        ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
        "oct", "retinal OCT scan", "disease_diagnosis",
        "What is the diagnosis for this retinal OCT scan?", "Does this retinal OCT scan show {value}?",
        normal="normal", abnormal_question="Does this retinal OCT scan show any abnormality?",
    ),
    "retinamnist": MedMnistInfo(
        ("grade 0", "grade 1", "grade 2", "grade 3", "grade 4"),
        "fundus", "fundus photograph", "lesion_grading",
        "What is the diabetic retinopathy grade of this fundus photograph?",
        "Is the diabetic retinopathy in this fundus photograph {value}?",
        normal="grade 0", abnormal_question="Does this fundus photograph show signs of diabetic retinopathy?",
    ),
    "breastmnist": MedMnistInfo(
        ("malignant", "normal or benign"), "ultrasound", "breast ultrasound image", "disease_diagnosis",
        "What is the diagnosis for this breast ultrasound image?",
        "Is the finding in this breast ultrasound image {value}?",
        normal="normal or benign", abnormal_question="Does this breast ultrasound image show a malignant lesion?",
    ),
    "bloodmnist": MedMnistInfo(
        ("basophil", "eosinophil", "erythroblast", "immature granulocyte", "lymphocyte", "monocyte", "neutrophil",
         "platelet"),
        "microscopy", "blood smear image", "attribute",
        "Which type of blood cell is shown in this image?", "Is the cell in this blood smear image a {value}?",
    ),
    "tissuemnist": MedMnistInfo(
        ("collecting duct or connecting tubule", "distal convoluted tubule", "glomerular endothelial cells",
         "interstitial endothelial cells", "leukocytes", "podocytes", "proximal tubule segments",
         "thick ascending limb"),
        "microscopy", "kidney tissue image", "attribute",
        "Which kidney structure or cell type is shown in this image?", "Does this kidney tissue image show {value}?",
    ),
    "organamnist": _organ("axial"),
    "organcmnist": _organ("coronal"),
    "organsmnist": _organ("sagittal"),
}
_ALIASES = {"organmnist_axial": "organamnist", "organmnist_coronal": "organcmnist",
            "organmnist_sagittal": "organsmnist"}


def detect_name(npz: Path) -> str:
    """The MedMNIST dataset a file holds, from its name (``pathmnist_224.npz`` -> ``pathmnist``)."""
    stem = npz.name.lower().removesuffix(".npz")
    stem = _ALIASES.get(stem, stem)
    stem = re.sub(r"_(28|64|128|224)$", "", stem)
    if stem not in DATASETS:
        known = ", ".join(sorted(DATASETS))
        raise ValueError(f"name: cannot tell the MedMNIST dataset from {npz.name!r}; pass one of: {known}")
    return stem


def import_medmnist(
    npz: Path, out_dir: Path, *, name: str | None = None, formats: tuple[str, ...] | list[str] = ("yes_no", "choice"),
    limit: int | None = None, seed: int = 0, splits: tuple[str, ...] = SPLITS,
) -> dict[str, Any]:
    """Convert ``npz`` into ``out_dir/{train,val,test}.jsonl`` plus PNGs; return per-split counts."""
    npz, out_dir = Path(npz), Path(out_dir)
    if not npz.is_file():
        raise FileNotFoundError(f"{npz}: MedMNIST archive not found")
    name = _ALIASES.get(name, name) if name else detect_name(npz)
    if name not in DATASETS:
        raise ValueError(f"name: unknown MedMNIST dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"formats: unknown {bad or 'empty list'}; choose from {', '.join(FORMATS)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit: must be at least 1, got {limit}")
    info = DATASETS[name]
    rng = np.random.default_rng(seed)
    summary: dict[str, Any] = {"name": name, "modality": info.modality, "formats": list(formats), "splits": {}}
    with np.load(npz) as archive:
        present = [s for s in splits if f"{s}_images" in archive.files]
        if not present:
            raise ValueError(f"{npz}: no '<split>_images' arrays for splits {splits}; found {archive.files}")
        for split in present:
            images, labels = _split_arrays(archive, npz, split, info)
            n = len(images) if limit is None else min(limit, len(images))
            samples = []
            for i in track(range(n), f"{name} {split}", total=n):
                rel = f"images/{split}/{name}-{split}-{i:06d}.png"
                _save_png(images[i], out_dir / rel)
                samples.extend(_questions(info, name, split, i, rel, labels[i], formats, rng))
            write_jsonl(out_dir / f"{split}.jsonl", samples)
            summary["splits"][split] = {"images": n, "samples": len(samples)}
    write_json(out_dir / "medmnist.json", summary)
    return summary


def _split_arrays(archive: Any, npz: Path, split: str, info: MedMnistInfo) -> tuple[np.ndarray, np.ndarray]:
    images = archive[f"{split}_images"]
    if f"{split}_labels" not in archive.files:
        raise ValueError(f"{npz}: '{split}_images' has no matching '{split}_labels' array")
    labels = np.asarray(archive[f"{split}_labels"])
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(f"{npz}: '{split}_images' must be uint8 (N, H, W[, 3]), got {images.dtype} {images.shape}")
    if len(labels) != len(images):
        raise ValueError(f"{npz}: {len(images)} '{split}_images' but {len(labels)} '{split}_labels'")
    labels = labels.reshape(len(labels), -1)
    width = len(info.labels) if info.multi_label else 1
    if labels.shape[1] != width:
        raise ValueError(f"{npz}: '{split}_labels' has {labels.shape[1]} columns, expected {width}")
    top = 1 if info.multi_label else len(info.labels) - 1
    if labels.size and (labels.min() < 0 or labels.max() > top):
        i = int(np.argmax((labels < 0).any(axis=1) | (labels > top).any(axis=1)))
        raise ValueError(f"{npz}: '{split}_labels'[{i}] = {labels[i].tolist()} is outside 0..{top}")
    return images, labels


def _save_png(pixels: np.ndarray, path: Path) -> None:
    with open_private(path) as fh:  # the output permission policy (infimed.io.jsonl.FILE_MODE)
        Image.fromarray(pixels, "RGB" if pixels.ndim == 3 else "L").save(fh, format="PNG")


def _choice(correct: str, others: list[str], rng: np.random.Generator, k_others: int) -> tuple[dict[str, str], str]:
    picked = [others[int(j)] for j in rng.choice(len(others), size=min(k_others, len(others)), replace=False)]
    texts = [correct, *picked]
    options = {OPTION_LETTERS[i]: texts[int(j)] for i, j in enumerate(rng.permutation(len(texts)))}
    return options, next(k for k, v in options.items() if v == correct)


def _sample(base: dict[str, Any], **fields: Any) -> Sample:
    return Sample.model_validate({**base, **fields})


def _questions(info: MedMnistInfo, name: str, split: str, i: int, rel: str, label: np.ndarray,
               formats: tuple[str, ...] | list[str], rng: np.random.Generator) -> list[Sample]:
    if info.multi_label:
        present = [info.labels[j] for j in np.flatnonzero(label)]
        meta: dict[str, Any] = {"dataset": name, "index": i, "label": label.astype(int).tolist(), "findings": present}
    else:
        cls = info.labels[int(label[0])]
        present = [cls]
        meta = {"dataset": name, "index": i, "label": int(label[0]), "class": cls}
    absent = [c for c in info.labels if c not in present]
    out = []
    for fmt in formats:
        base: dict[str, Any] = {"id": f"{name}-{split}-{i:06d}-{FORMAT_SUFFIX[fmt]}", "images": [rel], "modality": info.modality,
                "source": name, "split": split, "meta": meta}
        if fmt == "yes_no":
            if info.normal is not None and info.abnormal_question:
                out.append(_sample(base, question=info.abnormal_question, answer_type="yes_no",
                                  answer="no" if present == [info.normal] else "yes", task="abnormality_detection"))
                continue
            ask_true = bool(present) and rng.random() < 0.5
            value = present[int(rng.integers(len(present)))] if ask_true else absent[int(rng.integers(len(absent)))]
            out.append(_sample(base, question=info.class_question.format(value=value), answer_type="yes_no",
                              answer="yes" if ask_true else "no", task=info.task))
        elif fmt == "choice":
            if info.multi_label:
                correct = present[int(rng.integers(len(present)))] if present else NO_FINDING
                options, answer = _choice(correct, absent, rng, 3)
            else:
                options, answer = _choice(present[0], absent, rng, 4)
            out.append(_sample(base, question=info.choice_question, options=options, answer=answer,
                              answer_type="choice", task=info.task))
        elif not info.multi_label:  # open: the class name
            out.append(_sample(base, question=info.choice_question, answer=present[0], answer_type="open",
                              task=info.task))
    return out
