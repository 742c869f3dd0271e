"""The vision-feature cache on the tiny Qwen2.5-VL: same features, loss and projector gradient as without it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from infimed.model.tiny import build_tiny_model
from infimed.train.vision_cache import clear_vision_caches, install_vision_cache

# (width, height). Attention windows span 8x8 patches and the model's own pixel limits (56x56) keep every
# picture within one window row, where the window permutation the cache undoes is the identity; these wider
# limits let 'big' (16x16 patches, 4 windows) and 'panorama' (6x18 patches, 3 windows) exercise it.
# 'a' to 'c' are 4x4 patches, 'd' 6x6, 'wide' 4x8.
LIMITS = {"shortest_edge": 56 * 56, "longest_edge": 224 * 224}
SIZES = {"a": (56, 56), "b": (64, 64), "c": (60, 60), "d": (80, 80),
         "wide": (112, 56), "panorama": (252, 84), "big": (224, 224)}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("vcache_tiny"), seed=0)


@pytest.fixture(scope="module")
def processor(tiny_dir: Path) -> Any:
    return AutoProcessor.from_pretrained(tiny_dir)


@pytest.fixture(autouse=True)
def _empty_stores() -> None:
    clear_vision_caches()


def load(tiny_dir: Path, *, train_projector: bool = False) -> Any:
    model = AutoModelForImageTextToText.from_pretrained(tiny_dir).eval()
    model.model.visual.requires_grad_(False)
    model.model.visual.merger.requires_grad_(train_projector)
    return model


def image(name: str) -> Image.Image:
    width, height = SIZES[name]
    rng = np.random.default_rng(sorted(SIZES).index(name))
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


def pixels(processor: Any, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    out = processor.image_processor(images=[image(n) for n in names], size=LIMITS, return_tensors="pt")
    return out["pixel_values"], out["image_grid_thw"]


def features(model: Any, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return torch.cat(model.model.get_image_features(*batch).pooler_output)


def test_grids_cover_non_square_and_multi_window_images(processor: Any) -> None:
    grids = pixels(processor, ["a", "c", "d", "wide", "panorama", "big"])[1].tolist()
    assert grids == [[1, 4, 4], [1, 4, 4], [1, 6, 6], [1, 4, 8], [1, 6, 18], [1, 16, 16]]


def test_cached_features_equal_uncached_then_only_hits(tiny_dir: Path, processor: Any) -> None:
    model = load(tiny_dir)
    mixed = pixels(processor, ["a", "b", "a", "wide", "big", "panorama", "b"])
    with torch.no_grad():
        expected = features(model, mixed)
        window_order = model.model.visual(*mixed).last_hidden_state
    cache = install_vision_cache(model)
    with torch.no_grad():
        features(model, pixels(processor, ["a", "wide"]))
        assert cache.stats() | {"bytes": 0} == {"hits": 0, "misses": 2, "bypassed": 0, "entries": 2, "bytes": 0}
        got = features(model, mixed)  # a and wide stored; b twice, big and panorama new
        assert cache.stats()["hits"] == 4 and cache.stats()["misses"] == 5
        again = features(model, mixed)
        natural = model.model.visual(*mixed).last_hidden_state
    assert cache.stats() | {"bytes": 0} == {"hits": 4 + 7 + 7, "misses": 5, "bypassed": 0, "entries": 5, "bytes": 0}
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(again, expected, atol=1e-5, rtol=0)
    # big's and panorama's states come back in natural order: the same rows, permuted by merge unit
    assert not torch.allclose(natural, window_order, atol=1e-5)
    torch.testing.assert_close(natural.sort(dim=0).values, window_order.sort(dim=0).values, atol=1e-5, rtol=0)


def test_autocast_is_part_of_the_key(tiny_dir: Path, processor: Any) -> None:
    model = load(tiny_dir)
    batch = pixels(processor, ["a", "panorama"])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = features(model, batch)
    cache = install_vision_cache(model)
    with torch.no_grad():
        plain = features(model, batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = features(model, batch)
    assert cache.stats()["misses"] == 4 and plain.dtype == torch.float32 and got.dtype == torch.bfloat16
    torch.testing.assert_close(got, expected)


def test_projector_learns_through_the_cache_and_the_tower_gets_no_gradient(tiny_dir: Path, processor: Any) -> None:
    batch = pixels(processor, ["a", "big", "d", "panorama"])

    def grads(model: Any) -> dict[str, torch.Tensor]:
        features(model, batch).pow(2).sum().backward()
        visual = model.model.visual
        assert all(p.grad is None for n, p in visual.named_parameters() if not n.startswith("merger."))
        return {n: p.grad.clone() for n, p in visual.merger.named_parameters()}

    expected = grads(load(tiny_dir, train_projector=True))
    model = load(tiny_dir, train_projector=True)
    install_vision_cache(model)
    with torch.no_grad():
        features(model, batch)  # fill the store: the gradient below flows through cached states only
    got = grads(model)
    assert got.keys() == expected.keys() and all(g.abs().sum() > 0 for g in got.values())
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-4, rtol=1e-4)


def test_full_forward_loss_is_unchanged_under_gradient_checkpointing(tiny_dir: Path, processor: Any) -> None:
    chats = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]},
              {"role": "assistant", "content": [{"type": "text", "text": a}]}]
             for q, a in (("What modality?", "CT"), ("Is it normal?", "yes"))]
    texts = [processor.apply_chat_template(c, tokenize=False) for c in chats]
    processor.tokenizer.padding_side = "right"
    batch = processor(text=texts, images=[image("big"), image("b")], size=LIMITS, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)

    def losses(model: Any, steps: int) -> list[float]:
        model.train()
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
        out = []
        for _ in range(steps):
            loss = model(**batch, labels=labels).loss
            loss.backward()
            out.append(loss.item())
        return out

    expected = losses(load(tiny_dir, train_projector=True), 1)[0]
    model = load(tiny_dir, train_projector=True)
    cache = install_vision_cache(model)
    got = losses(model, 2)
    assert got == pytest.approx([expected, expected], abs=1e-5)
    assert cache.stats()["misses"] == 2 and cache.stats()["hits"] == 2
    assert model.model.visual.merger.mlp[0].weight.grad is not None


def test_refuses_a_trainable_tower_and_unsupported_models(tiny_dir: Path, processor: Any) -> None:
    model = AutoModelForImageTextToText.from_pretrained(tiny_dir)  # everything requires grad
    with pytest.raises(ValueError, match=r"require grad \(patch_embed\.proj\.weight, blocks\.0\."):
        install_vision_cache(model)
    model = load(tiny_dir)
    cache = install_vision_cache(model)
    with pytest.raises(ValueError, match="already has a vision cache"):
        install_vision_cache(model)
    model.model.visual.blocks[1].mlp.up_proj.weight.requires_grad_(True)
    with pytest.raises(RuntimeError, match="requires grad"):
        features(model, pixels(processor, ["a"]))
    cache.uninstall()

    class Other(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.visual = torch.nn.Linear(2, 2)

    with pytest.raises(ValueError, match="unsupported model Other: its vision module is a Linear"):
        install_vision_cache(Other())
    with pytest.raises(ValueError, match="unsupported model Linear: no vision module"):
        install_vision_cache(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="max_bytes"):
        install_vision_cache(model, max_bytes=-1)


def test_copies_of_one_checkpoint_share_features_and_other_tower_weights_do_not(tiny_dir: Path,
                                                                                processor: Any) -> None:
    batch = pixels(processor, ["a", "big"])
    first, second, other, new_projector = (load(tiny_dir) for _ in range(4))
    with torch.no_grad():
        other.model.visual.blocks[0].mlp.up_proj.weight.add_(0.05)
        new_projector.model.visual.merger.mlp[2].weight.mul_(2.0)
        expected = {"other": features(other, batch), "new_projector": features(new_projector, batch)}
        caches = {name: install_vision_cache(m) for name, m in
                  (("first", first), ("second", second), ("other", other), ("new_projector", new_projector))}
        reference = features(first, batch)
        assert caches["first"].stats()["misses"] == 2
        torch.testing.assert_close(features(second, batch), reference)
        assert caches["second"].stats()["hits"] == 2 and caches["second"].stats()["misses"] == 0
        # only the merger differs: the stored tower states serve it, its own merger makes its features
        torch.testing.assert_close(features(new_projector, batch), expected["new_projector"], atol=1e-5, rtol=0)
        assert caches["new_projector"].stats()["misses"] == 0
        torch.testing.assert_close(features(other, batch), expected["other"], atol=1e-5, rtol=0)
    assert caches["other"].stats()["misses"] == 2 and caches["other"].fingerprint != caches["first"].fingerprint
    assert caches["first"].fingerprint == caches["second"].fingerprint == caches["new_projector"].fingerprint
    assert not torch.allclose(expected["other"], reference, atol=1e-3)


def test_max_bytes_bounds_the_store_least_recently_used_first(tiny_dir: Path, processor: Any) -> None:
    model = load(tiny_dir)
    one_square = 16 * model.config.vision_config.hidden_size * 4  # 16 patch states of float32
    cache = install_vision_cache(model, max_bytes=one_square * 3 // 2)
    with torch.no_grad():
        for name in ("a", "b", "c"):  # each evicts the one before
            features(model, pixels(processor, [name]))
        assert cache.stats()["entries"] == 1 and cache.stats()["bytes"] == one_square
        features(model, pixels(processor, ["c"]))
        assert cache.stats()["misses"] == 3 and cache.stats()["hits"] == 1
        expected = features(load(tiny_dir), pixels(processor, ["a", "big"]))
        got = features(model, pixels(processor, ["a", "big"]))  # big (16 squares) never fits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert cache.stats() | {"hits": 0} == {"hits": 0, "misses": 5, "bypassed": 0, "entries": 1, "bytes": one_square}
    cache.uninstall()
    nothing = install_vision_cache(model, max_bytes=0)  # the shared store shrinks to the new bound
    with torch.no_grad():
        features(model, pixels(processor, ["a", "a"]))
    assert nothing.stats() == {"hits": 1, "misses": 1, "bypassed": 0, "entries": 0, "bytes": 0}


def test_uninstall_restores_the_original_forward_and_bypass_keeps_it(tiny_dir: Path, processor: Any) -> None:
    model = load(tiny_dir)
    visual = model.model.visual
    batch = pixels(processor, ["big"])
    with torch.no_grad():
        original = visual(*batch, output_hidden_states=True)
        cache = install_vision_cache(model)
        bypassed = visual(*batch, output_hidden_states=True)
        assert cache.stats()["bypassed"] == 1 and len(bypassed.hidden_states) == len(original.hidden_states) > 1
        torch.testing.assert_close(bypassed.hidden_states, original.hidden_states)
        assert isinstance(visual(*batch, return_dict=False), tuple)
        cache.uninstall()
        cache.uninstall()  # a second call does nothing
        assert "forward" not in visual.__dict__
        restored = visual(*batch)
    assert cache.stats()["misses"] == 1 and cache.stats()["hits"] == 0
    torch.testing.assert_close(restored.last_hidden_state, original.last_hidden_state, atol=0, rtol=0)
    torch.testing.assert_close(restored.pooler_output, original.pooler_output, atol=0, rtol=0)
    install_vision_cache(model).uninstall()  # installable again


def test_found_through_peft_and_ddp_style_wrappers(tiny_dir: Path, processor: Any) -> None:
    from peft import LoraConfig, get_peft_model

    from infimed.train.components import LM_PROJECTIONS

    class Wrapper(torch.nn.Module):  # what DistributedDataParallel looks like from outside
        def __init__(self, module: torch.nn.Module) -> None:
            super().__init__()
            self.module = module

    peft_model = get_peft_model(load(tiny_dir), LoraConfig(r=4, target_modules=LM_PROJECTIONS))
    cache = install_vision_cache(Wrapper(peft_model))
    assert cache.visual is peft_model.get_base_model().model.visual
    with torch.no_grad():
        peft_model.get_base_model().model.get_image_features(*pixels(processor, ["a"]))
    assert cache.stats()["misses"] == 1
