"""Step ``label_noise``: flag or drop samples whose answer disagrees with their near-identical neighbours.

Runs before ``dedup_near`` so duplicates still vote. Neighbours of a sample are samples that ask the same
thing (same task and answer type; for yes/no the same question, since the proposition is in the question;
for choice the same option texts, and answers are compared as option *text*, so shuffled letters agree)
and whose images are near-identical (cosine of mean-centred 16x16 thumbnails >= ``min_sim``). Among the
``k`` most similar, when at least ``min_support`` vote and a share >= ``min_agreement`` agree on another
answer, the sample is a ``label_conflict``. Ties and thin support keep the sample.

A second, declarative check needs no neighbours: a modality-recognition answer must agree with the
sample's own ``modality`` field ("Is this a CT image?" -> yes iff modality == ct; an open/choice answer
naming a modality must name the declared one).

A third check (``probe``, on by default) catches wrong labels on unique images: cross-validated image probes
per question family and confident learning (``infimed.curate.label_probe``). ``action="flag"`` keeps the
sample and records ``meta.label_noise``; ``action="drop"`` (default) drops it. Every probed sample that stays
gets ``meta.scores.label_confidence``: the probe's out-of-fold probability of its own answer among the answers
it could have given. ``select`` spends a tight budget on the most confident ones (its ``trust`` option).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from infimed.curate.base import STEPS, Drop
from infimed.curate.embed import sample_image_stats
from infimed.curate.label_probe import families, probe
from infimed.curate.scorers.consistency import named_modalities
from infimed.progress import track
from infimed.schema import Sample


def question_key(sample: Sample) -> tuple[str, ...]:
    """Samples with equal keys ask the same thing, so their answers are comparable."""
    q = re.sub(r"\s+", " ", sample.question.lower()).strip() if sample.answer_type == "yes_no" else ""
    options = "|".join(sorted(v.lower() for v in (sample.options or {}).values()))
    return (str(sample.task), sample.answer_type, q, options)


def answer_text(sample: Sample) -> str:
    if sample.answer_type == "choice" and sample.options:
        return sample.options[sample.answer].strip().lower()
    return sample.answer.strip().lower()


def modality_conflict(sample: Sample) -> str | None:
    """Why a modality-recognition answer contradicts the sample's declared modality, else None."""
    if sample.task != "modality_recognition" or sample.modality in (None, "other"):
        return None
    if sample.answer_type == "yes_no":
        named = named_modalities(sample.question)
        if len(named) != 1:
            return None
        expected = "yes" if sample.modality in named else "no"
        return None if sample.answer == expected else f"answer {sample.answer!r} but modality is {sample.modality}"
    named = named_modalities(answer_text(sample))
    if len(named) == 1 and sample.modality not in named:
        return f"answer names {next(iter(named))} but modality is {sample.modality}"
    return None


