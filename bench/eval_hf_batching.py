"""Batched vs one-sample-at-a-time generation with the hf backend on the tiny model over phantom samples.

One-at-a-time generation is how most medical eval kits drive transformers (MedEvalKit's HF path). The
batched path sorts requests by prompt length and generates ``--batch-size`` at once with left padding.
Both decode greedily, so their outputs should be identical; the script reports both throughputs, the
speed-up and the fraction of identical outputs. The one-at-a-time baseline runs on the first
``--single-limit`` samples only (its throughput does not depend on how many), to keep the bench short.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/eval_hf_batching.py --samples 512
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from infimed.backends.base import GenResult, SamplingParams
from infimed.backends.hf import HFBackend
from infimed.data.phantom import synth
from infimed.eval.runner import build_request
from infimed.io.jsonl import load_samples
from infimed.model.tiny import build_tiny_model


def timed(backend: HFBackend, requests: list, params: SamplingParams) -> tuple[dict[str, GenResult], float]:  # type: ignore[type-arg]
    out: dict[str, GenResult] = {}
    start = time.perf_counter()
    backend.generate(requests, params, lambda r: out.__setitem__(r.id, r))
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--single-limit", type=int, default=64, help="samples for the one-at-a-time baseline")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_tiny_model(root / "tiny", seed=0)
        synth(root / "phantom", n=max(args.samples + 100, 600), seed=0)
        pool = load_samples(root / "phantom" / "test.jsonl") + load_samples(root / "phantom" / "train.jsonl")
        samples = pool[: args.samples]
        requests = [build_request(s, "direct") for s in samples]
        params = SamplingParams(max_new_tokens=args.max_new_tokens)
        backend = HFBackend(root / "tiny", device=args.device, batch_size=args.batch_size)
        timed(backend, requests[:4], params)  # warm-up (first-call allocations)

        batched, t_batched = timed(backend, requests, params)
        backend.batch_size, backend.sort_by_length = 1, False
        subset = requests[: args.single_limit]
        single, t_single = timed(backend, subset, params)

    errors = sum(r.error is not None for r in batched.values())
    same = sum(batched[r.id].response == single[r.id].response for r in subset)
    rate_b, rate_s = len(batched) / t_batched, len(single) / t_single
    print(f"samples            batched {len(batched)} (errors {errors}), one-at-a-time {len(single)}")
    print(f"settings           batch size {args.batch_size}, max new tokens {args.max_new_tokens}, "
          f"device {args.device}, greedy")
    print(f"batched            {t_batched:.1f} s, {rate_b:.2f} samples/s")
    print(f"one-at-a-time      {t_single:.1f} s, {rate_s:.2f} samples/s")
    print(f"speed-up           {rate_b / rate_s:.1f}x")
    print(f"identical outputs  {same}/{len(subset)} ({same / len(subset):.1%})")


if __name__ == "__main__":
    main()
