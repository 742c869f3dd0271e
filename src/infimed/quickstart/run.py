"""``infimed quickstart``: does a curated subset beat a random one of the same size?

A short linear recipe: (1) data with injected defects (the phantom set, a sample folder, or a MedMNIST
archive), (2) curate to a budget and draw a random subset of the same size, (3) build the tiny model and
train one copy per arm (curated, random, whole dirty pool) with the same recipe and seeds, (4) evaluate
each on the clean test split with the evaluation system, (5) write ``report.html``, ``report.md`` and
``summary.json``. Every stage writes into its own folder with a marker (``.quickstart-stage.json``) holding
the fingerprint of its inputs and settings (data: how it was made; model: its seed; each training run: the
base model, the checksum of its data file, its seed and recipe; each evaluation: the trained model's
fingerprint, the test file's checksum and the generation settings). A rerun reuses a stage only when its
fingerprint matches, and says so; otherwise the stage's folder is cleared and it reruns, and so does every
stage that depends on it (their fingerprints include its own). Curation resumes through its own fingerprints.
On two cores or more (``parallel``, ``quickstart.arms``) the alignment captions are made in a worker process
while the data is made, and the training runs go two at a time, each in its own process.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import time
from pathlib import Path
from typing import Any

import numpy as np

from infimed.io.jsonl import file_checksum, iter_json_lines, load_samples, write_json, write_jsonl, write_text
from infimed.prompts import Mode
from infimed.quickstart.arms import ArmJob, ArmResult, alongside, default_parallel, run_arms
from infimed.quickstart.recipe import (
    ALIGN_LR,
    ALIGN_N,
    ALIGN_SEED_OFFSET,
    ALIGN_STEPS,
    BATCH_SIZE,
    EVAL_BATCH,
    HELD_OUT,
    LEARNING_RATE,
    MODE,
    MODEL,
    SEEDS,
    STEPS,
    arm_recipe,
    describe_recipe,
    train_flags,
)
from infimed.quickstart.stages import StageClock, log, mark_stage, reuse_stage, stage_fingerprint
from infimed.schema import Sample

ARMS = ("curated", "random", "full")
# a third of the phantom cases are held out for the test split (plus recipe.HELD_OUT questions)
TEST_EVERY = 3
# max_new_tokens of the evaluation per prompt mode: the answers are short, a reasoning answer has its finding
# and the tags around it (the longest, "<think>upper right</think><answer>B</answer>", is ~10 tokens)
EVAL_TOKENS = {"direct": 12, "reasoning": 24}


def _relocated(sample: Sample, new_dir: Path) -> dict[str, Any]:
    row = sample.to_json_dict()
    row["images"] = [os.path.relpath(p.resolve(), new_dir.resolve()) for p in sample.image_paths()]
    return row


def prepare_data(out: Path, *, data: Path | None, npz: Path | None, n: int, seed: int,
                 held_out: int = 0, val: int = 0) -> dict[str, Path]:
    """The dirty train pool, the clean test split, the defect manifest and the clean validation split.

    ``truth`` and ``val`` may not exist: ``val.jsonl`` comes from MedMNIST's own val split (never dirtied), from
    ``val`` phantom questions on cases of their own (0: none), or from whatever folder ``data`` names.
    """
    from infimed.data.phantom import synth

    folder = out / "data"
    if data is not None:
        folder = data if data.is_dir() else data.parent
    elif npz is not None:
        from infimed.quickstart.medmnist_defects import medmnist_with_defects

        st = npz.stat()
        fp = stage_fingerprint("medmnist", str(npz.resolve()), st.st_size, st.st_mtime_ns, seed)
        if not reuse_stage(folder, fp, f"the data imported from {npz}"):
            log(f"importing {npz} and injecting defects into its train split")
            medmnist_with_defects(npz, folder, seed=seed)
            mark_stage(folder, fp)
    else:
        # val only enters the fingerprint when asked for: val=0 writes what it always did
        fp = stage_fingerprint("phantom", n, seed, held_out, TEST_EVERY, *([val] if val else []))
        if not reuse_stage(folder, fp, "the phantom data"):
            log(f"generating the phantom set with defects (n={n})")
            synth(folder, n=n, seed=seed, defects=True, test_every=TEST_EVERY, held_out=held_out, val=val)
            mark_stage(folder, fp)
    paths = {"train": folder / "train.jsonl", "test": folder / "test.jsonl", "truth": folder / "defects.jsonl",
             "val": folder / "val.jsonl"}
    for key in ("train", "test"):
        if not paths[key].exists():
            raise FileNotFoundError(f"{paths[key]} not found (--data needs a folder with train.jsonl and test.jsonl)")
    return paths


def data_fingerprint(path: Path) -> str:
    """A sample file's bytes and the size and mtime of every image it points at (what training reads)."""
    from infimed.curate.pipeline import images_digest

    return stage_fingerprint(file_checksum(path), images_digest(load_samples(path)))


