"""A tiny random Qwen2.5-VL checkpoint (model + tokenizer + processor) built offline in seconds.

Tests, CI and the demo use it wherever a real checkpoint (e.g. Qwen2.5-VL-3B-Instruct) would go: the saved
folder has the real architecture and the stock processor classes, so
``AutoModelForImageTextToText.from_pretrained(d)`` and ``AutoProcessor.from_pretrained(d)`` load it and every
code path (chat template, image tokens, mrope positions, generate, training) is the real one.

Sizes: text hidden 128 (4 heads of 32, 2 kv heads, mrope sections 4+6+6 = head_dim/2), 2 layers, vision
tower depth 2 / hidden 64, patch 14, merge 2; square images of any size are resized to exactly 56x56 pixels,
i.e. 4x4 patches merged into 4 image tokens (pixel limits 56*56 -+ 1). Non-square images keep Qwen's
aspect-preserving resize and get 2 to ~14 tokens; very elongated ones (ratio >= 200) are rejected by it. The vocabulary is a locally trained byte-level BPE of ~1.6k tokens.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from infimed.model.tokenizer import build_tokenizer

TEXT_DEFAULTS: dict[str, Any] = {
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 256,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0,
    # 5x the stock 0.02: at this width the stock init leaves attention uniform, the gradient reaching the
    # image tokens vanishes within ~20 steps and the model learns answer priors only (it never fits even
    # 117 one-question samples); at 0.1 it fits them and learns image-dependent answers
    "initializer_range": 0.1,
}
VISION_DEFAULTS: dict[str, Any] = {
    "depth": 2,
    "hidden_size": 64,
    "num_heads": 2,
    "intermediate_size": 128,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [1],
    "tokens_per_second": 2,
    "initializer_range": 0.1,
}
PATCH = 14
MERGE = 2


def chat_template() -> str:
    """Qwen2.5-VL's chat template with ``{% generation %}`` markers for assistant-only loss."""
    return resources.files("infimed.model").joinpath("chat_template.jinja").read_text(encoding="utf-8")


def mrope_section(head_dim: int) -> list[int]:
    """Qwen's temporal/height/width split of the rotary half-dimension (16/24/24 of 64 at head_dim 128)."""
    if head_dim % 2:
        raise ValueError(f"head_dim: must be even, got {head_dim}")
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    return [t, h, half - t - h]


def build_tiny_model(
    out_dir: Path,
    seed: int = 0,
    *,
    hidden_size: int = 128,
    num_layers: int = 2,
    image_size: int = 56,
    vocab_size: int = 2048,
    tie_embeddings: bool = False,
    **overrides: Any,
) -> Path:
    """Build, save and return ``out_dir`` holding a tiny random Qwen2.5-VL model and its processor.

    ``hidden_size``/``num_layers`` size the language model, ``image_size`` (a multiple of 28) fixes the
    processor's ``min_pixels = max_pixels = image_size**2``, ``vocab_size`` is the BPE training target,
    ``tie_embeddings`` shares one matrix between the input embeddings and the LM head.
    Other keyword ``overrides`` go into the text config (e.g. ``num_attention_heads=8``), or into the vision
    config when prefixed ``vision_`` (e.g. ``vision_depth=4``). Same seed -> identical weights and tokenizer.
    """
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    factor = PATCH * MERGE
    if image_size < factor or image_size % factor:
        raise ValueError(f"image_size: must be a positive multiple of {factor}, got {image_size}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    tokenizer = build_tokenizer(vocab_size=vocab_size, seed=seed, chat_template=chat_template())
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in (
        "<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>",
    )}

    text = {**TEXT_DEFAULTS, "hidden_size": hidden_size, "num_hidden_layers": num_layers}
    vision = dict(VISION_DEFAULTS)
    for key, value in overrides.items():
        if key.startswith("vision_"):
            vision[key.removeprefix("vision_")] = value
        else:
            text[key] = value
    heads = int(text["num_attention_heads"])
    if text["hidden_size"] % heads:
        raise ValueError(f"hidden_size: {text['hidden_size']} is not divisible by num_attention_heads {heads}")
    vision["out_hidden_size"] = text["hidden_size"]
    text.update(
        vocab_size=len(tokenizer),
        max_window_layers=text["num_hidden_layers"],
        rope_scaling={"type": "mrope", "mrope_section": mrope_section(text["hidden_size"] // heads)},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tie_embeddings,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.bos_token_id = ids["<|endoftext|>"]

    # +-1 pixel keeps smart_resize's float rounding from landing one patch row off (28 or 84 pixels)
    # for square images; every square image then becomes exactly image_size x image_size.
    pixels = image_size * image_size
    size = {"shortest_edge": pixels - 1, "longest_edge": pixels + 1}
    image_processor = Qwen2VLImageProcessor(size=size, patch_size=PATCH, merge_size=MERGE, temporal_patch_size=2)
    video_processor = Qwen2VLVideoProcessor(size=size, patch_size=PATCH, merge_size=MERGE, temporal_patch_size=2)
    processor = Qwen2_5_VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, video_processor=video_processor,
        chat_template=chat_template(),
    )
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
