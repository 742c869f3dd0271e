"""The alignment stage: train the vision-language projector on image-caption / image-report pairs.

Stage one of the usual VLM recipe (LLaVA-style pre-alignment): the vision tower and the language model stay
frozen and only the projector (the merger) learns to map image features into the language model's space,
on pairs whose target is the caption or report (``answer_type: report``, e.g. ``infimed data
synth-captions`` curated with ``--config captions``). It is the SFT recipe (``sft.train_sft``) with full
fine-tuning of the projector alone and the bare text as target; the saved folder is a whole model, so
``infimed train sft --model OUT`` starts the next stage from it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from infimed.io.jsonl import iter_records
from infimed.train.sft import train_sft


def check_pairs(data: list[Path]) -> int:
    """The number of caption / report records in ``data``; a file with other answer types is refused."""
    n = 0
    for path in data:
        types: Counter[str] = Counter()
        for rec in iter_records(path, check_images=False):
            if rec.sample is not None:
                types[rec.sample.answer_type] += 1
        other = {k: v for k, v in types.items() if k != "report"}
        if other:
            raise ValueError(f"{path}: the alignment stage trains on caption / report pairs (answer_type report); "
                             f"the file also holds {dict(sorted(other.items()))}")
        n += types["report"]
    if n == 0:
        raise ValueError(f"{', '.join(map(str, data))}: no caption / report records to align on")
    return n


def train_align(
    model: str | Path, data: list[Path], out_dir: Path, *, train_vision: bool = False, train_language: bool = False,
    epochs: float = 1.0, max_steps: int = -1, learning_rate: float = 1e-3, batch_size: int = 8, **options: Any,
) -> dict[str, Any]:
    """Train the projector of ``model`` on caption / report pairs (vision tower and LLM frozen unless asked)."""
    check_pairs([Path(p) for p in data])
    return train_sft(
        model, data, out_dir, mode="direct", method="full", freeze_vision=not train_vision, freeze_projector=False,
        freeze_language=not train_language, epochs=epochs, max_steps=max_steps, learning_rate=learning_rate,
        batch_size=batch_size, **options,
    )