def curate(train: Path, test: Path, truth: Path, out: Path, *, budget: float, workers: int) -> Path:
    from infimed.curate.config import load_config
    from infimed.curate.pipeline import run_pipeline

    # the test split is drawn like the pool, so the selection keeps the pool's modality x task proportions
    # (the default "equal" balance suits pools whose mix differs from what the model will be asked)
    overrides = [f"budget={budget}", f"against=[{json.dumps(str(test))}]", f"workers={workers}", "exports=[]",
                 "steps.select.balance=proportional"]
    if truth.exists():
        overrides.append(f"truth={json.dumps(str(truth))}")
    result = run_pipeline([train], out, load_config(None, overrides))
    reused = [st["name"] for st in result["stages"] if st.get("resumed")]
    if reused:
        log(f"curation reused {len(reused)} of {len(result['stages'])} stages ({', '.join(reused)}; inputs unchanged)")
    return out / "curated.jsonl"


def random_subset(train: Path, size: int, out: Path, *, seed: int) -> Path:
    """``out/random-seed{seed}.jsonl``: ``size`` samples of ``train`` drawn uniformly with ``seed``."""
    samples = load_samples(train)
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(samples)), min(size, len(samples))))
    path = out / f"random-seed{seed}.jsonl"
    write_jsonl(path, (_relocated(samples[i], out) for i in chosen))
    return path


def count_lines(path: Path) -> int:
    return sum(1 for _ in iter_json_lines(path))


def train_arm(base: Path, data: Path, out: Path, *, seed: int, recipe: dict[str, Any], base_fp: str = "",
              what: str = "training") -> str:
    """Train one arm into ``out`` unless an identical run is there; returns the run's fingerprint."""
    from infimed.train.sft import train_sft

    fp = stage_fingerprint("train", base_fp, data_fingerprint(data), seed, recipe)
    if not reuse_stage(out, fp, what):
        train_sft(base, [data], out, method="full", seed=seed, **recipe)
        mark_stage(out, fp)
    return fp


def training_mode(pool: Path) -> Mode:
    """``recipe.MODE`` when every sample of the pool carries a rationale (the phantom's do), else "direct"."""
    if MODE == "direct":
        return MODE
    return MODE if all(s.rationale and s.rationale.strip() for s in load_samples(pool)) else "direct"


def evaluate(model_dir: Path, test: list[Sample], out: Path, *, batch_size: int, model_fp: str = "",
             test_fp: str = "", what: str = "evaluation", label: str = "quickstart",
             mode: Mode = "direct") -> dict[str, Any]:
    from infimed.backends import BACKENDS, SamplingParams
    from infimed.eval.runner import run_eval

    tokens = EVAL_TOKENS[mode]
    fp = stage_fingerprint("eval", model_fp, test_fp, tokens, mode)
    if reuse_stage(out, fp, what, label=label) and (out / "results.json").exists():
        return dict(json.loads((out / "results.json").read_text()))
    backend = BACKENDS.get("hf")(model=str(model_dir), batch_size=batch_size, cache_inputs=True)
    results = run_eval(test, backend, SamplingParams(max_new_tokens=tokens), out, mode=mode)
    mark_stage(out, fp)
    return results


