"""Evidence that the SFT recipe really learns: the tiny Qwen2.5-VL, trained from scratch on PneumoniaMNIST.

Steps (all through the public API, CPU only):
1. ``import_medmnist`` turns the .npz into yes/no VQA samples ("Does this chest X-ray show signs of
   pneumonia?"), PNG images, train/val/test JSONL.
2. ``build_tiny_model`` makes a random ~1M-parameter Qwen2.5-VL (hidden 128, 56-px images, 4 image tokens).
3. ``train_sft`` fine-tunes everything (method full, vision tower and projector trainable) on the train
   split with ``balance`` (the train split is 90% pneumonia; oversampling "no" matters).
4. ``run_eval`` (hf backend, greedy) + ``score_run`` score the test split (234 normal / 390 pneumonia).

Reference points: majority class 62.5%; MedMNIST v2's ResNet-18 (28 px) 85.4%. Target: >= 80% in < 10 min.
Measured here (2 shared cores, 1 torch thread, 2 epochs): 85.4% (seed 0) and 84.9% (seed 1) in ~2.5 min;
3 epochs 83.5%, 5 epochs 81.6% (overfits). With the tiny model's initializer_range 0.1 (was 0.02): 85.6%
(CI 82.7-88.1), seed 0, 126 s in all, peak 1,159 MB.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_pneumonia.py \
        --npz ../shared/data/pneumoniamnist/pneumoniamnist.npz --work /tmp/pneumonia
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_npz = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist" / "pneumoniamnist.npz"
    parser.add_argument("--npz", type=Path, default=default_npz, help="pneumoniamnist.npz")
    parser.add_argument("--work", type=Path, default=Path("/tmp/infimed_pneumonia"), help="scratch folder")
    parser.add_argument("--epochs", type=float, default=2.0, help="passes over the balanced train split")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine schedule)")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per step")
    parser.add_argument("--seed", type=int, default=0, help="model, data order and balancing seed")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a shared "
                        "2-core machine: OpenMP barriers stall when other processes hold the cores)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)

    from infimed.backends.base import BACKENDS, SamplingParams
    from infimed.data.medmnist import import_medmnist
    from infimed.eval.runner import run_eval
    from infimed.io.jsonl import load_samples
    from infimed.model.tiny import build_tiny_model
    from infimed.train.sft import train_sft

    started = time.perf_counter()
    data = args.work / "data"
    if not (data / "test.jsonl").exists():
        import_medmnist(args.npz, data, name="pneumoniamnist", formats=["yes_no"], seed=args.seed)
    base = build_tiny_model(args.work / "tiny", seed=args.seed)
    prepared = time.perf_counter()

    trained = train_sft(
        base, [data / "train.jsonl"], args.work / "sft", method="full", freeze_vision=False,
        freeze_projector=False, balance=True, epochs=args.epochs, learning_rate=args.lr, schedule="cosine",
        warmup=0.05, weight_decay=0.01, batch_size=args.batch_size, logging_steps=20, save_steps=100_000,
        resume=False, seed=args.seed,
    )
    trained_at = time.perf_counter()

    test = load_samples(data / "test.jsonl")
    backend = BACKENDS.get("hf")(model=trained["model"], device="cpu", batch_size=128)
    results = run_eval(test, backend, SamplingParams(max_new_tokens=4), args.work / "eval", overwrite=True)
    done = time.perf_counter()

    overall = results["overall"]
    summary = {
        "test_accuracy": overall["accuracy"], "ci95": overall["ci95"], "n_test": overall["n"],
        "unparsed_rate": overall["unparsed_rate"], "majority_baseline": 390 / 624,
        "train_samples": trained["n_samples"], "train_answers": trained["answers"], "steps": trained["steps"],
        "epochs": args.epochs, "threads": args.threads, "train_seconds": round(trained_at - prepared, 1),
        "train_samples_per_s": round(trained["n_samples"] * args.epochs / (trained_at - prepared), 1),
        "eval_seconds": round(done - trained_at, 1), "total_seconds": round(done - started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "parameters": trained["parameters"],
    }
    (args.work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
