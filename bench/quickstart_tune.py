"""Choose the quickstart's recipe on the validation split: one candidate per call, scored per task type.

Each call trains one arm (default: the whole dirty pool, the arm that must learn every task) with one
candidate recipe -- the tiny model's shape and initialisation, an optional alignment stage on phantom
captions, the SFT steps, learning rate and batch -- and scores it on the phantom *validation* split (clean
questions on cases of their own; the test split is never read here). Printed: accuracy per task type beside
a uniform guess's, the margin of the worst task, and the seconds of every stage; one JSON line per call is
appended to ``--log``, so candidates can be compared side by side afterwards.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/quickstart_tune.py --work /tmp/qs_tune --steps 300
    HF_HUB_OFFLINE=1 .venv/bin/python bench/quickstart_tune.py --work /tmp/qs_tune --align-steps 200 --layers 4
    HF_HUB_OFFLINE=1 .venv/bin/python bench/quickstart_tune.py --npz ../shared/data/pneumoniamnist/pneumoniamnist.npz
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/infimed_qs_tune"), help="scratch folder")
    parser.add_argument("--npz", type=Path, default=None, help="a MedMNIST archive instead of the phantom set")
    parser.add_argument("--n", type=int, default=3600, help="phantom pool size (train + test questions)")
    parser.add_argument("--val", type=int, default=1500, help="phantom validation questions")
    parser.add_argument("--arm", choices=("full", "curated", "random"), default="full")
    parser.add_argument("--budget", type=float, default=0.2, help="curated arm: fraction of the pool kept")
    parser.add_argument("--mode", choices=("auto", "direct", "reasoning"), default="auto",
                        help="SFT targets and eval prompts (auto: the quickstart's rule, reasoning when every "
                             "pool sample has a rationale)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128, help="tiny model: text hidden size")
    parser.add_argument("--layers", type=int, default=2, help="tiny model: text layers")
    parser.add_argument("--heads", type=int, default=None, help="tiny model: text attention heads (default 4)")
    parser.add_argument("--image-size", type=int, default=56, help="tiny model: images resized to this square")
    parser.add_argument("--tie", action="store_true", help="tiny model: tie input and output embeddings")
    parser.add_argument("--init", type=float, default=None, help="tiny model: text initializer_range")
    parser.add_argument("--align-steps", type=int, default=0, help="alignment steps on phantom captions (0: none)")
    parser.add_argument("--align-n", type=int, default=3000, help="phantom caption records for alignment")
    parser.add_argument("--align-lr", type=float, default=2e-3)
    parser.add_argument("--align-vision", action="store_true",
                        help="alignment trains the vision tower too (the language model and projector always train)")
    parser.add_argument("--train-vision", action="store_true", help="SFT trains the vision tower (no cache)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log", type=Path, default=None, help="JSON lines of results (default WORK/tune.jsonl)")
    args = parser.parse_args()
    print(json.dumps(tune(args)["summary"], indent=1))


def tune(args: argparse.Namespace) -> dict[str, Any]:
    from infimed.io.jsonl import load_samples
    from infimed.prompts import Mode
    from infimed.quickstart import run as qs
    from infimed.quickstart.recipe import arm_recipe

    seconds: dict[str, float] = {}

    def timed(name: str, fn: Any, *a: Any, **k: Any) -> Any:
        started = time.perf_counter()
        out = fn(*a, **k)
        seconds[name] = round(time.perf_counter() - started, 1)
        return out

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    paths = timed("data", qs.prepare_data, work, data=None, npz=args.npz, n=args.n, seed=args.seed, val=args.val)
    train = paths["train"]
    if args.arm != "full":
        curated = timed("curate", qs.curate, paths["train"], paths["test"], paths["truth"], work / f"curated-{args.budget:g}",
                        budget=round(args.budget * qs.count_lines(paths["train"])), workers=2)
        train = curated if args.arm == "curated" else qs.random_subset(paths["train"], qs.count_lines(curated),
                                                                       work / "random", seed=args.seed)
    shape: dict[str, Any] = {"hidden_size": args.hidden, "num_layers": args.layers, "image_size": args.image_size}
    if args.tie:
        shape["tie_embeddings"] = True
    if args.init is not None:
        shape["initializer_range"] = args.init
    if args.heads is not None:
        shape["num_attention_heads"] = args.heads
        shape["num_key_value_heads"] = max(1, args.heads // 2)
    tag = "-".join(f"{k}{v}" for k, v in sorted(shape.items()))
    base = work / f"model-{tag}"
    base_fp = qs.stage_fingerprint("tiny-model", args.seed, shape)
    if not qs.reuse_stage(base, base_fp, "the tiny base model"):
        from infimed.model.tiny import build_tiny_model

        timed("model", build_tiny_model, base, seed=args.seed, **shape)
        qs.mark_stage(base, base_fp)
    if args.align_steps:
        knobs = {"steps": args.align_steps, "n_captions": args.align_n, "learning_rate": args.align_lr,
                 "train_vision": args.align_vision}
        base, base_fp = timed("align", qs.aligned_model, work, base, base_fp, seed=args.seed,
                              batch_size=args.batch_size, clock=qs.StageClock(),
                              folder=f"aligned-{qs.stage_fingerprint(base_fp, knobs)}", **knobs)
    n_train = qs.count_lines(train)
    mode: Mode = qs.training_mode(train) if args.mode == "auto" else args.mode
    recipe = arm_recipe(n_train, steps=args.steps, epochs=None, learning_rate=args.lr, batch_size=args.batch_size,
                        mode=mode)
    if args.train_vision:
        recipe.update(freeze_vision=False, cache_vision_features=False)
    run = work / "runs" / f"{args.arm}-{qs.stage_fingerprint(base_fp, recipe, args.seed)}"
    model_fp = timed("train", qs.train_arm, base, train, run, seed=args.seed, recipe=recipe, base_fp=base_fp)
    val = load_samples(paths["val"])
    eval_dir = work / "evals" / run.name
    timed("eval", qs.evaluate, run, val, eval_dir, batch_size=64, model_fp=model_fp,
          test_fp=qs.data_fingerprint(paths["val"]), mode=mode)
    correct = qs.correctness(eval_dir, [s.id for s in val])
    tasks = qs.per_task({"arm": [correct]}, val)
    margins = {t: round(100 * (row["arm"] - row["chance"]), 1) for t, row in tasks.items()}
    summary = {"candidate": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "n_train": n_train, "n_val": len(val), "val_accuracy": round(100 * float(correct.mean()), 1),
               "margin_over_chance": margins, "worst_margin": min(margins.values()), "seconds": seconds}
    log = args.log or work / "tune.jsonl"
    with log.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(summary) + "\n")
    return {"summary": summary, "tasks": tasks}


if __name__ == "__main__":
    main()
