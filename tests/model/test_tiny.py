"""The tiny Qwen2.5-VL kit: stock Auto classes load it; forward, generate, batching and training work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from infimed.model.tiny import build_tiny_model, mrope_section
from infimed.model.tokenizer import SPECIAL_TOKENS


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path) -> tuple[Any, Any]:
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval()
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    return model, processor


def _image(seed: int, size: tuple[int, int] = (64, 64)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8))


def _prompt(processor: Any, question: str) -> str:
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)


def test_config_matches_tokenizer_and_sizes(tiny_model_dir: Path, loaded: tuple[Any, Any]) -> None:
    model, processor = loaded
    tok = processor.tokenizer
    cfg = model.config
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert cfg.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert cfg.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert cfg.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert cfg.vision_end_token_id == tok.convert_tokens_to_ids("<|vision_end|>")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert model.generation_config.eos_token_id == tok.eos_token_id
    text = cfg.text_config
    assert text.vocab_size == len(tok) and 1000 < len(tok) <= 2048
    assert text.hidden_size == 128 and text.num_hidden_layers == 2 and cfg.vision_config.depth == 2
    head_dim = text.hidden_size // text.num_attention_heads
    assert sum(text.rope_parameters["mrope_section"]) == head_dim // 2
    assert cfg.vision_config.out_hidden_size == text.hidden_size
    size = json.loads((tiny_model_dir / "processor_config.json").read_text())["image_processor"]["size"]
    assert size == {"shortest_edge": 56 * 56 - 1, "longest_edge": 56 * 56 + 1}


def test_special_tokens_are_single_ids(loaded: tuple[Any, Any]) -> None:
    tok = loaded[1].tokenizer
    for special in SPECIAL_TOKENS:
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1, special
    text = "Is there a nodule in the left lung?\n<think>A mass.</think><answer>B</answer> 42"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert len(ids) < len(text) / 2  # the BPE learned medical words, not just bytes


def test_mrope_section_sums_to_half_head_dim() -> None:
    assert mrope_section(128) == [16, 24, 24]  # Qwen2.5-VL's own split
    for head_dim in (16, 32, 64, 96):
        assert sum(mrope_section(head_dim)) == head_dim // 2


@pytest.mark.parametrize("side", [10, 30, 56, 64, 300, 1000])
def test_any_square_image_is_four_tokens(loaded: tuple[Any, Any], side: int) -> None:
    processor = loaded[1]
    inputs = processor(text=[_prompt(processor, "Q")], images=[_image(side, (side, side))], return_tensors="pt")
    assert inputs["image_grid_thw"].tolist() == [[1, 4, 4]]


def test_generate_round_trip(loaded: tuple[Any, Any]) -> None:
    model, processor = loaded
    inputs = processor(text=[_prompt(processor, "What modality?")], images=[_image(0, (300, 300))],
                       return_tensors="pt")
    assert inputs["image_grid_thw"].tolist() == [[1, 4, 4]]
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 4
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    new = out[:, inputs["input_ids"].shape[1]:]
    assert 1 <= new.shape[1] <= 5
    assert isinstance(processor.batch_decode(new, skip_special_tokens=True)[0], str)


def test_batched_left_padding_matches_single(loaded: tuple[Any, Any]) -> None:
    model, processor = loaded
    processor.tokenizer.padding_side = "left"
    prompts = [_prompt(processor, "CT?"), _prompt(processor, "Is there a large mass in the left lower lobe?")]
    images = [_image(1), _image(2)]
    batch = processor(text=prompts, images=images, return_tensors="pt", padding=True)
    assert batch["attention_mask"][0, 0] == 0  # the shorter prompt is padded on the left
    with torch.no_grad():
        batched = model(**batch).logits[:, -1]
        for i in range(2):
            single = processor(text=prompts[i:i + 1], images=images[i:i + 1], return_tensors="pt")
            torch.testing.assert_close(batched[i], model(**single).logits[0, -1], atol=1e-4, rtol=1e-4)
    out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    single = processor(text=prompts[:1], images=images[:1], return_tensors="pt")
    alone = model.generate(**single, max_new_tokens=4, do_sample=False)
    assert out[0, batch["input_ids"].shape[1]:].tolist() == alone[0, single["input_ids"].shape[1]:].tolist()


def test_training_steps_lower_loss(tiny_model_dir: Path) -> None:
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    processor.tokenizer.padding_side = "right"
    chats = [
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]},
         {"role": "assistant", "content": [{"type": "text", "text": a}]}]
        for q, a in (("What modality?", "CT"), ("Is it normal?", "yes"))
    ]
    texts = [processor.apply_chat_template(c, tokenize=False) for c in chats]
    batch = processor(text=texts, images=[_image(3), _image(4)], return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(3):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def test_chat_template_renders_like_qwen(loaded: tuple[Any, Any]) -> None:
    processor = loaded[1]
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "A CT."}]}]
    assert processor.apply_chat_template(msgs, tokenize=False) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe.<|im_end|>\n"
        "<|im_start|>assistant\nA CT.<|im_end|>\n"
    )
    custom = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert processor.apply_chat_template(custom, tokenize=False, add_generation_prompt=True) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    two = [{"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Compare."}]}]
    rendered = processor.apply_chat_template(two, tokenize=False, add_vision_id=True)
    assert "Picture 1: <|vision_start|><|image_pad|><|vision_end|>Picture 2: <|vision_start|>" in rendered


def test_assistant_tokens_mask_covers_only_the_answer(loaded: tuple[Any, Any]) -> None:
    processor = loaded[1]
    msgs = [{"role": "user", "content": [{"type": "image", "image": _image(5)}, {"type": "text", "text": "Q?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "<answer>B</answer>"}]}]
    out = processor.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"][0], out["assistant_masks"][0]
    answer = [i for i, m in zip(ids, mask, strict=True) if m]
    assert processor.tokenizer.decode(answer) == "<answer>B</answer><|im_end|>"


def test_overrides_and_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="image_size"):
        build_tiny_model(tmp_path / "bad", image_size=50)
    with pytest.raises(ValueError, match="vocab_size"):
        build_tiny_model(tmp_path / "bad", vocab_size=100)
    with pytest.raises(ValueError, match="num_attention_heads"):
        build_tiny_model(tmp_path / "bad", hidden_size=100, num_attention_heads=3)


def test_tied_embeddings_share_one_matrix(tmp_path: Path) -> None:
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(build_tiny_model(tmp_path / "tied", tie_embeddings=True))
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def test_trl_sees_generation_markers_and_trained_stop_token(loaded: tuple[Any, Any]) -> None:
    """TRL's assistant-only SFT uses our template as is (no template swap, im_end inside the loss mask)."""
    from trl.chat_template_utils import has_generation_markers, is_chat_template_stop_token_trained

    processor = loaded[1]
    assert has_generation_markers(processor.chat_template)
    assert is_chat_template_stop_token_trained(processor)
