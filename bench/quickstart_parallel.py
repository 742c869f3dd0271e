"""The quickstart's training runs one at a time against side by side: wall seconds for the same runs.

Makes the phantom pool and the tiny base model once, then trains and evaluates ``--runs`` full-pool runs
(seeds 0, 1, ...; ``--steps`` steps each, ``--eval-questions`` validation questions) with
``quickstart.arms.run_arms`` at each ``--parallel`` value (1: in this process on every core; 2: two worker
processes with cores // 2 torch threads each). Each setting trains into its own folder, so nothing is reused.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/quickstart_parallel.py --work /tmp/qs_parallel --steps 200

On the 2-core development machine (200 steps, 1,000 questions; the same accuracies in both settings): 6 runs
193 s one at a time, 161 s two at a time (1.20x); 2 runs 82 s against 84 s (0.97x), as one process reuses its
first run's encoded rows and vision features (the second run trained in 25 s against 46 s) and each worker
pays for them once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/infimed_qs_parallel"))
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--eval-questions", type=int, default=1000)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    from infimed.io.jsonl import load_samples
    from infimed.quickstart import run as qs
    from infimed.quickstart.arms import ArmJob, available_cores, run_arms
    from infimed.quickstart.recipe import BATCH_SIZE, EVAL_BATCH, LEARNING_RATE, arm_recipe

    paths = qs.prepare_data(args.work, data=None, npz=None, n=3600, seed=0, val=args.eval_questions)
    base, base_fp = qs.base_model(args.work, seed=0, clock=qs.StageClock())
    n_train = qs.count_lines(paths["train"])
    mode = qs.training_mode(paths["train"])
    recipe = arm_recipe(n_train, steps=args.steps, epochs=None, learning_rate=LEARNING_RATE,
                        batch_size=BATCH_SIZE, mode=mode)
    val_fp = qs.data_fingerprint(paths["val"])
    n_val = len(load_samples(paths["val"]))
    rows = []
    for parallel in args.parallel:
        folder = args.work / f"parallel-{parallel}"
        shutil.rmtree(folder, ignore_errors=True)
        jobs = [ArmJob(name=f"full-seed{s}", arm="full", seed=s, data=paths["train"], n_samples=n_train,
                       base=base, base_fp=base_fp, recipe=recipe, run_dir=folder / f"run-{s}",
                       eval_dir=folder / f"eval-{s}", test=paths["val"], test_fp=val_fp, n_questions=n_val,
                       mode=mode, eval_batch=EVAL_BATCH) for s in range(args.runs)]
        started = time.perf_counter()
        results = run_arms(jobs, parallel)
        wall = time.perf_counter() - started
        row = {"parallel": parallel, "cores": available_cores(), "runs": args.runs, "steps": args.steps,
               "wall_s": round(wall, 1), "accuracy": [round(r.results["overall"]["accuracy"], 4) for r in results],
               "stages": {r["stage"]: r["seconds"] for res in results for r in res.rows}}
        rows.append(row)
        print(json.dumps(row))
    if len(rows) > 1:
        print(f"speed-up of parallel {rows[-1]['parallel']} over {rows[0]['parallel']}: "
              f"{rows[0]['wall_s'] / rows[-1]['wall_s']:.2f}x")


if __name__ == "__main__":
    main()
