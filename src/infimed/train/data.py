"""Sample files -> the training set: mixing across files, answer balancing, and the HF dataset TRL reads.

The conversation is ``infimed.prompts.messages(sample, mode, with_answer=True)``, the same templates
that evaluation uses. The dataset holds only small strings (the messages as JSON and the image paths); images
are decoded by ``infimed.io.images.load_image`` (PNG/JPEG/DICOM) when a batch is drawn, so nothing is copied
into Arrow and a run over hundreds of thousands of samples starts at once.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infimed.io.jsonl import load_samples
from infimed.prompts import Mode, messages
from infimed.schema import Sample

if TYPE_CHECKING:
    from datasets import Dataset


def load_mixture(
    files: Sequence[Path], *, ratios: Sequence[float] | None = None, size: int | None = None, seed: int = 0
) -> list[Sample]:
    """Read every file and mix them: file ``i`` contributes ``ratios[i] / sum(ratios)`` of ``size`` samples.

    ``size`` defaults to the total number of samples in all files. A file asked for more samples than it has
    is repeated (whole passes, then a random remainder); one asked for fewer is subsampled at random. Without
    ratios every sample is used once. The result is shuffled with ``seed``.
    """
    if not files:
        raise ValueError("no training files given")
    per_file = [load_samples(f) for f in files]
    for f, samples in zip(files, per_file, strict=True):
        if not samples:
            raise ValueError(f"{f}: no samples")
    rng = random.Random(seed)
    if ratios is None:
        mixed = [s for samples in per_file for s in samples]
    else:
        if len(ratios) != len(files):
            raise ValueError(f"got {len(ratios)} mixing ratios for {len(files)} files; give one per file")
        if any(r < 0 for r in ratios) or sum(ratios) <= 0:
            raise ValueError(f"mixing ratios must be >= 0 with a positive sum, got {list(ratios)}")
        total = size if size is not None else sum(len(s) for s in per_file)
        mixed = []
        for samples, r in zip(per_file, ratios, strict=True):
            mixed.extend(_take(samples, round(total * r / sum(ratios)), rng))
    rng.shuffle(mixed)
    return mixed


def load_trainable(
    files: Sequence[Path], out_dir: Path, *, ratios: Sequence[float] | None = None, size: int | None = None,
    seed: int = 0,
) -> tuple[list[Sample], list[dict[str, str]]]:
    """``load_mixture`` without the samples whose images cannot be read; those go to ``out_dir/skipped.jsonl``."""
    from infimed.io.jsonl import write_jsonl

    samples, skipped = drop_unreadable(load_mixture(files, ratios=ratios, size=size, seed=seed))
    write_jsonl(Path(out_dir) / "skipped.jsonl", skipped)
    if skipped:
        import logging

        logging.getLogger("infimed.train").warning(
            "skipped %d samples with unreadable images (listed in %s), e.g. %s: %s",
            len(skipped), Path(out_dir) / "skipped.jsonl", skipped[0]["id"], skipped[0]["reason"],
        )
    if not samples:
        raise ValueError("no trainable samples: every image failed to load (see skipped.jsonl)")
    return samples, skipped


def drop_unreadable(samples: Sequence[Sample]) -> tuple[list[Sample], list[dict[str, str]]]:
    """Split off samples whose images are missing or undecodable (each reported with its reason).

    A broken image is a per-sample error: it must never crash a training run hours in, so images are
    decoded once up front (each path once) before the trainer starts.
    """
    from infimed.io.images import ImageLoadError, load_image

    status: dict[Path, str | None] = {}
    kept: list[Sample] = []
    dropped: list[dict[str, str]] = []
    for s in samples:
        reason = None
        for p in s.image_paths():
            if p not in status:
                try:
                    load_image(p)
                    status[p] = None
                except ImageLoadError as exc:
                    status[p] = str(exc)
            reason = reason or status[p]
        if reason is None:
            kept.append(s)
        else:
            dropped.append({"id": s.id, "reason": reason})
    return kept, dropped


def _take(samples: list[Sample], n: int, rng: random.Random) -> list[Sample]:
    """``n`` samples: whole passes over ``samples`` and a random subset for the remainder."""
    passes, rest = divmod(n, len(samples))
    return samples * passes + rng.sample(samples, rest)


def balance_answers(samples: Sequence[Sample], *, seed: int = 0) -> list[Sample]:
    """Oversample minority answers so every (answer type, answer) group is as large as the largest one.

    Open answers are left as they are (each free-text answer is its own class); only choice and yes/no
    answers are balanced, which is what a skewed diagnosis set (90% "yes") needs.
    """
    groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    out: list[Sample] = []
    for s in samples:
        if s.answer_type == "open":
            out.append(s)
        else:
            groups[(s.answer_type, s.answer)].append(s)
    rng = random.Random(seed)
    largest = max((len(g) for g in groups.values()), default=0)
    for key in sorted(groups):
        out.extend(_take(groups[key], largest, rng))
    rng.shuffle(out)
    return out


def answer_counts(samples: Sequence[Sample]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for s in samples:
        counts[f"{s.answer_type}:{s.answer}" if s.answer_type != "open" else "open"] += 1
    return dict(sorted(counts.items()))


def training_messages(sample: Sample, mode: Mode) -> tuple[list[dict[str, Any]], list[str]]:
    """The chat (image parts as bare ``{"type": "image"}`` placeholders) and the image paths, in order."""
    msgs = messages(sample, mode, with_answer=True)
    paths: list[str] = []
    for msg in msgs:
        parts = []
        for part in msg["content"]:
            if part["type"] == "image":
                paths.append(part["path"])
                parts.append({"type": "image"})
            else:
                parts.append(part)
        msg["content"] = parts
    return msgs, paths


def sft_dataset(samples: Sequence[Sample], *, mode: Mode = "direct") -> Dataset:
    """A ``datasets.Dataset`` for SFTTrainer: ``{"messages": <chat JSON>, "images": [path, ...]}`` per row.

    Image rows are encoded (chat template, tokens, pixels) by ``infimed.train.collate.EncodedVisionCollator``
    the first time they are drawn, so nothing is decoded or copied into Arrow up front and a run over hundreds
    of thousands of samples starts at once. A set without any image (text QA) has only a ``messages`` column of
    chats, so TRL treats it as text and tokenizes it once up front (and can pack it).
    """
    from datasets import Dataset

    chats, paths = zip(*(training_messages(s, mode) for s in samples), strict=True) if samples else ((), ())
    if any(paths):
        return Dataset.from_dict({"messages": [json.dumps(c) for c in chats], "images": list(paths)})
    return Dataset.from_dict({"messages": list(chats)})


def has_images(dataset: Dataset) -> bool:
    return "images" in dataset.column_names


def load_images(paths: Sequence[str]) -> list[Any]:
    from infimed.io.images import load_image

    return [load_image(p) for p in paths]


def grpo_dataset(samples: Sequence[Sample], *, mode: Mode = "reasoning") -> Dataset:
    """Rows ``{"prompt": [user turn], "images": [...], answer columns}`` for GRPOTrainer and the rewards.

    The reward functions receive ``answer``, ``answer_type``, ``options`` (JSON), ``question`` and ``id`` as
    columns.
    """
    from datasets import Dataset

    rows: dict[str, list[Any]] = {k: [] for k in ("prompt_json", "image_paths", "id", "answer", "answer_type", "options",
                                                       "question")}
    for s in samples:
        chat, paths = training_messages(s, mode)
        rows["prompt_json"].append(json.dumps(chat[:1]))
        rows["image_paths"].append(paths)
        rows["id"].append(s.id)
        rows["answer"].append(s.answer)
        rows["answer_type"].append(s.answer_type)
        rows["options"].append(json.dumps(s.options) if s.options else "")
        rows["question"].append(s.question)
    ds = Dataset.from_dict(rows)
    ds.set_transform(_materialise_grpo)
    return ds


def _materialise_grpo(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
    out = {k: v for k, v in batch.items() if k not in ("prompt_json", "image_paths")}
    out["prompt"] = [json.loads(p) for p in batch["prompt_json"]]
    out["images"] = [load_images(p) for p in batch["image_paths"]]
    return out
