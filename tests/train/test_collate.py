"""The encoded-once collator gives TRL's batches, encodes each row once and keeps each image once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from infimed.io.jsonl import write_jsonl
from infimed.train.collate import EncodedVisionCollator, clear_encoding_stores
from infimed.train.data import load_mixture, sft_dataset, training_messages


@pytest.fixture(scope="module")
def processor(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model_dir)


def _rows(tmp_path: Path) -> list[dict[str, str]]:
    rng = np.random.default_rng(0)
    for name, size in (("a.png", (56, 56)), ("b.png", (112, 56)), ("c.png", (70, 70))):
        Image.fromarray(rng.integers(0, 255, size[::-1], dtype=np.uint8), "L").save(tmp_path / name)
    rows = [
        {"id": "q1", "images": ["a.png"], "question": "Is there a lesion?", "answer": "yes", "answer_type": "yes_no"},
        {"id": "q2", "images": ["b.png"], "question": "Which modality?", "answer": "B", "answer_type": "choice",
         "options": {"A": "CT", "B": "MRI", "C": "X-ray"}},
        {"id": "q3", "images": ["a.png"], "question": "Which body region is shown in this image?",
         "answer": "chest", "answer_type": "open"},
        {"id": "q4", "images": ["c.png", "a.png"], "question": "Compare.", "answer": "no", "answer_type": "yes_no"},
    ]
    write_jsonl(tmp_path / "d.jsonl", rows)
    return list(sft_dataset(load_mixture([tmp_path / "d.jsonl"])))


def test_batches_equal_trls_collator(tmp_path: Path, processor) -> None:  # type: ignore[no-untyped-def]
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from infimed.train.data import load_images

    rows = _rows(tmp_path)
    ours = EncodedVisionCollator(processor, pad_token_id=processor.tokenizer.pad_token_id)(rows)
    trl_rows = [{"messages": json.loads(r["messages"]), "images": load_images(r["images"])} for r in rows]
    theirs = DataCollatorForVisionLanguageModeling(processor=processor, assistant_only_loss=True)(trl_rows)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key
    assert (ours["labels"] != -100).sum() > 0


def test_each_row_is_encoded_once_and_each_image_kept_once(tmp_path: Path, processor) -> None:  # type: ignore[no-untyped-def]
    clear_encoding_stores()
    rows = _rows(tmp_path)
    collate = EncodedVisionCollator(processor, pad_token_id=processor.tokenizer.pad_token_id)
    first = collate(rows)
    again = collate(list(reversed(rows)))
    assert collate.encoded == len(rows)
    assert len(collate.images) == 3  # a.png serves three rows, stored once
    later_run = EncodedVisionCollator(processor, pad_token_id=processor.tokenizer.pad_token_id)
    assert torch.equal(later_run(rows)["input_ids"], first["input_ids"]) and later_run.encoded == 0
    other_settings = EncodedVisionCollator(processor, pad_token_id=0, assistant_only_loss=False)
    other_settings(rows)
    assert other_settings.encoded == len(rows)
    assert torch.equal(again["input_ids"], first["input_ids"].flip(0))


def test_pixels_past_the_budget_are_processed_again(tmp_path: Path, processor) -> None:  # type: ignore[no-untyped-def]
    rows = _rows(tmp_path)
    kept = EncodedVisionCollator(processor, pad_token_id=0)(rows)
    clear_encoding_stores()
    lean = EncodedVisionCollator(processor, pad_token_id=0, max_image_bytes=0)
    lean(rows)
    out = lean(rows)  # second pass: rows cached, pixels recomputed
    assert lean.images == {} and lean.image_bytes == 0
    assert torch.equal(out["pixel_values"], kept["pixel_values"])
    assert torch.equal(out["image_grid_thw"], kept["image_grid_thw"])


def test_rows_without_images(tmp_path: Path, processor) -> None:  # type: ignore[no-untyped-def]
    sample_rows = _rows(tmp_path)
    chat, _ = training_messages(load_mixture([tmp_path / "d.jsonl"])[0], "direct")
    for msg in chat:
        msg["content"] = [p for p in msg["content"] if p["type"] != "image"]
    row = {"messages": json.dumps(chat), "images": []}
    out = EncodedVisionCollator(processor, pad_token_id=0)([row, sample_rows[0]])
    assert out["image_grid_thw"].shape[0] == 1


def test_label_token_loss_equals_the_models_own_loss(tmp_path: Path, processor, tiny_model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoModelForImageTextToText

    from infimed.train.components import label_token_loss

    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    batch = EncodedVisionCollator(processor, pad_token_id=processor.tokenizer.pad_token_id)(_rows(tmp_path))
    own = model(**batch).loss
    ours = label_token_loss(model, batch)
    assert torch.allclose(own, ours, atol=1e-5)
    ours.backward()
    assert model.lm_head.weight.grad is not None and model.lm_head.weight.grad.abs().sum() > 0
