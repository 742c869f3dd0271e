"""Training-like steps on the tiny model with and without ``infimed.train.vision_cache``: time in the vision module.

Each mode loads the tiny Qwen2.5-VL afresh, freezes its vision tower (the projector trains unless
``--frozen-projector``), and runs ``--steps`` forward + backward + AdamW steps over batches drawn cyclically from
``--images`` fixed pictures (so every picture recurs once per epoch, as in SFT). Hooks on the vision module time
it (synchronised on CUDA). ``--image-size`` sets the processor's pixel limits (56 -> 16 patches, 224 -> 256),
``--vision-depth`` deepens the random tower to make it weigh more like a real one.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/vision_cache.py --steps 40 --image-size 224 --vision-depth 8

Measured on the shared 2-core CPU machine, 20 steps of 8 from 32 pictures (epoch 4 steps), projector trained:
defaults (16 patches, depth 2): vision module 11.5 -> 1.9 ms/step after the first epoch, steps 90 -> 81 ms;
224 px / depth 8 (256 patches): vision 124 -> 5.9 ms/step after the first epoch (3.8x over all 20 steps, first
epoch included), steps 273 -> 177 ms. What remains on a hit is hashing the pixels and the merger.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any


def make_batches(processor: Any, n_images: int, batch_size: int, size: int, steps: int) -> list[dict[str, Any]]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)) for _ in range(n_images)]
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is shown?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "A phantom."}]}]
    text = processor.apply_chat_template(chat, tokenize=False)
    limits = {"shortest_edge": size * size - 1, "longest_edge": size * size + 1}
    batches = []
    for step in range(steps):
        picked = [images[(step * batch_size + i) % n_images] for i in range(batch_size)]
        batch = processor(text=[text] * batch_size, images=picked, size=limits, return_tensors="pt", padding=True)
        batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        batches.append(batch)
    return batches


def run(model_dir: Path, batches: list[dict[str, Any]], *, cached: bool, train_projector: bool,
        device: str) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForImageTextToText

    from infimed.train.vision_cache import clear_vision_caches, install_vision_cache

    clear_vision_caches()
    model = AutoModelForImageTextToText.from_pretrained(model_dir).to(device).train()
    visual = model.model.visual
    visual.requires_grad_(False)
    visual.merger.requires_grad_(train_projector)
    cache = install_vision_cache(model) if cached else None
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    spent: list[float] = []  # per call of the vision module
    started = [0.0]

    def before(*_: Any) -> None:
        sync()
        started[0] = time.perf_counter()

    def after(*_: Any) -> None:
        sync()
        spent.append(time.perf_counter() - started[0])

    visual.register_forward_pre_hook(before)
    visual.register_forward_hook(after)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    t0 = time.perf_counter()
    for batch in batches:
        loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    sync()
    total = time.perf_counter() - t0
    stats = cache.stats() if cache else {"hits": 0, "misses": 0}
    return {"mode": "cache" if cached else "no cache", "vision": spent, "total_s": total,
            "steps": len(batches), "hits": stats["hits"], "misses": stats["misses"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40, help="training steps per mode")
    ap.add_argument("--images", type=int, default=32, help="distinct pictures, reused cyclically")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=56, help="square pixel size the processor resizes to")
    ap.add_argument("--vision-depth", type=int, default=2, help="blocks in the random vision tower")
    ap.add_argument("--frozen-projector", action="store_true", help="freeze the merger too")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.image_size < 28 or args.image_size % 28:
        ap.error(f"--image-size: must be a positive multiple of 28, got {args.image_size}")

    import torch
    from transformers import AutoProcessor

    from infimed.model.tiny import build_tiny_model

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="vision-cache-bench-") as tmp:
        model_dir = build_tiny_model(Path(tmp) / "tiny", seed=0, vision_depth=args.vision_depth,
                                     vision_fullatt_block_indexes=[args.vision_depth - 1])
        processor = AutoProcessor.from_pretrained(model_dir)
        processor.tokenizer.padding_side = "right"
        batches = make_batches(processor, args.images, args.batch_size, args.image_size, args.steps)
        rows = [run(model_dir, batches, cached=cached, train_projector=not args.frozen_projector, device=args.device)
                for cached in (False, True)]
    patches = (args.image_size // 14) ** 2
    epoch = -(-args.images // args.batch_size)  # steps until every picture was seen once
    print(f"{args.steps} steps of {args.batch_size} pictures ({patches} patches each) from {args.images} distinct "
          f"(an epoch is {epoch} steps), vision depth {args.vision_depth}, projector "
          f"{'frozen' if args.frozen_projector else 'trained'}, {args.device}:")
    print(f"  {'mode':<9} {'vision s':>9} {'ms/step':>8} {'after epoch 1':>14} {'step ms':>8} "
          f"{'hits':>6} {'misses':>7}")
    for r in rows:
        later = r["vision"][epoch:] or [float("nan")]
        r["vision_s"] = sum(r["vision"])
        print(f"  {r['mode']:<9} {r['vision_s']:>9.2f} {1000 * r['vision_s'] / r['steps']:>8.1f} "
              f"{1000 * sum(later) / len(later):>14.1f} {1000 * r['total_s'] / r['steps']:>8.1f} "
              f"{r['hits']:>6} {r['misses']:>7}")
    base, fast = rows
    print(f"  vision module {base['vision_s'] / max(fast['vision_s'], 1e-9):.1f}x faster, "
          f"steps {base['total_s'] / max(fast['total_s'], 1e-9):.2f}x faster (first epoch included)")


if __name__ == "__main__":
    main()
