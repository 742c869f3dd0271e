"""Step ``caption_consistency``: drop caption / report samples whose text the image contradicts (no model).

A caption swapped in from another image names the wrong modality, body region or findings. The step reads
those attributes from each text with a small lexicon (``caption_lexicon.yaml`` next to this file, or
``lexicon=PATH``): single-valued ones (modality, region, normal / abnormal) and present/absent ones read only
when a finding was read (lesion quadrants, sizes). For every attribute value carried by at least
``min_support`` samples (and, for present/absent values, absent in as many), a cross-validated image probe
on the generic image descriptor (``infimed.curate.label_probe``) predicts the value out of fold, so no sample
is judged by a probe that saw it. An attribute whose probe does not beat ``min_accuracy`` (balanced accuracy
out of fold) is not checked: the image cannot tell its values apart. Confident learning then drops a sample
as ``caption_mismatch`` when the probability of its text's value is below that value's threshold (the mean
self-confidence of the samples carrying it) and another value reaches its own threshold and beats it by
``margin`` (``rival_factor`` < 1 relaxes "reaches its own threshold" to that share of it). With ``rounds`` 2
(default) this runs twice, the second time with every text flagged in the first left out of training (prune
and retrain: a swapped text is wrong in all its attributes, and poisons every probe it trains). The detail
names the attribute, the text's value and the probe's alternative. Kept samples that
were checked get ``meta.scores.caption_consistency``: the lowest out-of-fold probability of a value their
text names. Only ``answer_type: report`` samples with a readable image are read; others pass untouched.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from infimed.curate.base import STEPS, Drop
from infimed.curate.embed import sample_image_stats
from infimed.curate.label_probe import out_of_fold_probs
from infimed.progress import track
from infimed.schema import Sample

LEXICON = Path(__file__).with_name("caption_lexicon.yaml")


@dataclass(frozen=True)
class Attribute:
    name: str
    kind: str  # "one" or "set"
    values: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]
    when: str | None = None


def load_lexicon(path: Path | str = LEXICON) -> list[Attribute]:
    """The attributes of a lexicon file; a malformed one is a one-line error naming the file and attribute."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read caption lexicon: {exc}") from exc
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: caption lexicon must map attribute names to {{kind, values}}")
    out = []
    for name, spec in raw.items():
        if not isinstance(spec, dict) or spec.get("kind") not in ("one", "set") or not isinstance(
                spec.get("values"), dict) or not spec["values"]:
            raise ValueError(f"{path}: attribute {name!r}: needs kind one|set and a non-empty values mapping")
        if spec.get("when") is not None and spec["when"] not in raw:
            raise ValueError(f"{path}: attribute {name!r}: when names unknown attribute {spec['when']!r}")
        values = []
        for value, patterns in spec["values"].items():
            if not isinstance(patterns, list) or not patterns:
                raise ValueError(f"{path}: attribute {name!r} value {value!r}: needs a list of patterns")
            try:
                values.append((str(value), tuple(re.compile(rf"(?<![\w-]){p}(?![\w-])", re.IGNORECASE)
                                                 for p in patterns)))
            except re.error as exc:
                raise ValueError(f"{path}: attribute {name!r} value {value!r}: bad pattern: {exc}") from exc
        out.append(Attribute(str(name), spec["kind"], tuple(values), spec.get("when")))
    return out


def read_attributes(text: str, lexicon: list[Attribute]) -> dict[str, str | frozenset[str]]:
    """Attribute -> the value the text names (``one``) or the values it names (``set``); unread ones left out."""
    out: dict[str, str | frozenset[str]] = {}
    for attr in lexicon:
        rest, found = text, []
        for value, patterns in attr.values:
            hit = False
            for p in patterns:
                rest, n = p.subn(" ", rest)
                hit = hit or n > 0
            if hit:
                found.append(value)
        if attr.kind == "one" and len(found) == 1:
            out[attr.name] = found[0]
        elif attr.kind == "set":
            out[attr.name] = frozenset(found)
    for attr in lexicon:  # a set is meaningful only once its condition was read
        if attr.kind == "set" and attr.when is not None and attr.when not in out:
            out.pop(attr.name, None)
    return out


@dataclass
class Task:
    """One probe: samples (pool indices) labelled with class indices of ``classes``."""
    attribute: str
    classes: tuple[str, ...]
    rows: list[int]
    labels: np.ndarray


