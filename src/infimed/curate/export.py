"""Exports of the curated set for the tools people train with, built from the same prompts as evaluation.

- ``export/llamafactory/``: ``infimed_curated.json`` in LLaMA-Factory's sharegpt layout (``messages`` with
  role/content, one ``<image>`` token per image at the start of the user turn, ``images`` relative to that
  folder, which is LLaMA-Factory's default ``media_dir``) and the ``dataset_info.json`` entry
  ``infimed_curated`` that registers it: point ``dataset_dir`` at the folder and use ``dataset: infimed_curated``.
- ``export/trl/train.jsonl``: TRL's conversational vision format: ``messages`` whose user content is
  ``[{"type": "image"}, ..., {"type": "text", ...}]`` and ``images`` (paths relative to that folder).
  ``load_trl_export`` returns a ``datasets.Dataset`` with the images decoded, ready for ``SFTTrainer``.
Both take the user turn from ``infimed.prompts.messages(sample, mode, with_answer=True)``, so training
sees exactly the prompt that evaluation sends and the target the answer checker reads.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from infimed.io.jsonl import atomic_open, copy_private, read_samples, write_json
from infimed.prompts import Mode, messages
from infimed.schema import Sample

DATASET_NAME = "infimed_curated"
SHAREGPT_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}


def place_images(samples: Iterable[Sample], out_dir: Path, mode: str) -> Iterator[Sample]:
    """Rewrite image paths for ``out_dir/curated.jsonl``: relative to it, absolute, or copied under it."""
    out_dir = Path(out_dir).resolve()
    for s in samples:
        paths = [Path(p) for p in s.images]
        if mode == "absolute":
            new = [str(p) for p in paths]
        elif mode == "relative":
            new = [os.path.relpath(p, out_dir) for p in paths]
        elif mode == "copy":
            new = [_copy_image(p, out_dir) for p in paths]
        else:
            raise ValueError(f"images: unknown mode {mode!r} (relative, absolute, copy)")
        yield s.model_copy(update={"images": new}).with_base_dir(out_dir)


def _copy_image(path: Path, out_dir: Path) -> str:
    name = hashlib.blake2b(str(path).encode(), digest_size=8).hexdigest() + path.suffix.lower()
    target = out_dir / "images" / name
    if not target.exists():
        copy_private(path, target)
    return f"images/{name}"


def _rel(paths: list[Path], folder: Path) -> list[str]:
    return [os.path.relpath(p.resolve(), folder.resolve()) for p in paths]


def sharegpt_row(sample: Sample, folder: Path, mode: Mode = "direct") -> dict[str, Any]:
    """One LLaMA-Factory sharegpt record: ``<image>`` tokens, then the prompt text; the target as assistant."""
    user, assistant = messages(sample, mode, with_answer=True)
    n_images = sum(1 for part in user["content"] if part["type"] == "image")
    text = "".join(part["text"] for part in user["content"] if part["type"] == "text")
    answer = "".join(part["text"] for part in assistant["content"] if part["type"] == "text")
    return {
        "messages": [{"role": "user", "content": "<image>" * n_images + text},
                     {"role": "assistant", "content": answer}],
        "images": _rel(sample.image_paths(), folder),
    }


def trl_row(sample: Sample, folder: Path, mode: Mode = "direct") -> dict[str, Any]:
    """One TRL conversational record: image placeholders in the user content, image paths beside."""
    msgs = messages(sample, mode, with_answer=True)
    for m in msgs:
        m["content"] = [{"type": "image"} if p["type"] == "image" else p for p in m["content"]]
    return {"id": sample.id, "messages": msgs, "images": _rel(sample.image_paths(), folder)}


def export_sharegpt(curated: Path, folder: Path, mode: Mode = "direct") -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    with atomic_open(folder / f"{DATASET_NAME}.json") as fh:  # a JSON array, written row by row
        fh.write("[\n")
        for s in read_samples(curated):
            fh.write((",\n" if n else "") + json.dumps(sharegpt_row(s, folder, mode), ensure_ascii=False))
            n += 1
        fh.write("\n]\n")
    info = {DATASET_NAME: {"file_name": f"{DATASET_NAME}.json", "formatting": "sharegpt",
                           "columns": {"messages": "messages", "images": "images"}, "tags": SHAREGPT_TAGS}}
    write_json(folder / "dataset_info.json", info)
    return {"format": "llamafactory-sharegpt", "path": str(folder / f"{DATASET_NAME}.json"), "rows": n}


def export_trl(curated: Path, folder: Path, mode: Mode = "direct") -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    with atomic_open(folder / "train.jsonl") as fh:
        for s in read_samples(curated):
            fh.write(json.dumps(trl_row(s, folder, mode), ensure_ascii=False) + "\n")
            n += 1
    return {"format": "trl-conversational", "path": str(folder / "train.jsonl"), "rows": n}


def export_all(out_dir: Path, formats: Sequence[str], mode: str = "direct") -> list[dict[str, Any]]:
    curated = out_dir / "curated.jsonl"
    m: Mode = "reasoning" if mode == "reasoning" else "direct"
    done = []
    for fmt in formats:
        if fmt == "sharegpt":
            done.append(export_sharegpt(curated, out_dir / "export" / "llamafactory", m))
        elif fmt == "trl":
            done.append(export_trl(curated, out_dir / "export" / "trl", m))
        else:
            raise ValueError(f"exports: unknown format {fmt!r} (sharegpt, trl)")
    return done


def load_trl_export(path: str | Path) -> Any:
    """The TRL export as a ``datasets.Dataset`` with ``images`` decoded (PIL), for ``SFTTrainer``.

    Images are decoded when a row is read, by ``infimed.io.images`` (``datasets.Image`` would open them with
    bare Pillow: a 16-bit X-ray PNG white, an EXIF-rotated JPEG sideways).
    """
    from datasets import Dataset

    from infimed.io.images import load_image

    path = Path(path)
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            row["images"] = [str((path.parent / p).resolve()) for p in row["images"]]
            rows.append(row)
    ds = Dataset.from_list(rows)
    ds.set_transform(lambda batch: {**batch, "images": [[load_image(p) for p in ps] for ps in batch["images"]]})
    return ds
