"""The quickstart's training and evaluation levers, measured one at a time on the same data and model.

One SFT run of the tiny model on the phantom pool (``--steps`` steps, batch ``--batch-size``) under each
configuration, cumulatively: (0) TRL's path as it was (its vision collator renders the chat template,
tokenizes and processes every image at every step; its fused LM head computes log-probs, entropy and token
accuracy over every position); (1) rows encoded once (``train.collate.EncodedVisionCollator``); (2) the loss
from logits at label positions only (``train.components.label_token_loss``); (3) frozen vision features
computed once (``train.vision_cache``). Then the evaluation of ``--eval-questions`` validation questions
with and without the vision cache. ``--repeat`` runs each training configuration twice in one process (the
second run is what the quickstart's later arms and seeds see: encodings and features already stored).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/quickstart_stages.py --work /tmp/qs_stages
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

CONFIGS = ("0 TRL collator + fused loss", "1 + rows encoded once", "2 + loss at label positions",
           "3 + vision features cached")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/infimed_qs_stages"))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-questions", type=int, default=1000)
    parser.add_argument("--repeat", action="store_true", help="a second run per configuration (stores warm)")
    args = parser.parse_args()
    from infimed.quickstart import run as qs
    from infimed.quickstart.recipe import MODEL

    paths = qs.prepare_data(args.work, data=None, npz=None, n=3600, seed=0, val=args.eval_questions)
    base = args.work / "model"
    if not (base / "config.json").exists():
        from infimed.model.tiny import build_tiny_model

        build_tiny_model(base, seed=0, **MODEL)
    rows = []
    for level, name in enumerate(CONFIGS):
        for attempt in range(2 if args.repeat else 1):
            seconds = train_once(base, paths["train"], args.work / "run", level=level, steps=args.steps,
                                 batch_size=args.batch_size, fresh=attempt == 0)
            rows.append({"config": name + (" (2nd run)" if attempt else ""), "seconds": round(seconds, 1),
                         "ms_per_step": round(1000 * seconds / args.steps)})
            print(json.dumps(rows[-1]))
    for cache in (False, True):
        seconds = eval_once(base, paths["val"], args.work / "eval", cache=cache, limit=args.eval_questions)
        rows.append({"config": f"eval {'with' if cache else 'without'} cached inputs", "seconds": round(seconds, 1),
                     "ms_per_question": round(1000 * seconds / args.eval_questions, 1)})
        print(json.dumps(rows[-1]))
    print("\n| configuration | seconds | ms per step / question |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r['config']} | {r['seconds']} | {r.get('ms_per_step', r.get('ms_per_question'))} |")


def train_once(base: Path, data: Path, out: Path, *, level: int, steps: int, batch_size: int, fresh: bool) -> float:
    """Seconds of one ``train_sft`` run with the levers up to ``level`` on (the later ones patched off);
    ``fresh`` forgets the stored encodings and vision features first."""
    from infimed.train import components, sft
    from infimed.train.collate import clear_encoding_stores
    from infimed.train.vision_cache import clear_vision_caches

    if fresh:
        clear_encoding_stores()
        clear_vision_caches()
    saved = (sft.sft_dataset, components.encoded_collator, components.cpu_loss_trainer)
    if level < 1:  # TRL's collator reads decoded images and chat lists, as the dataset used to give them
        sft.sft_dataset = _trl_rows
        components.encoded_collator = lambda *a, **k: None
    if level < 2:
        components.cpu_loss_trainer = lambda cls: cls
    shutil.rmtree(out, ignore_errors=True)
    try:
        started = time.perf_counter()
        sft.train_sft(base, [data], out, method="full", freeze_vision=True, freeze_projector=False,
                      max_steps=steps, learning_rate=2e-3, batch_size=batch_size, logging_steps=10,
                      save_steps=100_000, resume=False, cache_vision_features=level >= 3)
        return time.perf_counter() - started
    finally:
        sft.sft_dataset, components.encoded_collator, components.cpu_loss_trainer = saved


def _trl_rows(samples: Any, *, mode: str = "direct") -> Any:
    from datasets import Dataset

    from infimed.train.data import load_images, training_messages

    chats, paths = zip(*(training_messages(s, mode) for s in samples), strict=True)  # type: ignore[arg-type]
    ds = Dataset.from_dict({"messages_json": [json.dumps(c) for c in chats], "image_paths": list(paths)})
    ds.set_transform(lambda b: {"messages": [json.loads(m) for m in b["messages_json"]],
                                "images": [load_images(p) for p in b["image_paths"]]})
    return ds


def eval_once(base: Path, val: Path, out: Path, *, cache: bool, limit: int) -> float:
    from infimed.backends import BACKENDS, SamplingParams
    from infimed.eval.runner import run_eval
    from infimed.io.jsonl import load_samples
    from infimed.train.vision_cache import clear_vision_caches

    clear_vision_caches()
    shutil.rmtree(out, ignore_errors=True)
    backend = BACKENDS.get("hf")(model=str(base), batch_size=64, cache_inputs=cache)
    started = time.perf_counter()
    run_eval(load_samples(val)[:limit], backend, SamplingParams(max_new_tokens=12), out, mode="direct")
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
