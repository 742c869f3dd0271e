"""SFT throughput on the tiny model (CPU): tokens/s, samples/s and peak memory, padded vs padding-free vs packed.

Each configuration runs ``train_sft`` in its own process (so peak RSS is its own) on the phantom set:
- ``vlm_padded``: image conversations, padded per batch (what TRL supports for images);
- ``vlm_padding_free``: the same with padding-free batching (TRL 1.16 refuses it for images; recorded);
- ``text_padded`` / ``text_padding_free`` / ``text_packing``: the same conversations without their images.
``tokens/s`` counts real (non-padding) tokens, from TRL's ``num_tokens`` in ``loss.jsonl``; it is the one
comparable figure, since a packed row holds several conversations (``rows_per_s`` counts batch rows).
Padding-free batches and packed rows keep sequences apart only with flash-attention kernels; on the CPU
(sdpa) they are a speed measurement, not a recommended setting.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_sft_throughput.py --work /tmp/throughput
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = {
    "vlm_padded": {"images": True},
    "vlm_padding_free": {"images": True, "padding_free": True},
    "text_padded": {"images": False},
    "text_padding_free": {"images": False, "padding_free": True},
    "text_packing": {"images": False, "packing": True, "max_length": 512},
}


def prepare(work: Path, n: int) -> None:
    """The tiny model, a phantom set, and a text-only copy of its training file."""
    from infimed.data.phantom import synth
    from infimed.io.jsonl import load_samples, write_jsonl
    from infimed.model.tiny import build_tiny_model

    if not (work / "tiny" / "config.json").exists():
        build_tiny_model(work / "tiny", seed=0)
    if not (work / "phantom" / "train.jsonl").exists():
        synth(work / "phantom", n=n, seed=0)
    text = [s.model_copy(update={"images": []}) for s in load_samples(work / "phantom" / "train.jsonl")]
    write_jsonl(work / "phantom" / "train_text.jsonl", text)


def run_one(name: str, work: Path, steps: int, batch_size: int) -> dict[str, object]:
    from infimed.train.callbacks import read_loss_log
    from infimed.train.sft import train_sft

    cfg = dict(CONFIGS[name])
    data = work / "phantom" / ("train.jsonl" if cfg.pop("images") else "train_text.jsonl")
    out = work / "runs" / name
    started = time.perf_counter()
    try:
        result = train_sft(work / "tiny", [data], out, method="full", max_steps=steps, batch_size=batch_size,
                           learning_rate=1e-3, logging_steps=steps, save_steps=100_000, resume=False,
                           **cfg)  # type: ignore[arg-type]
    except (ValueError, RuntimeError) as exc:
        return {"config": name, "supported": False, "error": str(exc).splitlines()[0][:200]}
    seconds = float(result["seconds"])  # type: ignore[arg-type]
    tokens = read_loss_log(out / "loss.jsonl")[-1].get("num_tokens", 0)
    return {
        "config": name, "supported": True, "steps": result["steps"], "seconds": round(seconds, 2),
        "tokens_per_s": round(float(tokens) / seconds, 1), "rows_per_s": round(steps * batch_size / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/infimed_throughput"), help="scratch folder")
    parser.add_argument("--steps", type=int, default=30, help="optimiser steps per configuration")
    parser.add_argument("--batch-size", type=int, default=16, help="samples per step")
    parser.add_argument("--n", type=int, default=600, help="phantom samples to generate")
    parser.add_argument("--one", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("INFIMED_QUIET", "1")
    if args.one:
        print(json.dumps(run_one(args.one, args.work, args.steps, args.batch_size)))
        return
    prepare(args.work, args.n)
    rows = []
    for name in CONFIGS:
        cmd = [sys.executable, __file__, "--one", name, "--work", str(args.work), "--steps", str(args.steps),
               "--batch-size", str(args.batch_size)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        row = json.loads(last) if last.startswith("{") else {"config": name, "supported": False,
                                                              "error": proc.stderr.strip().splitlines()[-1][:200]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    (args.work / "throughput.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
