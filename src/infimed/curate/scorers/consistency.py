"""Image-text consistency: does the modality the question names match the sample's modality and its image?

Two checks, averaged over those that apply:
- text: a modality named in the question/options ("CT", "MRI", "radiograph"...) vs the declared
  ``modality`` field (1 when they agree or nothing is named, 0 when they contradict);
- image: a nearest-centroid classifier over global image descriptors, fitted on the pool itself (one
  centroid per declared modality). 1 when the image is nearest to its declared modality's centroid, decaying
  with how much nearer another modality's centroid is.
"""

from __future__ import annotations

import re

import numpy as np

from infimed.schema import Sample

MODALITY_WORDS: dict[str, str] = {
    "ct": r"\bct\b|computed tomography|\bcat scan",
    "mri": r"\bmri?\b|magnetic resonance|\bflair\b|\bt[12][- ]weighted|\bdwi\b",
    "xray": r"x-?ray|radiograph|\bcxr\b|plain film",
    "ultrasound": r"ultrasound|sonograph|\bultrasonograph|\bdoppler\b|\bus image",
    "pathology": r"histolog|histopatholog|\bh&e\b|\bhematoxylin|pathology slide",
    "fundus": r"\bfundus\b|fundoscop",
    "dermoscopy": r"dermoscop|dermatoscop",
    "endoscopy": r"endoscop|colonoscop|gastroscop",
    "oct": r"\boct\b|optical coherence",
    "microscopy": r"\bmicroscop",
    # not schema modalities, but an answer naming one contradicts any declared modality
    "pet": r"\bpet\b|positron emission",
    "spect": r"\bspect\b|scintigra|nuclear medicine",
}
_PATTERNS = {m: re.compile(rx, re.IGNORECASE) for m, rx in MODALITY_WORDS.items()}


def named_modalities(text: str) -> set[str]:
    return {m for m, rx in _PATTERNS.items() if rx.search(text)}


def text_consistency(sample: Sample) -> float | None:
    """None when the sample declares no modality or the question names none."""
    if sample.modality is None or sample.modality == "other":
        return None
    named = named_modalities(sample.question)
    if not named or sample.answer_type == "choice" and sample.task == "modality_recognition":
        return None  # a "which modality?" question lists every modality on purpose
    return 1.0 if sample.modality in named else 0.0


class ModalityCentroids:
    """Nearest-centroid modality classifier on image descriptors, fitted on the pool being curated."""

    def __init__(self, vectors: np.ndarray, modalities: list[str], *, min_per_class: int = 5):
        keep = [m for m in sorted(set(modalities)) if modalities.count(m) >= min_per_class and m != "other"]
        self.classes = keep
        self.mean = vectors.mean(0) if len(vectors) else np.zeros(vectors.shape[1], np.float32)
        self.scale = vectors.std(0) + 1e-6 if len(vectors) else np.ones(vectors.shape[1], np.float32)
        z = (vectors - self.mean) / self.scale
        labels = np.array(modalities)
        self.centroids = np.stack([z[labels == m].mean(0) for m in keep]) if keep else np.zeros((0, z.shape[1]))
        probe = z[:: max(1, len(z) // 20_000)]  # the typical distance needs no more than ~20k rows
        dists = np.linalg.norm(probe[:, None, :] - self.centroids[None], axis=2) if keep else np.zeros((0, 0))
        self.typical = float(np.median(dists.min(1))) if dists.size else 1.0

    @property
    def usable(self) -> bool:
        return len(self.classes) >= 2

    def predict(self, vector: np.ndarray) -> str | None:
        if not self.usable:
            return None
        d = np.linalg.norm((vector - self.mean) / self.scale - self.centroids, axis=1)
        return self.classes[int(d.argmin())]

    def score(self, vector: np.ndarray, declared: str | None) -> float | None:
        """1 when ``declared`` is the nearest centroid; exp(-gap / typical distance) otherwise."""
        if not self.usable or declared not in self.classes:
            return None
        d = np.linalg.norm((vector - self.mean) / self.scale - self.centroids, axis=1)
        gap = float(d[self.classes.index(declared)] - d.min())
        return round(float(np.exp(-gap / max(self.typical, 1e-6))), 4)


def consistency(sample: Sample, image_vec: np.ndarray | None, centroids: ModalityCentroids | None) -> float:
    parts = [text_consistency(sample)]
    if image_vec is not None and centroids is not None:
        parts.append(centroids.score(image_vec, sample.modality))
    known = [p for p in parts if p is not None]
    return round(sum(known) / len(known), 4) if known else 1.0