def correctness(run_dir: Path, ids: list[str]) -> np.ndarray:
    rows = {}
    for _, row, _ in iter_json_lines(run_dir / "samples.jsonl"):
        rows[row["id"]] = row.get("correct") is True and row.get("error") is None  # an error row has null
    return np.array([rows.get(i, False) for i in ids], dtype=np.float64)


def summarise(
    per_arm: dict[str, list[np.ndarray]], n_train: dict[str, int], *, n_boot: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Accuracies and paired differences, bootstrapping test items (each item averaged over seeds)."""
    from infimed.eval.metrics import mcnemar_exact

    rng = np.random.default_rng(seed)
    means = {arm: np.mean(np.stack(v), axis=0) for arm, v in per_arm.items()}
    n_items = len(next(iter(means.values())))
    idx = rng.integers(0, n_items, size=(n_boot, n_items))

    def ci(values: np.ndarray) -> list[float]:
        draws = values[idx].mean(axis=1)
        return [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))]

    arms: dict[str, dict[str, Any]] = {arm: {"accuracy": float(m.mean()), "ci95": ci(m), "n_train": n_train[arm], "n_test": n_items,
                  "per_seed": [float(x.mean()) for x in per_arm[arm]]} for arm, m in means.items()}
    diffs: dict[str, dict[str, Any]] = {}
    for other in ("random", "full"):
        d = means["curated"] - means[other]
        lo, hi = ci(d)
        better, worse = int((d > 0).sum()), int((d < 0).sum())
        p = mcnemar_exact(worse, better)
        diffs[f"curated-{other}"] = {"diff": float(d.mean()), "ci95": [lo, hi], "p_value": p,
                                     "significant": bool(lo > 0 or hi < 0)}
    full_acc = float(arms["full"]["accuracy"])
    ratio = float(arms["curated"]["accuracy"]) / full_acc if full_acc else 0.0
    goal = {
        "curated_over_full": ratio,
        "reaches_95pct_of_full": ratio >= 0.95,
        "beats_random_beyond_ci": diffs["curated-random"]["ci95"][0] > 0,
    }
    return {"arms": arms, "differences": diffs, "goal": goal, "n_boot": n_boot}


def chance(sample: Sample, open_values: dict[str, int]) -> float:
    """A uniform guess's accuracy: one option of the offered, yes or no, one of the task's open answers."""
    if sample.answer_type == "choice":
        return 1.0 / max(len(sample.options or {}), 1)
    if sample.answer_type == "yes_no":
        return 0.5
    return 1.0 / max(open_values.get(str(sample.task), 1), 1)


def per_task(per_arm: dict[str, list[np.ndarray]], test: list[Sample]) -> dict[str, dict[str, Any]]:
    """Per task: every arm's accuracy (pooled over seeds) beside a uniform guess's, so the report can say
    which tasks the models learned at all (a task left at chance cannot separate the arms)."""
    from infimed.checkers import normalize_open

    values: dict[str, set[str]] = {}
    for t in test:
        if t.answer_type == "open":  # distinct answers as the checker tells them apart
            values.setdefault(str(t.task), set()).add(normalize_open(t.answer))
    n_values = {k: len(v) for k, v in values.items()}
    tasks = np.array([str(t.task) for t in test])
    guess = np.array([chance(t, n_values) for t in test])
    out: dict[str, dict[str, Any]] = {}
    for task in sorted(set(tasks)):
        mask = tasks == task
        row: dict[str, Any] = {"n": int(mask.sum()), "chance": float(guess[mask].mean())}
        row.update({arm: float(np.mean([v[mask].mean() for v in runs])) for arm, runs in per_arm.items()})
        out[task] = row
    return out


def _loss_curve(train_dir: Path) -> list[tuple[float, float]]:
    path = train_dir / "loss.jsonl"
    if not path.exists():
        return []
    return [(float(r["step"]), float(r["loss"])) for _, r, _ in iter_json_lines(path)
            if isinstance(r, dict) and "loss" in r and "step" in r]


def reproduce_commands(out: Path, budget: int | float, recipe: dict[str, Any], n: int,
                       held_out: int = HELD_OUT, align_steps: int = ALIGN_STEPS) -> list[tuple[str, str]]:
    q = shlex.quote
    lr, bs = recipe["learning_rate"], recipe["batch_size"]
    length = f"--max-steps {recipe['max_steps']}" if recipe["max_steps"] > 0 else f"--epochs {recipe['epochs']:g}"
    return [
        ("1. Data: the phantom set with defects (or import MedMNIST / your own JSONL)",
         f"infimed data synth --out {q(str(out / 'data'))} --n {n} --test-every {TEST_EVERY} --held-out {held_out} --defects\n"
         "infimed data import medmnist --npz ../shared/data/pneumoniamnist/pneumoniamnist.npz --out data/pneumonia"),
        ("2. Curate to the budget, decontaminating against the test split",
         f"infimed curate {q(str(out / 'data' / 'train.jsonl'))} --out {q(str(out / 'curated'))} "
         f"--budget {budget} --against {q(str(out / 'data' / 'test.jsonl'))} --set steps.select.balance=proportional"),
        ("3. Train (here: the tiny model on CPU): the alignment stage on phantom captions, then SFT",
         f"infimed model tiny --out {q(str(out / 'model'))} --hidden-size {MODEL['hidden_size']} "
         f"--layers {MODEL['num_layers']}\n"
         + (f"infimed data synth-captions --out {q(str(out / 'captions'))} --n {ALIGN_N} --seed {ALIGN_SEED_OFFSET}\n"
            f"infimed train align --model {q(str(out / 'model'))} --data {q(str(out / 'captions' / 'train.jsonl'))} "
            f"--out {q(str(out / 'aligned'))} --train-language --max-steps {align_steps} --lr {ALIGN_LR:g} "
            f"--batch-size {bs} --cache-vision-features\n" if align_steps > 0 else "")
         + f"infimed train sft --model {q(str(out / ('aligned' if align_steps > 0 else 'model')))} "
         f"--data {q(str(out / 'curated' / 'curated.jsonl'))} --out runs/curated --method full {train_flags(recipe)} "
         f"{length} --lr {lr} --batch-size {bs} --cache-vision-features"),
        ("3'. The same on a real checkpoint on a GPU (LoRA)",
         "infimed train sft --model /models/Qwen2.5-VL-3B-Instruct --data curated/curated.jsonl "
         "--out runs/qwen3b-curated --method lora --epochs 3 --lr 1e-4 --batch-size 8 --grad-accum 4"),
        ("4. Evaluate and compare",
         f"infimed eval run --model runs/curated --backend hf --data {q(str(out / 'data' / 'test.jsonl'))} "
         f"--mode {recipe['mode']} --out evals/curated\n"
         "infimed eval compare evals/random evals/curated"),
        ("4'. A real checkpoint served by vLLM",
         "vllm serve /models/Qwen2.5-VL-3B-Instruct --port 8000\n"
         "infimed eval run --model Qwen2.5-VL-3B-Instruct --backend openai --base-url http://localhost:8000/v1 "
         "--benchmark vqa_rad --data-root /data/VQA-RAD --out evals/qwen3b-vqa-rad --concurrency 32"),
    ]


def base_model(out: Path, *, seed: int, clock: StageClock) -> tuple[Path, str]:
    """The tiny model of ``recipe.MODEL`` (its shape and initialisation), built once."""
    from infimed.model.tiny import build_tiny_model

    base = out / "model"
    fp = stage_fingerprint("tiny-model", seed, MODEL)
    with clock.stage("model"):
        if not reuse_stage(base, fp, "the tiny base model"):
            build_tiny_model(base, seed=seed, **MODEL)
            mark_stage(base, fp)
    return base, fp


def phantom_captions(out: Path, *, seed: int, n_captions: int = ALIGN_N,
                     clock: StageClock | None = None) -> list[dict[str, Any]]:
    """``out/captions``: the alignment stage's phantom captions, cases of their own (the run's seed plus
    ``ALIGN_SEED_OFFSET``); returns the clock rows of making them (a process of its own can make them)."""
    from infimed.data.captions import synth_captions

    clock = StageClock() if clock is None else clock
    captions = out / "captions"
    cap_fp = stage_fingerprint("captions", n_captions, seed + ALIGN_SEED_OFFSET)
    with clock.stage("captions"):
        if not reuse_stage(captions, cap_fp, "the phantom captions"):
            log(f"generating {n_captions} phantom caption pairs for the alignment stage")
            synth_captions(captions, n=n_captions, seed=seed + ALIGN_SEED_OFFSET)
            mark_stage(captions, cap_fp)
    return clock.rows[-1:]


def aligned_model(out: Path, base: Path, base_fp: str, *, seed: int, steps: int, batch_size: int,
                  clock: StageClock, n_captions: int = ALIGN_N, learning_rate: float = ALIGN_LR,
                  train_vision: bool = False, folder: str = "aligned", captions_made: bool = False) -> tuple[Path, str]:
    """The alignment stage every arm starts from: the base model trained on phantom captions of cases of their
    own (another seed; no image is shared with the VQA pool or its test split), so it first learns what the
    images show. The language model and projector train; the vision tower too with ``train_vision``. The result
    goes to ``out/folder``; ``steps=0`` skips the stage. The captions are made first unless ``captions_made``."""
    if steps <= 0:
        return base, base_fp
    from infimed.train.align import train_align

    if not captions_made:
        phantom_captions(out, seed=seed, n_captions=n_captions, clock=clock)
    captions = out / "captions"
    aligned = out / folder
    recipe: dict[str, Any] = {"max_steps": steps, "learning_rate": learning_rate, "batch_size": batch_size,
                              "schedule": "cosine", "warmup": 0.05, "logging_steps": 5, "save_steps": 100_000,
                              "train_language": True, "train_vision": train_vision,
                              "cache_vision_features": not train_vision}
    fp = stage_fingerprint("align", base_fp, data_fingerprint(captions / "train.jsonl"), seed, recipe)
    with clock.stage("align"):
        if not reuse_stage(aligned, fp, "the alignment stage"):
            log(f"alignment stage: {steps} steps on {count_lines(captions / 'train.jsonl')} phantom captions")
            train_align(base, [captions / "train.jsonl"], aligned, seed=seed, **recipe)
            mark_stage(aligned, fp)
    return aligned, fp


def quickstart(
    out: Path, *, budget: int | float = 0.2, seeds: int = SEEDS, n: int = 3600, held_out: int = HELD_OUT,
    data: Path | None = None,
    npz: Path | None = None, steps: int | None = STEPS, epochs: float | None = None,
    learning_rate: float = LEARNING_RATE, batch_size: int = BATCH_SIZE, align_steps: int = ALIGN_STEPS,
    align_n: int = ALIGN_N, workers: int = 2, seed: int = 0, parallel: int | None = None,
) -> dict[str, Any]:
    """Run the whole comparison into ``out``; returns the summary written to ``summary.json``.

    Every arm trains with the same recipe from the same aligned base model: by default the same number of
    optimiser ``steps`` (so a 20% subset sees five times the epochs of the whole pool); with ``steps=None``
    the same ``epochs`` instead. Each trained model reads the test split once. ``parallel`` training runs
    go side by side (None: ``arms.default_parallel()``, two on two cores or more).
    """
    from infimed.curate.config import parse_budget

    started = time.perf_counter()
    clock = StageClock()
    budget = parse_budget(budget)  # refuses 0, 2.0, ... before any work
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parallel = default_parallel() if parallel is None else parallel
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, got {parallel}")
    # the captions (one core's work for ~20 s) need neither the data nor its curation: with parallel > 1 a worker
    # process makes them while this one makes the data (the alignment waits for curation, as it needs both cores)
    background = parallel > 1 and align_steps > 0
    with alongside(phantom_captions, out, background=background, seed=seed, n_captions=align_n) as captions_rows:
        with clock.stage("data"):
            paths = prepare_data(out, data=data, npz=npz, n=n, seed=seed, held_out=held_out)

        n_pool = count_lines(paths["train"])
        # a count, or a fraction of the whole dirty pool (curate.config.parse_budget: 0.2 is 20%, 5000 a count)
        target = budget if isinstance(budget, int) else round(budget * n_pool)
        log(f"curating {paths['train']} ({n_pool} samples) down to {target}")
        with clock.stage("curate") as row:
            curated = curate(paths["train"], paths["test"], paths["truth"], out / "curated", budget=target,
                             workers=workers)
            row["reused"] = _curation_reused(out / "curated")
        n_curated = count_lines(curated)
        # every training seed draws its own random subset: random selection is a distribution, and one lucky or
        # unlucky draw must not decide the comparison (draws of the same size differ by about a point)
        random_files = [random_subset(paths["train"], n_curated, out / "random", seed=seed + s) for s in range(seeds)]
        arm_data = {"curated": curated, "random": random_files[0], "full": paths["train"]}
        n_train = {arm: count_lines(p) for arm, p in arm_data.items()}

        waited = time.perf_counter()
        made = captions_rows() if align_steps > 0 else []
        waited = round(time.perf_counter() - waited, 1)
    for row in made:
        if background:  # its seconds passed beside data and curate: the run only waited `waited` for it
            row.update(alongside="data, curate", waited=waited)
        clock.rows.append(row)

    base, base_fp = base_model(out, seed=seed, clock=clock)
    base, base_fp = aligned_model(out, base, base_fp, seed=seed, steps=align_steps, batch_size=batch_size,
                                  clock=clock, n_captions=align_n, captions_made=True)
    align_check = None
    if align_steps > 0:
        from infimed.quickstart.alignment_check import N_CHECK, check_alignment

        checked, check_fp = out / "align-check", stage_fingerprint("align-check", base_fp, N_CHECK)
        with clock.stage("align-check"):
            if reuse_stage(checked, check_fp, "the alignment check"):
                align_check = json.loads((checked / "check.json").read_text(encoding="utf-8"))
            else:
                log("checking the alignment stage: captions of held-out caption images")
                align_check = check_alignment(base, out / "captions" / "test.jsonl")
                write_json(checked / "check.json", align_check)
                mark_stage(checked, check_fp)
    test = load_samples(paths["test"])
    test_fp = data_fingerprint(paths["test"])
    ids = [s.id for s in test]
    mode = training_mode(paths["train"])
    recipes = {arm: arm_recipe(n_train[arm], steps=steps, epochs=epochs, learning_rate=learning_rate,
                               batch_size=batch_size, mode=mode) for arm in ARMS}
    jobs = [ArmJob(name=f"{arm}-seed{seed + s}", arm=arm, seed=seed + s,
                   data=random_files[s] if arm == "random" else arm_data[arm], n_samples=n_train[arm],
                   base=base, base_fp=base_fp, recipe=recipes[arm], run_dir=out / "runs" / f"{arm}-seed{seed + s}",
                   eval_dir=out / "evals" / f"{arm}-seed{seed + s}", test=paths["test"], test_fp=test_fp,
                   n_questions=len(test), mode=mode, eval_batch=EVAL_BATCH)
            for s in range(seeds) for arm in ARMS]

    def finished(result: ArmResult, k: int) -> None:
        log(f"{result.name} finished ({_took(result.rows)}): {k} of {len(jobs)} runs")

    with clock.stage("train+eval", runs=len(jobs), parallel=min(parallel, len(jobs))) as row:
        arm_results = run_arms(jobs, parallel, on_done=finished)
        row["reused"] = all(r["reused"] for res in arm_results for r in res.rows)
    per_arm: dict[str, list[np.ndarray]] = {arm: [] for arm in ARMS}
    results: dict[str, dict[str, Any]] = {}
    losses: dict[str, list[tuple[float, float]]] = {}
    for job, res in zip(jobs, arm_results, strict=True):
        clock.rows.extend({**r, "within": "train+eval"} for r in res.rows)
        per_arm[job.arm].append(correctness(job.eval_dir, ids))
        if job.seed == seed:
            results[job.arm], losses[job.arm] = res.results, _loss_curve(job.run_dir)

    summary = summarise(per_arm, n_train, seed=seed)
    summary["per_task"] = per_task(per_arm, test)
    stats = json.loads((out / "curated" / "stats.json").read_text())
    summary.update({
        "budget": budget,
        "budget_label": f"{budget} samples" if isinstance(budget, int) else f"{budget:.0%}",
        "seeds": [seed + s for s in range(seeds)],
        "recipe": recipes,
        "model": MODEL,
        "alignment": {"steps": align_steps, "captions": align_n, "learning_rate": ALIGN_LR,
                      "check": align_check} if align_steps > 0 else None,
        "data": {k: str(v) for k, v in paths.items()},
        "stages": clock.rows,
        "stage_seconds": clock.totals(),
        "seconds": round(time.perf_counter() - started, 1),
        "description": describe_run(recipes, n_train, steps=steps, seeds=seeds, seed=seed, n_test=len(test),
                                    align_steps=align_steps, phantom=data is None and npz is None, n=n,
                                    held_out=held_out),
    })
    commands = reproduce_commands(out, budget, recipes["curated"], n, held_out, align_steps)
    from infimed.quickstart.report import render_html, render_md

    write_json(out / "summary.json", summary)
    write_text(out / "report.md", render_md(summary, results, commands))
    write_text(out / "report.html", render_html(summary, results, _curation_view(stats), losses, commands))
    log(f"done in {summary['seconds']:.0f} s: {out / 'report.html'}")
    return summary


def _took(rows: list[dict[str, Any]]) -> str:
    """ "train 61 s, eval reused" for a run's clock rows."""
    return ", ".join(f"{r['stage'].split(' ', 1)[0]} " + ("reused" if r["reused"] else f"{r['seconds']:.0f} s")
                     for r in rows)


