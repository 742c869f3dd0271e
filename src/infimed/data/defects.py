"""Dirt injected into the phantom train split, at fixed rates, with a ground-truth manifest.

Rates are fractions of the clean train size (``DEFECT_RATES``; counts are ``round(rate * n_train)``):

=================  =====  ==================================================================================
kind               rate   what it is
=================  =====  ==================================================================================
exact_duplicate    15 %   a copy of a clean train record (new id; image bytes copied to a new file name)
near_duplicate     15 %   a copy whose image is re-encoded / resized / cropped 2-6 % / brightness-shifted
                          (2-4 of these) and whose question is re-worded with another template
wrong_label        12 %   a clean record whose answer is changed in place to another valid answer
                          (another option letter, the flipped yes/no, another phrase of the task)
blank_image         3 %   a copy of a record's text with a uniform or near-uniform image
corrupt_image       2 %   a copy of a record's text whose image file is truncated or random bytes
phi                 5 %   a clean record whose question gains patient identifiers in place (name, MRN,
                          date, phone number); names of many cultures and scripts (``PATIENT_NAMES``)
contamination       3 %   an exact (half) or near (half) copy of a test item, put into train
=================  =====  ==================================================================================

Added records get new opaque ids and a new ``meta.case_id``; nothing in a record says it is a defect.
``defects.jsonl`` holds one line per defect: ``id`` (the train record), ``kind``, ``of`` (the train or test
id it derives from; ``null`` for in-place defects) and a human-readable ``detail``. The records a defect
derives from, and the in-place targets, are all distinct clean train records, so each id has one kind.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from infimed.data.ids import OpaqueIds
from infimed.data.questions import Question, paraphrase, wrong_answer
from infimed.data.scene import SIZE
from infimed.io.images import load_image
from infimed.io.jsonl import copy_private, write_bytes_private
from infimed.schema import Sample

DEFECT_RATES: dict[str, float] = {
    "exact_duplicate": 0.15,
    "near_duplicate": 0.15,
    "wrong_label": 0.12,
    "blank_image": 0.03,
    "corrupt_image": 0.02,
    "phi": 0.05,
    "contamination": 0.03,
}
KINDS = tuple(DEFECT_RATES)

# Patient names of many cultures, each in its own order and script (family name first where that is the
# custom), so the pipeline's own PHI recall covers more than Anglo names; doctors get family names.
PATIENT_NAMES = (
    "John Smith", "Adebayo Ogunleye", "Chukwuemeka Okafor", "Abubakar Musa", "Akosua Boateng", "Wanjiru Kamau",
    "Tesfaye Bekele", "Hiroshi Tanaka", "山田太郎", "Wang Xiaoming", "王小明", "Kim Min-jun", "김민준",
    "Mohammed Al-Rashid", "Noor al-Hakim", "Priya Venkataraman", "Harpreet Singh Gill", "José Luis Hernández",
    "María Fernanda Gómez", "Olga Ivanova", "Łukasz Wójcik", "Nguyễn Văn An", "Jan van der Berg",
    "Siobhan O'Sullivan", "Ayşe Yılmaz", "Siti Nurhaliza binti Ahmad", "Sione Taufa", "Maria Garcia",
    "Fatima Khan", "Kwame Mensah",
)
DOCTOR_NAMES = ("Smith", "Okonkwo", "Adeyemi", "Nakamura", "Chen", "Park", "Haddad", "Iyer", "Ruiz",
                "Kowalski", "Nguyen", "de Vries", "Mensah", "Bello", "Müller", "Patel")
PHI_TEMPLATES = (
    "Patient {name}, MRN {mrn}, seen {date}. {question}",
    "{question} (Pt: {name}, DOB {date}, phone {phone})",
    "Referral from Dr. {doctor} for {name} (MRN {mrn}, tel {phone}): {question}",
    "Exam date {date}, patient {name}, record no. {mrn}. {question}",
)


@dataclass(frozen=True)
class Defect:
    id: str
    kind: str
    of: str | None
    detail: str = ""

    def to_json(self) -> dict[str, str | None]:
        return {"id": self.id, "kind": self.kind, "of": self.of, "detail": self.detail}


def defect_counts(n_train: int) -> dict[str, int]:
    return {kind: round(rate * n_train) for kind, rate in DEFECT_RATES.items()}


@dataclass
class _Writer:
    """Writes defect images next to the clean ones under opaque names."""

    root: Path
    names: OpaqueIds

    def new_path(self, ext: str) -> str:
        return f"images/{self.names.new()}{ext}"

    def write(self, data: bytes, ext: str) -> str:
        rel = self.new_path(ext)
        write_bytes_private(self.root / rel, data)
        return rel

    def copy(self, rel_src: str) -> str:
        rel = self.new_path(Path(rel_src).suffix)
        copy_private(self.root / rel_src, self.root / rel)
        return rel


def inject(
    train: list[Sample], test: list[Sample], questions: dict[str, Question] | None, *, root: Path,
    rng: np.random.Generator, ids: OpaqueIds, image_names: OpaqueIds, id_prefix: str = "ph-",
) -> tuple[list[Sample], list[Defect]]:
    """Return the dirty train split (shuffled) and the defect manifest; defect images go under ``root``.

    ``questions`` (the phantom's structured questions) give template paraphrases and task-aware wrong answers;
    without them (any other sample set, e.g. MedMNIST) questions are reworded generically and wrong labels are
    another option letter, the flipped yes/no, or the opposite finding.
    """
    counts = defect_counts(len(train))
    n_sources = sum(v for k, v in counts.items() if k != "contamination")
    if n_sources > len(train) or counts["contamination"] > len(test):
        raise ValueError(f"n: too few samples ({len(train)} train, {len(test)} test) for the defect rates")
    writer = _Writer(root, image_names)
    order = iter(int(i) for i in rng.permutation(len(train)))
    dirty = list(train)
    added: list[Sample] = []
    defects: list[Defect] = []

    def sources(kind: str) -> list[int]:
        return [next(order) for _ in range(counts[kind])]

    def add(src: Sample, kind: str, detail: object, **update: object) -> None:
        copy = src.model_copy(update={"id": ids.new(id_prefix), "split": "train", "meta": {"case_id": ids.new("case-")},
                                      **update}, deep=True)
        added.append(copy)
        defects.append(Defect(copy.id, kind, src.id, str(detail)))

    for i in sources("exact_duplicate"):
        add(train[i], "exact_duplicate", "exact copy", images=[writer.copy(train[i].images[0])])
    for i in sources("near_duplicate"):
        add(train[i], "near_duplicate", **_near_copy(train[i], questions, writer, rng))
    for i in sources("blank_image"):
        value = int(rng.integers(0, 256))
        data, detail = _blank_png(value, float(rng.uniform(0.0, 2.0)), rng)
        add(train[i], "blank_image", detail, images=[writer.write(data, ".png")])
    for i in sources("corrupt_image"):
        data, detail = _corrupt_bytes((root / train[i].images[0]).read_bytes(), rng)
        add(train[i], "corrupt_image", detail, images=[writer.write(data, ".png")])
    for i in sources("wrong_label"):
        s = train[i]
        wrong = wrong_answer(questions[s.id], rng) if questions else generic_wrong_answer(s, rng)
        dirty[i] = s.model_copy(update={"answer": wrong}, deep=True)
        defects.append(Defect(s.id, "wrong_label", None, f"answer {s.answer!r} -> {wrong!r}"))
    for i in sources("phi"):
        s = train[i]
        dirty[i] = s.model_copy(update={"question": phi_text(s.question, rng)}, deep=True)
        defects.append(Defect(s.id, "phi", None, "identifiers in question"))
    for n, j in enumerate(rng.choice(len(test), size=counts["contamination"], replace=False)):
        src = test[int(j)]
        if n % 2 == 0:
            add(src, "contamination", "exact copy of a test item", images=[writer.copy(src.images[0])])
        else:
            add(src, "contamination", **_near_copy(src, questions, writer, rng))
    out = dirty + added
    return [out[int(i)] for i in rng.permutation(len(out))], defects


GENERIC_REWORDINGS = (
    "Looking at this image: {q}",
    "Please answer the following. {q}",
    "{q} Answer based on the image.",
    "Based on the scan, {q_lower}",
)


def generic_reword(question: str, rng: np.random.Generator) -> str:
    """Another wording of any question (for sample sets without the phantom's templates)."""
    template = GENERIC_REWORDINGS[int(rng.integers(len(GENERIC_REWORDINGS)))]
    return template.format(q=question, q_lower=question[:1].lower() + question[1:])


def generic_wrong_answer(sample: Sample, rng: np.random.Generator) -> str:
    """Another valid answer of any sample: another option letter, the flipped yes/no, the opposite finding."""
    if sample.answer_type == "yes_no":
        return "no" if sample.answer == "yes" else "yes"
    if sample.answer_type == "choice" and sample.options:
        others = [k for k in sorted(sample.options) if k != sample.answer]
        return others[int(rng.integers(len(others)))]
    return "normal" if sample.answer.strip().lower() != "normal" else "abnormal"


def _near_copy(
    src: Sample, questions: dict[str, Question] | None, writer: _Writer, rng: np.random.Generator
) -> dict[str, object]:
    """The changed fields of a near copy: an altered image and the question in another wording."""
    arr = np.asarray(load_image(writer.root / src.images[0], mode="L"))
    data, ext, detail = near_variant(arr, rng)
    question = paraphrase(questions[src.id], rng).text if questions else generic_reword(src.question, rng)
    return {"detail": f"{detail}; reworded", "images": [writer.write(data, ext)], "question": question}


def near_variant(arr: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str, str]:
    """Encode a slightly altered copy of a grayscale image: 2-4 of jpeg / resize / crop / brightness."""
    ops = {str(op) for op in rng.permutation(["jpeg", "resize", "crop", "brightness"])[: int(rng.integers(2, 5))]}
    notes = []
    img = arr
    if "crop" in ops:
        frac = float(rng.uniform(0.02, 0.06))
        cut = max(1, round(frac * img.shape[0]))
        # trims every border a little (a re-framed copy), rather than shifting the picture by the whole cut
        left, top = (cut // 2 + int(rng.integers(-(cut // 4), cut // 4 + 1)) for _ in range(2))
        img = img[top: img.shape[0] - (cut - top), left: img.shape[1] - (cut - left)]
        notes.append(f"crop {frac:.0%}")
    if "brightness" in ops:
        shift = float(rng.choice([-1.0, 1.0]) * rng.uniform(8, 20))
        img = np.clip(img.astype(np.float32) + shift, 0, 255).astype(np.uint8)
        notes.append(f"brightness {shift:+.0f}")
    pil = Image.fromarray(np.ascontiguousarray(img), "L")
    if "resize" in ops:
        side = int(rng.integers(96, 161))
        pil = pil.resize((side, side), Image.Resampling.BILINEAR)
        notes.append(f"resize {side}")
    buf = io.BytesIO()
    if "jpeg" in ops:
        quality = int(rng.integers(70, 91))
        pil.save(buf, format="JPEG", quality=quality)
        notes.append(f"jpeg q{quality}")
        return buf.getvalue(), ".jpg", ", ".join(notes)
    pil.save(buf, format="PNG")
    return buf.getvalue(), ".png", ", ".join(notes)


def _blank_png(value: int, sigma: float, rng: np.random.Generator) -> tuple[bytes, str]:
    noise = rng.normal(0.0, sigma, size=(SIZE, SIZE)) if sigma > 0 else np.zeros((SIZE, SIZE))
    arr = np.clip(value + noise, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "L").save(buf, format="PNG")
    return buf.getvalue(), f"uniform {value} +- {sigma:.1f}"


def _corrupt_bytes(original: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    if rng.random() < 0.5:
        cut = int(len(original) * rng.uniform(0.2, 0.7))
        return original[:cut], f"truncated to {cut} of {len(original)} bytes"
    n = int(rng.integers(200, 4000))
    return rng.bytes(n), f"{n} random bytes"


def phi_text(question: str, rng: np.random.Generator) -> str:
    """The question with patient identifiers woven in."""
    name = PATIENT_NAMES[int(rng.integers(len(PATIENT_NAMES)))]
    doctor = DOCTOR_NAMES[int(rng.integers(len(DOCTOR_NAMES)))]
    mrn = str(int(rng.integers(1_000_000, 10_000_000)))
    date = f"{int(rng.integers(1, 13)):02d}/{int(rng.integers(1, 29)):02d}/{int(rng.integers(1950, 2024))}"
    phone = f"555-{int(rng.integers(200, 1000))}-{int(rng.integers(0, 10000)):04d}"
    template = PHI_TEMPLATES[int(rng.integers(len(PHI_TEMPLATES)))]
    return template.format(name=name, mrn=mrn, date=date, phone=phone, doctor=doctor, question=question)
