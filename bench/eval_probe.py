"""What each robustness probe costs on top of ``eval run``, and what it finds, on the same questions.

Loads the model once (hf backend), times ``run_eval`` on the first N questions, then runs each probe alone
into a copy of that run's folder, so the plain questions come from the cache and the time measured is what
the probe *adds*: building its variants (writing corrupted images), generating them, scoring, intervals.
Prints one row per probe (variants, seconds, ratio to ``eval run``) and the probe's overall figures.
Without --model a tiny random model is built (its answers are mostly unparsed: the figures then say little
beyond the timing); pass a trained one (``infimed train sft ...``) for figures worth reading.

    .venv/bin/python bench/eval_probe.py --data data/phantom/test.jsonl --model runs/sft --limit 200
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("INFIMED_QUIET", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="infimed JSONL (default: a fresh phantom test split)")
    parser.add_argument("--model", type=Path, help="model folder (default: a tiny random model)")
    parser.add_argument("--limit", type=int, default=200, help="questions (default 200)")
    parser.add_argument("--probes", default="all")
    parser.add_argument("--severities", default="1,2,3")
    parser.add_argument("--max-new-tokens", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-boot", type=int, default=200)
    args = parser.parse_args()

    from infimed.backends.base import SamplingParams
    from infimed.backends.hf import HFBackend
    from infimed.eval.probes.base import PROBES
    from infimed.eval.probes.run import parse_probes, run_probes
    from infimed.eval.runner import PREDICTIONS, RUN_FILE, run_eval
    from infimed.io.jsonl import load_samples

    work = Path(tempfile.mkdtemp(prefix="bench-probe-"))
    try:
        data = args.data
        if data is None:
            from infimed.data.phantom import synth

            synth(work / "phantom", n=max(5 * args.limit, 200), seed=0)
            data = work / "phantom" / "test.jsonl"
        model = args.model
        if model is None:
            from infimed.model.tiny import build_tiny_model

            model = build_tiny_model(work / "tiny", seed=0)
        samples = load_samples(data)[: args.limit]
        backend = HFBackend(model, batch_size=args.batch_size, device=args.device)
        params = SamplingParams(max_new_tokens=args.max_new_tokens)
        severities = tuple(int(s) for s in args.severities.split(","))

        start = time.perf_counter()
        results = run_eval(samples, backend, params, work / "plain", n_boot=args.n_boot)
        base_s = time.perf_counter() - start
        overall = results["overall"]
        print(f"model {model}, {len(samples)} questions from {data}, max_new_tokens {args.max_new_tokens}, "
              f"device {args.device}")
        print(f"eval run: {base_s:.1f} s; accuracy {overall['accuracy']:.1%} {overall['ci95']}, "
              f"unparsed {overall['unparsed_rate']:.1%}")
        print(f"{'probe':<11} {'variants':>8} {'seconds':>8} {'x eval run':>10}  overall")
        for name in parse_probes(args.probes):
            out = work / f"probe-{name}"
            out.mkdir()
            for f in (PREDICTIONS, RUN_FILE):  # the plain answers are already made: time only what the probe adds
                shutil.copy(work / "plain" / f, out / f)
            start = time.perf_counter()
            rob = run_probes(samples, backend, params, out, probes=[name], n_boot=args.n_boot, severities=severities)
            seconds = time.perf_counter() - start
            summary = PROBES.get(name).summary
            m = rob["probes"][name]["overall"]
            print(f"{name:<11} {rob['n_variants']:>8} {seconds:>8.1f} {seconds / base_s:>10.2f}  "
                  f"{summary(m) if summary else json.dumps(m)[:200]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