class CaptionConsistency:
    name = "caption_consistency"

    def __init__(self, *, lexicon: str | None = None, min_support: int = 20, min_accuracy: float = 0.8,
                 margin: float = 0.4, rival_factor: float = 1.0, rounds: int = 2, folds: int = 5, max_train: int = 1500):
        if not 0.0 <= margin < 1.0:
            raise ValueError(f"caption_consistency: margin must be in [0, 1), got {margin}")
        if rounds < 1:
            raise ValueError(f"caption_consistency: rounds must be at least 1, got {rounds}")
        if min_support < 2 or folds < 2:
            raise ValueError("caption_consistency: min_support and folds must be at least 2")
        self.lexicon = load_lexicon(lexicon or LEXICON)
        self.min_support, self.min_accuracy, self.margin = min_support, min_accuracy, margin
        self.folds, self.max_train, self.rival_factor, self.rounds = folds, max_train, rival_factor, rounds
        self.checked: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, str] = {}
        self.found: Counter[str] = Counter()
        self.n_read = 0

    def tasks(self, read: dict[int, dict[str, str | frozenset[str]]]) -> list[Task]:
        out = []
        for attr in self.lexicon:
            rows = [i for i, a in read.items() if attr.name in a]
            if attr.kind == "one":
                counts = Counter(str(read[i][attr.name]) for i in rows)
                classes = tuple(sorted(v for v, c in counts.items() if c >= self.min_support))
                if len(classes) < 2:
                    self.skipped[attr.name] = f"fewer than 2 values with {self.min_support} samples ({dict(counts)})"
                    continue
                rows = [i for i in rows if read[i][attr.name] in classes]
                out.append(Task(attr.name, classes, rows, np.array([classes.index(str(read[i][attr.name]))
                                                                    for i in rows])))
                continue
            for value, _ in attr.values:
                labels = np.array([int(value in read[i][attr.name]) for i in rows], dtype=int)
                name = f"{attr.name} {value!r}"
                if min(labels.sum(), len(labels) - labels.sum()) < self.min_support if len(labels) else True:
                    self.skipped[name] = f"fewer than {self.min_support} samples naming it or not"
                    continue
                out.append(Task(name, ("absent", "present"), rows, labels))
        return out

    def judge(self, task: Task, feats: dict[int, np.ndarray], flagged: dict[int, str],
              confidence: dict[int, float], suspects: set[int]) -> None:
        """Flag ``task``'s rows its probe contradicts; rows in ``suspects`` are predicted but not trained on."""
        x = np.stack([feats[i] for i in task.rows])
        k = len(task.classes)
        train = np.array([i not in suspects for i in task.rows])
        p = out_of_fold_probs(x, task.labels, train, k, folds=self.folds, max_train=self.max_train)
        own = p[np.arange(len(x)), task.labels]
        recall = [float((p[train & (task.labels == c)].argmax(1) == c).mean()) for c in range(k)
                  if (train & (task.labels == c)).any()]
        balanced = float(np.mean(recall))
        if balanced < self.min_accuracy:
            self.skipped[task.attribute] = f"probe balanced accuracy {balanced:.3f} < {self.min_accuracy}"
            return
        thresholds = np.array([own[train & (task.labels == c)].mean() for c in range(k)])
        n_flagged = 0
        for r, i in enumerate(task.rows):
            y = task.labels[r]
            confidence[i] = min(confidence.get(i, 1.0), float(own[r]))
            rivals = [c for c in range(k) if c != y and p[r, c] >= self.rival_factor * thresholds[c]]
            if own[r] >= thresholds[y] or not rivals:
                continue
            best = max(rivals, key=lambda c: p[r, c])
            if p[r, best] - own[r] >= self.margin and i not in flagged:
                said, alt = task.classes[y], task.classes[best]
                flagged[i] = (f"{task.attribute}: text says {said!r}, image probe {alt!r} "
                              f"({p[r, best]:.2f} vs {own[r]:.2f})")
                n_flagged += 1
        self.checked[task.attribute] = {"n": len(x), "classes": list(task.classes),
                                        "balanced_accuracy": round(balanced, 4), "flagged": n_flagged}
        self.found[task.attribute.split(" ")[0]] += n_flagged

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        pool = list(samples)
        read: dict[int, dict[str, str | frozenset[str]]] = {}
        feats: dict[int, np.ndarray] = {}
        for i, s in enumerate(track(pool, "caption_consistency: image features")):
            if s.answer_type != "report" or not s.images:
                continue
            attrs = read_attributes(s.answer, self.lexicon)
            if not attrs:
                continue
            stats, _ = sample_image_stats(s.image_paths())
            if stats is not None and stats.thumb.any():
                read[i], feats[i] = attrs, stats.descriptor
        self.n_read = len(read)
        tasks = self.tasks(read)
        flagged: dict[int, str] = {}
        confidence: dict[int, float] = {}
        for _ in range(self.rounds):  # prune and retrain: a text flagged once is wrong in all its attributes
            suspects, flagged, confidence = set(flagged), {}, {}
            self.checked, self.found = {}, Counter()
            for task in tasks:
                self.judge(task, feats, flagged, confidence, suspects)
        for i, sample in enumerate(pool):
            if i in flagged:
                yield Drop(sample, "caption_mismatch", flagged[i])
            elif i in confidence:
                scores = {**(sample.meta.get("scores") or {}), "caption_consistency": round(confidence[i], 4)}
                yield sample.model_copy(update={"meta": {**sample.meta, "scores": scores}}).with_base_dir(
                    sample.base_dir)
            else:
                yield sample

    def report(self) -> dict[str, Any]:
        return {"read": self.n_read, "checked": self.checked, "skipped": self.skipped,
                "dropped_by_attribute": dict(self.found)}


@STEPS.register("caption_consistency")
def build(**options: Any) -> CaptionConsistency:
    return CaptionConsistency(**options)