def top_k_similar(feats: np.ndarray, k: int, *, block: int = 512) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row, the ``k`` most similar other rows (indices, cosines), most similar first; blockwise, so a
    large group never materialises its full similarity matrix."""
    k = min(k, len(feats) - 1)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for start in range(0, len(feats), block):
        sim = feats[start:start + block] @ feats.T
        sim[np.arange(len(sim)), np.arange(start, start + len(sim))] = -np.inf
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < sim.shape[1] else np.argsort(-sim, axis=1)
        for r in range(len(sim)):
            idx = top[r][np.argsort(-sim[r, top[r]])]
            out.append((idx, sim[r, idx]))
    return out


class LabelNoiseStep:
    name = "label_noise"

    def __init__(
        self,
        *,
        k: int = 5,
        min_sim: float = 0.97,
        min_support: int = 2,
        min_agreement: float = 0.75,
        action: str = "drop",
        modality_check: bool = True,
        probe: bool = True,
        probe_margin: float = 0.4,
        probe_min_group: int = 100,
        probe_max_train: int = 1500,
    ):
        if action not in ("drop", "flag"):
            raise ValueError(f"label_noise: action must be 'drop' or 'flag', got {action!r}")
        if not 0.0 < min_agreement <= 1.0:
            raise ValueError(f"label_noise: min_agreement must be in (0, 1], got {min_agreement}")
        self.k, self.min_sim, self.min_support, self.min_agreement = k, min_sim, min_support, min_agreement
        self.action = action
        self.modality_check = modality_check
        self.probe, self.probe_margin = probe, probe_margin
        self.probe_min_group, self.probe_max_train = probe_min_group, probe_max_train
        self.found: Counter[str] = Counter()
        self.confidence: dict[int, float] = {}

    def conflicts(self, pool: list[Sample]) -> dict[int, tuple[str, str | None]]:
        """Index -> (detail, id of the nearest disagreeing neighbour) for every conflicting sample; the probe's
        label confidences of the other samples go to ``self.confidence`` (pool index -> probability)."""
        out: dict[int, tuple[str, str | None]] = {}
        self.confidence = {}
        if self.modality_check:
            for i, s in enumerate(pool):
                if (why := modality_conflict(s)) is not None:
                    out[i] = (f"modality: {why}", None)
                    self.found["modality_field"] += 1
        groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
        thumbs: dict[int, np.ndarray] = {}
        descriptors: dict[int, np.ndarray] = {}
        for i, s in enumerate(track(pool, "label_noise: image features")):
            stats, _ = sample_image_stats(s.image_paths())
            if stats is not None and stats.thumb.any():
                thumbs[i] = stats.thumb
                descriptors[i] = stats.descriptor
                groups[question_key(s)].append(i)
        self._vote(pool, groups, thumbs, out)
        if self.probe:
            for members in families(pool, set(descriptors)).values():
                fresh = [m for m in members if m.index not in out]
                feats = np.stack([descriptors[m.index] for m in fresh]) if fresh else np.zeros((0, 1))
                found, confidence = probe(fresh, feats, margin=self.probe_margin, min_group=self.probe_min_group,
                                          max_train=self.probe_max_train)
                self.confidence.update(confidence)
                for i, why in found.items():
                    out[i] = (why, None)
                    self.found["image_probe"] += 1
            self.confidence = {i: c for i, c in self.confidence.items() if i not in out}
        return out

    def _vote(self, pool: list[Sample], groups: dict[tuple[str, ...], list[int]], thumbs: dict[int, np.ndarray],
              out: dict[int, tuple[str, str | None]]) -> None:
        """Near-identical neighbours' vote, adding to ``out``."""
        for members in groups.values():
            if len(members) <= self.min_support:
                continue
            feats = np.stack([thumbs[i] for i in members])
            answers = [answer_text(pool[i]) for i in members]
            neighbours = top_k_similar(feats, self.k)
            for a, i in enumerate(members):
                if i in out:
                    continue
                near = [int(b) for b, sim in zip(*neighbours[a], strict=True) if sim >= self.min_sim]
                if len(near) < self.min_support:
                    continue
                votes = Counter(answers[b] for b in near)
                top, count = votes.most_common(1)[0]
                if top != answers[a] and count / len(near) >= self.min_agreement:
                    witness = next(b for b in near if answers[b] == top)
                    out[i] = (f"{count}/{len(near)} near-identical neighbours answer {top!r}, not {answers[a]!r}",
                              pool[members[witness]].id)
                    self.found["neighbour_vote"] += 1

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        pool = list(samples)
        conflicts = self.conflicts(pool)
        for i, sample in enumerate(pool):
            if i not in conflicts:
                if i in self.confidence:
                    scores = {**sample.meta.get("scores", {}), "label_confidence": round(self.confidence[i], 4)}
                    sample = sample.model_copy(update={"meta": {**sample.meta, "scores": scores}}).with_base_dir(
                        sample.base_dir)
                yield sample
                continue
            detail, of = conflicts[i]
            if self.action == "drop":
                yield Drop(sample, "label_conflict", detail, of=of)
            else:
                meta = {**sample.meta, "label_noise": {"detail": detail, "of": of}}
                yield sample.model_copy(update={"meta": meta}).with_base_dir(sample.base_dir)

    def report(self) -> dict[str, Any]:
        conf = np.array(list(self.confidence.values()))
        return {"conflicts_by_check": dict(self.found), "action": self.action,
                "label_confidence": {"scored": len(conf), "mean": round(float(conf.mean()), 4) if len(conf) else None,
                                     "below_0.5": int((conf < 0.5).sum())}}


@STEPS.register("label_noise")
def label_noise(**options: Any) -> LabelNoiseStep:
    return LabelNoiseStep(**options)
