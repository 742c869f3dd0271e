"""Step ``select``: keep a diverse, balanced, high-quality subset under a budget; the rest -> ``not_selected``.

The budget (``budget``: a count, a whole number >= 1, or a fraction of the pool in (0, 1] written with a
decimal point or as a percentage; see ``curate.config.parse_budget``; a count above the pool keeps the whole
pool and the report says ``clamped_to_pool``) is split over strata (``stratify``
fields, default modality x task): equal shares level by level (``balance="equal"``, the default: equal per
modality, then equal per task within each modality, capped by supply), the pool's own proportions
(``"proportional"``) or explicit ``targets`` ({"ct/counting": 2.0, ...}; strata left out get nothing). Within a stratum,
``method`` picks: ``kcenter`` (greedy k-center on features, distances weighted by quality; cluster-then-select
for strata over 200k), ``deita``
(quality order, admit when max cosine to admitted < ``threshold``) or ``random``. Features are the
all-MiniLM-L6-v2 embedding of the question (and options) and the image thumbnail, each L2-normalised,
weighted by ``text_weight`` / ``image_weight``, concatenated and renormalised. Quality is
``meta.scores.quality`` when the ``quality`` step ran (else 1). Strata are filled in order, and a sample
whose image an earlier pick already uses has its k-center distance scaled by ``image_reuse_weight`` (default
0.3; 1 turns it off), so the budget spreads over distinct images before it asks one image several questions:
a model learns to see from many images, not from many questions about a few.

A tight budget is spent on trusted labels first (``trust``, default 2): when a stratum holds more than
``trust`` x its quota of candidates, only the ``trust`` x quota most trusted by ``label_noise``'s image probe
(``meta.scores.label_confidence``) compete. The cut is shared among the answers in proportion to their
counts, each losing its least confident first, so the answer mix is kept (a rare answer, of which the probe
is less sure, keeps its share; doubts beyond an answer's share of the cut stay for k-center to weigh, the
sure ones ``label_noise`` already dropped); samples without that score are never cut. Wrong labels
that no check was sure enough to drop still sit at the bottom of that ranking (on the quickstart's phantom
pool the least confident 30% of the candidates held 100 of its 106 remaining wrong labels). ``trust: null``
turns it off; a loose budget (fewer than ``trust`` candidates per slot) is unaffected.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from infimed.curate import select as algorithms
from infimed.curate.base import STEPS, Drop, keep_chosen
from infimed.curate.config import parse_budget
from infimed.curate.embed import embed_texts, sample_image_stats
from infimed.io.images import THUMB
from infimed.privacy.text import KINDS
from infimed.schema import Sample

METHODS = ("kcenter", "deita", "random")
PARTITION_ABOVE = 200_000  # strata larger than this use cluster-then-select k-center


def stratum(sample: Sample, fields: list[str]) -> tuple[str, ...]:
    return tuple(str(getattr(sample, f, None) or "none") for f in fields)


PLACEHOLDER = re.compile(r"\[(?:" + "|".join(KINDS) + r")\]")
PARENTHESIS = re.compile(r"\s*\([^()]*\)")
CLAUSE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z])|(?<=[:;])\s+")


def content_text(text: str) -> str:
    """``text`` without the clauses that hold de-identification placeholders ("Referral from Dr. [NAME]
    (MRN [MRN]):"): administrative boilerplate, not content, must not make a sample look novel."""
    if not PLACEHOLDER.search(text):
        return text
    text = PARENTHESIS.sub(lambda m: "" if PLACEHOLDER.search(m.group()) else m.group(), text)
    kept = [c for c in CLAUSE_END.split(text) if not PLACEHOLDER.search(c)]
    return " ".join(kept).strip() or text


def sample_text(sample: Sample) -> str:
    """What a sample asks (question and options). The answer is left out on purpose: diversity should be
    over content, and an odd answer (often a wrong one) must not make a sample look novel."""
    options = " ".join(f"{k}. {v}" for k, v in (sample.options or {}).items())
    return f"{content_text(sample.question)}\n{options}".strip()


def features(pool: list[Sample], *, text_weight: float, image_weight: float) -> np.ndarray:
    parts: list[np.ndarray] = []
    if text_weight > 0:
        parts.append(text_weight * embed_texts([sample_text(s) for s in pool]))
    if image_weight > 0:
        thumbs = np.zeros((len(pool), THUMB * THUMB), np.float32)
        for i, s in enumerate(pool):
            stats, _ = sample_image_stats(s.image_paths())
            if stats is not None:
                thumbs[i] = stats.thumb
        parts.append(image_weight * thumbs)
    if not parts:
        raise ValueError("select: text_weight and image_weight cannot both be 0")
    x = np.concatenate(parts, axis=1).astype(np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-6)


def most_trusted(pool: list[Sample], members: list[int], keep: int) -> list[int]:
    """``members`` (in order) less all but the ``keep`` most trusted among those scored: the cut is shared
    among the answers in proportion to their counts, and each answer loses its lowest ``label_confidence``
    first. A probe is less sure of a rarer answer, so one ranking of raw confidences would cut a whole class
    (on PneumoniaMNIST it cut "normal" from 14% of the candidates to 6%). On the quickstart's validation
    splits this kept-mix cut beat one ranking of confidences relative to each answer's mean and a variant
    that first cut every label below half its answer's mean (phantom 60.0% / 59.5% / 57.5%, PneumoniaMNIST
    94.0% / 92.3% / 93.6%)."""
    from infimed.curate.label_probe import answer_value

    scored = [i for i in members if "label_confidence" in pool[i].meta.get("scores", {})]
    n_cut = min(len(members) - keep, len(scored))
    if n_cut <= 0:
        return members
    by_answer: dict[str, list[int]] = defaultdict(list)
    for i in scored:
        by_answer[answer_value(pool[i])].append(i)
    counts = {a: len(group) for a, group in by_answer.items()}
    cut: set[int] = set()
    for a, n in algorithms.allocate(counts, n_cut, {a: float(c) for a, c in counts.items()}).items():
        cut.update(sorted(by_answer[a], key=lambda i: float(pool[i].meta["scores"]["label_confidence"]))[:n])
    return [i for i in members if i not in cut]


class SelectStep:
    name = "select"

    def __init__(
        self,
        *,
        budget: int | float | str,
        method: str = "kcenter",
        stratify: list[str] | None = None,
        balance: str = "equal",
        targets: dict[str, float] | None = None,
        threshold: float = 0.9,
        text_weight: float = 1.0,
        image_weight: float = 1.0,
        image_reuse_weight: float = 0.3,
        trust: float | None = 2.0,
        seed: int = 0,
    ):
        if method not in METHODS:
            raise ValueError(f"select: method must be one of {', '.join(METHODS)}, got {method!r}")
        if balance not in ("equal", "proportional"):
            raise ValueError(f"select: balance must be 'equal' or 'proportional', got {balance!r}")
        try:
            budget = parse_budget(budget)
        except ValueError as exc:
            raise ValueError(f"select: {exc}") from None
        self.budget, self.method, self.balance, self.targets = budget, method, balance, targets
        self.stratify = ["modality", "task"] if stratify is None else list(stratify)
        if not 0.0 < image_reuse_weight <= 1.0:
            raise ValueError(f"select: image_reuse_weight must be in (0, 1], got {image_reuse_weight}")
        self.threshold, self.text_weight, self.image_weight, self.seed = threshold, text_weight, image_weight, seed
        self.image_reuse_weight = image_reuse_weight
        if trust is not None and trust < 1.0:
            raise ValueError(f"select: trust must be >= 1 (candidates per budget slot) or null, got {trust}")
        self.trust = trust
        self.summary: dict[str, Any] = {}

    def n_budget(self, n: int) -> int:
        """Samples the budget asks for out of ``n``: a count (more than the pool keeps it all, and the report
        says so), or a fraction of the pool that must come to at least one sample."""
        if isinstance(self.budget, int):
            return min(n, self.budget)
        k = round(self.budget * n)
        if k == 0 and n > 0:
            raise ValueError(f"select: budget {self.budget:g} of the {n} samples left is 0 samples; "
                             "give a larger fraction or a count")
        return k

    def choose(self, pool: list[Sample]) -> set[int]:
        k = self.n_budget(len(pool))
        clamped = isinstance(self.budget, int) and self.budget > len(pool)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(pool):
            groups["/".join(stratum(s, self.stratify))].append(i)
        available = {g: len(m) for g, m in groups.items()}
        if self.targets is not None:
            quotas = algorithms.allocate(available, k, self.targets)
        elif self.balance == "proportional":
            quotas = algorithms.allocate(available, k, {g: float(n) for g, n in available.items()})
        else:
            nested = algorithms.allocate_nested({tuple(g.split("/")): n for g, n in available.items()}, k)
            quotas = {"/".join(key): q for key, q in nested.items()}
        quality = np.array([float(s.meta.get("scores", {}).get("quality", 1.0)) for s in pool], np.float32)
        x = None if self.method == "random" else features(
            pool, text_weight=self.text_weight, image_weight=self.image_weight
        )
        image_of = [str(s.image_paths()[0]) if s.images else None for s in pool]
        used: set[str] = set()
        chosen: set[int] = set()
        distrusted = 0
        for g, members in sorted(groups.items()):
            quota = quotas.get(g, 0)
            if quota <= 0:
                continue
            if self.trust is not None:
                kept = most_trusted(pool, members, int(np.ceil(self.trust * quota)))
                distrusted += len(members) - len(kept)
                members = kept
            idx = np.asarray(members)
            reuse = np.array([self.image_reuse_weight if image_of[i] in used else 1.0 for i in members], np.float32)
            if self.method == "random":
                picked = algorithms.random_subset(len(idx), quota, seed=self.seed)
            elif self.method == "kcenter" and len(idx) > PARTITION_ABOVE:
                picked = algorithms.kcenter_partitioned(x[idx], quota, parts=len(idx) // 20_000,  # type: ignore[index]
                                                        weights=(0.05 + quality[idx]) * reuse, seed=self.seed)
            elif self.method == "kcenter":
                picked = algorithms.kcenter_greedy(x[idx], quota, weights=(0.05 + quality[idx]) * reuse,  # type: ignore[index]
                                                   seed=self.seed)
            else:
                picked = algorithms.deita_threshold(x[idx], quota, quality=quality[idx], threshold=self.threshold)  # type: ignore[index]
            chosen.update(int(i) for i in idx[picked])
            used.update(image_of[int(i)] for i in idx[picked] if image_of[int(i)] is not None)  # type: ignore[misc]
        self.summary = {
            "method": self.method, "budget": k, "selected": len(chosen), "pool": len(pool),
            "requested": self.budget, "clamped_to_pool": clamped,
            "by_stratum": {g: {"available": available[g], "quota": quotas.get(g, 0),
                               "selected": sum(1 for i in groups[g] if i in chosen)} for g in sorted(groups)},
            "selected_by_modality": dict(Counter(str(pool[i].modality) for i in chosen).most_common()),
            "selected_by_task": dict(Counter(str(pool[i].task) for i in chosen).most_common()),
            "distinct_images": len({image_of[i] for i in chosen if image_of[i] is not None}),
            "trust": self.trust, "cut_for_low_label_confidence": distrusted,
        }
        return chosen

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        pool = list(samples)
        chosen = self.choose(pool)
        why = f"select[{self.method}]: outside the budget of {len(chosen)}"
        yield from keep_chosen(pool, chosen, lambda _: why)

    def report(self) -> dict[str, Any]:
        return dict(self.summary)


@STEPS.register("select")
def select(**options: Any) -> SelectStep:
    return SelectStep(**options)
