"""SFT batches from rows encoded once: chat template, tokenization and image processing per row, not per step.

TRL's vision collator renders the chat template, tokenizes and processes every image of every example at
every step. ``EncodedVisionCollator`` does it once per row, with the same processor call (its encoding of a row
is TRL's), and keeps the token ids and masks; later steps and epochs only pad and concatenate. The processed
pixels are kept per image path up to ``max_image_bytes`` (images shared by several questions are stored once);
past that budget an image is decoded and processed again when its row is drawn, as TRL does. Encodings live
in a per-process store keyed by the processor's fingerprint (vocabulary, chat template, image settings), so
later runs in the same process with the same processor (the quickstart's arms and seeds) reuse them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

_STORES: dict[str, dict[str, Any]] = {}
SEQUENCE_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids", "assistant_masks")
PAD_VALUES = {"input_ids": None, "labels": -100}  # None: the tokenizer's pad id; every other key pads with 0


class EncodedVisionCollator:
    """``collator(rows) -> batch`` for rows ``{"messages": <JSON of the chat>, "images": [path, ...]}``."""

    def __init__(self, processor: Any, *, pad_token_id: int, assistant_only_loss: bool = True,
                 max_length: int | None = None, chat_template: str | None = None,
                 max_image_bytes: int = 2 * 1024**3) -> None:
        self.processor = processor
        self.pad_token_id = pad_token_id
        self.assistant_only_loss = assistant_only_loss
        self.max_length = max_length
        self.chat_template = chat_template
        self.max_image_bytes = max_image_bytes
        store = _STORES.setdefault(_fingerprint(processor, chat_template, assistant_only_loss, max_length),
                                   {"rows": {}, "images": {}, "image_bytes": 0})
        self.rows: dict[str, dict[str, Any]] = store["rows"]
        self.images: dict[str, dict[str, Any]] = store["images"]
        self._store = store
        self.encoded = 0  # rows this collator encoded (chat template + tokenizer), for tests and benchmarks

    @property
    def image_bytes(self) -> int:
        return int(self._store["image_bytes"])

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        rows = self._encode_new(examples)
        width = max(len(r["input_ids"]) for r in rows)
        batch: dict[str, Any] = {}
        for key in [k for k in SEQUENCE_KEYS if k in rows[0]] + ["labels"]:
            pad = PAD_VALUES.get(key, 0)
            pad = self.pad_token_id if pad is None else pad
            batch[key] = torch.stack([_pad(r[key], width, pad) for r in rows])
        pixels = [self._pixels(path) for r in rows for path in r["images"]]
        if pixels:
            for key in pixels[0]:
                batch[key] = torch.cat([p[key] for p in pixels])
        batch.pop("assistant_masks", None)
        return batch

    def _encode_new(self, examples: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The batch's rows, encoding those not seen yet in one processor call (one call per row costs ~2x)."""
        keys = [_key(ex) for ex in examples]
        new = {k: ex for k, ex in zip(keys, examples, strict=True) if k not in self.rows}
        if new:
            self.rows.update(zip(new, self._encode(list(new.values())), strict=True))
        return [self.rows[k] for k in keys]

    def _encode(self, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from trl.data_utils import prepare_multimodal_messages

        from infimed.train.data import load_images

        paths = [[str(p) for p in ex.get("images") or []] for ex in examples]
        chats = [prepare_multimodal_messages(json.loads(ex["messages"]), images=load_images(p))
                 for ex, p in zip(examples, paths, strict=True)]
        kwargs = {"padding": True, "padding_side": "right", "truncation": self.max_length is not None,
                  "max_length": self.max_length, "add_special_tokens": False}
        out = self.processor.apply_chat_template(
            chats, chat_template=self.chat_template, tokenize=True, return_dict=True, return_tensors="pt",
            return_assistant_tokens_mask=self.assistant_only_loss, processor_kwargs=kwargs,
        )
        self._keep_pixels([p for row in paths for p in row], {k: v for k, v in out.items() if k not in SEQUENCE_KEYS})
        rows = []
        for i, row_paths in enumerate(paths):
            length = int(out["attention_mask"][i].sum())
            row: dict[str, Any] = {k: out[k][i, :length].clone() for k in SEQUENCE_KEYS if k in out}
            labels = row["input_ids"].clone()
            if self.assistant_only_loss:
                labels[row["assistant_masks"] == 0] = -100
            row["labels"] = labels
            row["images"] = row_paths
            rows.append(row)
        self.encoded += len(rows)
        return rows

    def _keep_pixels(self, paths: list[str], processed: dict[str, Any]) -> None:
        """Split the row's processed images per image (``image_grid_thw`` rows) and keep those within budget."""
        if not paths or "image_grid_thw" not in processed:
            return
        grid = processed["image_grid_thw"]
        sizes = grid.prod(-1).tolist()
        start = 0
        for i, (path, size) in enumerate(zip(paths, sizes, strict=True)):
            if path not in self.images:
                entry = {"pixel_values": processed["pixel_values"][start:start + size].clone(),
                         "image_grid_thw": grid[i:i + 1].clone()}
                cost = entry["pixel_values"].element_size() * entry["pixel_values"].numel()
                if self.image_bytes + cost <= self.max_image_bytes:
                    self.images[path] = entry
                    self._store["image_bytes"] += cost
            start += size

    def _pixels(self, path: str) -> dict[str, Any]:
        entry = self.images.get(path)
        if entry is not None:
            return entry
        from infimed.train.data import load_images

        out = self.processor.image_processor(images=load_images([path]), return_tensors="pt")
        return {"pixel_values": out["pixel_values"], "image_grid_thw": out["image_grid_thw"]}


def _pad(values: Any, width: int, pad: int) -> Any:
    import torch

    if len(values) == width:
        return values
    return torch.cat([values, torch.full((width - len(values),), pad, dtype=values.dtype)])


def _key(example: dict[str, Any]) -> str:
    return "\0".join([example["messages"], *(str(p) for p in example.get("images") or [])])


def clear_encoding_stores() -> None:
    """Forget every stored encoding (tests; a long-lived process that trains on many datasets)."""
    _STORES.clear()


def _fingerprint(processor: Any, chat_template: str | None, assistant_only_loss: bool,
                 max_length: int | None) -> str:
    return processor_fingerprint(processor, chat_template or "", str(assistant_only_loss), str(max_length))


def processor_fingerprint(processor: Any, *extra: str) -> str:
    """What a rendered or encoded prompt depends on: the vocabulary, the chat template, the image settings."""
    import hashlib

    tokenizer = getattr(processor, "tokenizer", processor)
    image = getattr(processor, "image_processor", None)
    parts = [json.dumps(tokenizer.get_vocab(), sort_keys=True), str(getattr(processor, "chat_template", "") or ""),
             image.to_json_string() if image is not None else "", *extra]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