def describe_run(recipes: dict[str, dict[str, Any]], n_train: dict[str, int], *, steps: int | None, seeds: int,
                 seed: int, n_test: int, align_steps: int, phantom: bool, n: int, held_out: int) -> str:
    """The report's paragraph on how the models were made and scored, and how the recipe was chosen."""
    align = (f"After an alignment stage of {align_steps} steps on phantom captions of cases of their own (4 in 5 "
             f"of {ALIGN_N} to train on, the rest to check it; language model and projector trained, vision tower "
             "frozen), t" if align_steps > 0 else "T")
    return (
        f"{align}he tiny Qwen2.5-VL model ({MODEL['num_layers']} layers of {MODEL['hidden_size']}) was trained "
        "three ways with the same recipe ("
        + ("the same step budget" if steps is not None else "the same epochs")
        + f": {describe_recipe(recipes, n_train)}; seeds {summary_seeds(seed, seeds)}"
        + ("; each seed draws its own random subset" if seeds > 1 else "") + "), and each model read the "
        f"clean test split ({n_test} questions) once, scored by infimed eval. The recipe (model shape, "
        "alignment, steps, learning rate, batch) was chosen on the validation split, clean questions on cases "
        "of their own, with bench/quickstart_tune.py; no choice was made on test accuracy. "
        "The selection keeps the pool's modality x task proportions, since the test split is drawn like the pool"
        + (f"; the test split is a third of the phantom cases plus {held_out} questions on cases of their own "
           f"(--n {n} --held-out {held_out})" if phantom else "") + "."
    )


def _curation_reused(folder: Path) -> bool:
    try:
        stages = json.loads((folder / "stats.json").read_text()).get("stages", [])
    except (OSError, ValueError):
        return False
    return bool(stages) and all(st.get("resumed") for st in stages)


def summary_seeds(seed: int, seeds: int) -> str:
    return ", ".join(str(seed + s) for s in range(seeds))


def _curation_view(stats: dict[str, Any]) -> dict[str, Any]:
    """The parts of curate's stats.json the report draws: per-step counts and defect recall/precision."""
    steps = [{"name": st["name"], "in": st["in"], "kept": st["kept"], "dropped": st.get("dropped", {})}
             for st in stats.get("stages", [])]
    truth = stats.get("truth") or {}
    return {"steps": steps, "recall": truth.get("recall", {}), "precision": truth.get("precision", {})}
