"""``infimed recipe three-stage``: align -> SFT -> GRPO with curated data at every stage, evaluated after each.

A short linear recipe over the public functions of the other commands:
(1) data: the phantom VQA set and the phantom caption / report pairs, both with injected defects (or the
user's own folders); (2) curate the caption pairs (``--config captions``) and the SFT pool (default config),
each decontaminated against its test split; (3) the base model (the tiny one, or ``model``); (4) align the
projector on the curated captions, evaluate; (5) SFT from the aligned model, evaluate; (6) choose RL prompts
by the SFT policy's pass rate (``--config rl-prompts``, deduplicated against the SFT set), GRPO from the SFT
model, evaluate; (7) ``summary.json`` and ``summary.md``. Every evaluation scores the same VQA test split with
``infimed eval`` (``run_eval``), so the three rows compare. Each stage has its own folder and the
quickstart's fingerprint marker (``infimed.quickstart.run.reuse_stage``): a rerun with unchanged inputs and
settings reuses it, a changed one reruns it and every stage after it (their fingerprints chain).
With ``accelerate_config`` the three training stages run under ``accelerate launch`` (one subprocess each).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infimed.io.jsonl import load_samples, write_json, write_text
from infimed.quickstart.run import count_lines, data_fingerprint, evaluate
from infimed.quickstart.stages import (
    log,
    mark_stage,
    reuse_stage,
    stage_fingerprint,
)

STAGES = ("align", "sft", "grpo")
LABEL = "three-stage"  # the prefix of the progress lines


def make_data(out: Path, *, data: Path | None, captions: Path | None, n: int, seed: int) -> dict[str, Path]:
    """The VQA folder and the caption folder (each with train.jsonl, test.jsonl, maybe defects.jsonl)."""
    from infimed.data.captions import synth_captions
    from infimed.data.phantom import synth

    folders = {}
    for key, given, make in (("vqa", data, lambda d: synth(d, n=n, seed=seed, defects=True)),
                             ("captions", captions, lambda d: synth_captions(d, n=n, seed=seed, defects=True))):
        folder = given if given is not None else out / "data" / key
        if given is None:
            fp = stage_fingerprint("phantom", key, n, seed)
            if not reuse_stage(folder, fp, f"the phantom {key} data", label=LABEL):
                make(folder)
                mark_stage(folder, fp)
        for split in ("train", "test"):
            if not (folder / f"{split}.jsonl").is_file():
                raise FileNotFoundError(f"{folder / f'{split}.jsonl'} not found (a data folder needs train.jsonl "
                                        "and test.jsonl)")
        folders[key] = folder
    return folders


def curate(inputs: Path, out: Path, *, config: str | None, overrides: list[str], upstream: str = "",
           what: str, hint: str = "") -> tuple[Path, str]:
    """Curate ``inputs`` into ``out`` unless done with the same inputs and settings; (curated file, fingerprint)."""
    from infimed.curate.config import load_config
    from infimed.curate.pipeline import run_pipeline

    truth = inputs.parent / "defects.jsonl"
    overrides = [*overrides, "exports=[]", *([f"truth={json.dumps(str(truth))}"] if truth.exists() else [])]
    fp = stage_fingerprint("curate", config, overrides, data_fingerprint(inputs), upstream)
    if not reuse_stage(out, fp, what, label=LABEL):
        log(f"{what}: {inputs} ({count_lines(inputs)} records)", LABEL)
        run_pipeline([inputs], out, load_config(config, overrides))
        mark_stage(out, fp)
    curated = out / "curated.jsonl"
    if count_lines(curated) == 0:
        raise ValueError(f"{what} kept no sample ({out / 'stats.json'} says why each was dropped){hint}")
    return curated, fp


def base_model(out: Path, *, model: str | None, seed: int) -> tuple[str, str]:
    """The starting checkpoint and its fingerprint: ``model`` (its files' sizes and times) or the tiny model."""
    if model is not None:
        path = Path(model)
        if not path.is_dir():
            raise FileNotFoundError(f"--model {model}: not a local model folder")
        files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir() if p.is_file())
        return str(path), stage_fingerprint("model", str(path.resolve()), files)
    from infimed.model.tiny import build_tiny_model

    folder = out / "model"
    fp = stage_fingerprint("tiny-model", seed)
    if not reuse_stage(folder, fp, "the tiny base model", label=LABEL):
        build_tiny_model(folder, seed=seed)
        mark_stage(folder, fp)
    return str(folder), fp


def accelerate_argv(config: str, stage: str, model: str, data: Path, out: Path, options: dict[str, Any], *,
                    launch_args: str = "") -> list[str]:
    """``accelerate launch --config_file CONFIG [LAUNCH_ARGS] infimed train STAGE ...`` for one training stage."""
    from importlib import resources

    shipped = resources.files("infimed.train").joinpath("accelerate", f"{config}.yaml")
    cfg = str(shipped) if Path(str(shipped)).is_file() else config
    infimed = shutil.which("infimed") or "infimed"
    argv = ["accelerate", "launch", "--config_file", cfg, *shlex.split(launch_args), infimed, "train", stage, "--model", model,
            "--data", str(data), "--out", str(out)]
    for key, value in options.items():
        if key in ("freeze_vision", "freeze_projector"):
            argv.append(("--freeze-" if value else "--train-") + key.split("_")[1])
        elif key == "learning_rate":
            argv += ["--lr", str(value)]
        else:
            argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def train(stage: str, fn: Callable[..., dict[str, Any]], model: str, data: Path, out: Path, *, upstream: str,
          options: dict[str, Any], accelerate_config: str | None, launch_args: str = "") -> tuple[dict[str, Any], str]:
    """Train one stage into ``out`` unless an identical run is there; (its result record, its fingerprint)."""
    fp = stage_fingerprint("train", stage, upstream, data_fingerprint(data), options, accelerate_config, launch_args)
    if reuse_stage(out, fp, f"training stage {stage}", label=LABEL) and (out / "stage.json").exists():
        return dict(json.loads((out / "stage.json").read_text(encoding="utf-8"))), fp
    log(f"training stage {stage} from {model} on {data} ({count_lines(data)} samples)", LABEL)
    started = time.perf_counter()
    record: dict[str, Any] = {}
    if accelerate_config is None:
        result = fn(model, [data], out, **options)
        record = {k: result.get(k) for k in ("n_samples", "steps", "train_loss", "zero_variance_share")}
    else:
        argv = accelerate_argv(accelerate_config, stage, model, data, out, options, launch_args=launch_args)
        if subprocess.run(argv, check=False).returncode != 0:
            raise RuntimeError(f"training stage {stage} failed: {shlex.join(argv)}")
        record = {"steps": options.get("max_steps"), "launch": shlex.join(argv)}
        if stage == "grpo":
            from infimed.train.callbacks import read_loss_log

            shares = [r["zero_variance_share"] for r in read_loss_log(out / "loss.jsonl")
                      if isinstance(r.get("zero_variance_share"), int | float)]
            record["zero_variance_share"] = round(sum(shares) / len(shares), 4) if shares else None
    record["seconds"] = round(time.perf_counter() - started, 1)
    write_json(out / "stage.json", record)
    mark_stage(out, fp)
    return record, fp


def curation_view(folder: Path) -> dict[str, Any]:
    """What a curation kept: records read, records kept, drops per reason, and the RL step's pass rates."""
    stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    dropped: dict[str, int] = {}
    view: dict[str, Any] = {"n_read": stats["n_read"], "n_curated": stats["n_curated"], "dropped": dropped}
    for st in stats["stages"]:
        for reason, count in st.get("dropped", {}).items():
            dropped[reason] = dropped.get(reason, 0) + count
        if st["name"] == "pass_rate":
            view["mean_pass_rate"] = (st.get("report") or {}).get("mean_pass_rate")
    return view


def _eval_row(results: dict[str, Any]) -> dict[str, Any]:
    overall = results["overall"]
    return {"n": overall["n"], "accuracy": overall["accuracy"], "ci95": overall["ci95"]}


def three_stage(
    out: Path, *, n: int = 300, seed: int = 0, data: Path | None = None, captions: Path | None = None,
    model: str | None = None, method: str = "full", align_steps: int = 40, sft_steps: int = 60,
    grpo_steps: int = 8, sft_budget: float = 0.5, rl_budget: int | None = None, k: int = 4,
    batch_size: int = 16, align_lr: float = 1e-3, sft_lr: float = 2e-3, grpo_lr: float = 1e-4,
    num_generations: int = 4, eval_batch_size: int = 64, workers: int = 2, accelerate_config: str | None = None,
    accelerate_args: str = "", rollout_backend: str = "hf",
) -> dict[str, Any]:
    """Run the three stages into ``out``; returns the summary also written to ``summary.json``."""
    from infimed.train.align import train_align
    from infimed.train.grpo import train_grpo
    from infimed.train.sft import train_sft

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folders = make_data(out, data=data, captions=captions, n=n, seed=seed)
    vqa_test = folders["vqa"] / "test.jsonl"
    test, test_fp = load_samples(vqa_test), data_fingerprint(vqa_test)
    common = [f"workers={workers}"]

    cap_file, _ = curate(folders["captions"] / "train.jsonl", out / "curated" / "captions", config="captions",
                         overrides=[*common, f"against=[{json.dumps(str(folders['captions'] / 'test.jsonl'))}]"],
                         what="caption curation")
    sft_file, _ = curate(folders["vqa"] / "train.jsonl", out / "curated" / "sft", config=None,
                         overrides=[*common, f"budget={sft_budget}", f"against=[{json.dumps(str(vqa_test))}]",
                                    "steps.select.balance=proportional"], what="SFT curation")
    base, fp = base_model(out, model=model, seed=seed)
    summary: dict[str, Any] = {"base_model": base, "stages": {}}
    evaluations: dict[str, dict[str, Any]] = {}

    def evaluate_stage(stage: str, model_dir: Path, model_fp: str) -> None:
        log(f"evaluation after {stage}: {vqa_test} ({len(test)} questions)", LABEL)
        res = evaluate(model_dir, test, out / "evals" / stage, batch_size=eval_batch_size, model_fp=model_fp,
                       test_fp=test_fp, what=f"evaluation after {stage}", label=LABEL)
        evaluations[stage] = _eval_row(res)

    shared = {"batch_size": batch_size, "logging_steps": 1, "save_steps": 100_000, "seed": seed}
    align_dir = out / "runs" / "align"
    rec, fp = train("align", train_align, base, cap_file, align_dir, upstream=fp, accelerate_config=accelerate_config, launch_args=accelerate_args,
                    options={**shared, "max_steps": align_steps, "learning_rate": align_lr})
    summary["stages"]["align"] = {"n_train": count_lines(cap_file), "curation": curation_view(cap_file.parent), **rec}
    evaluate_stage("align", align_dir, fp)

    sft_dir = out / "runs" / "sft"
    rec, fp = train("sft", train_sft, str(align_dir), sft_file, sft_dir, upstream=fp,
                    accelerate_config=accelerate_config, launch_args=accelerate_args,
                    options={**shared, "max_steps": sft_steps, "learning_rate": sft_lr, "method": method,
                             "freeze_vision": True, "freeze_projector": False, "mode": "direct"})
    summary["stages"]["sft"] = {"n_train": count_lines(sft_file), "curation": curation_view(sft_file.parent), **rec}
    evaluate_stage("sft", sft_dir, fp)

    rl_overrides = [*common, f"steps.pass_rate.model={json.dumps(str(sft_dir))}", f"steps.pass_rate.k={k}", f"steps.pass_rate.backend={rollout_backend}",
                    "steps.pass_rate.mode=direct", "steps.pass_rate.max_new_tokens=12",
                    f"steps.dedup_against.files=[{json.dumps(str(sft_file))}]", f"against=[{json.dumps(str(vqa_test))}]"]
    if rl_budget is not None:
        rl_overrides.append(f"budget={rl_budget}")
    rl_file, _ = curate(folders["vqa"] / "train.jsonl", out / "curated" / "rl-prompts", config="rl-prompts",
                        overrides=rl_overrides, upstream=fp, what="RL prompt selection",
                        hint="; no prompt had a pass rate strictly between 0 and 1: raise --k or --sft-steps")
    grpo_dir = out / "runs" / "grpo"
    rec, fp = train("grpo", train_grpo, str(sft_dir), rl_file, grpo_dir, upstream=fp,
                    accelerate_config=accelerate_config, launch_args=accelerate_args,
                    options={**shared, "batch_size": max(num_generations, batch_size // num_generations * num_generations),
                             "max_steps": grpo_steps, "learning_rate": grpo_lr, "method": method, "mode": "direct",
                             "num_generations": num_generations, "max_completion_length": 12, "beta": 0.0})
    summary["stages"]["grpo"] = {"n_train": count_lines(rl_file), "curation": curation_view(rl_file.parent), **rec}
    evaluate_stage("grpo", grpo_dir, fp)

    for stage in STAGES:
        summary["stages"][stage]["eval"] = evaluations[stage]
    summary.update({"test": str(vqa_test), "n_test": len(test), "seconds": round(time.perf_counter() - started, 1),
                    "data": {k: str(v) for k, v in folders.items()}})
    write_json(out / "summary.json", summary)
    write_text(out / "summary.md", render_md(summary))
    log(f"done in {summary['seconds']:.0f} s: {out / 'summary.md'}", LABEL)
    return summary


def render_md(summary: dict[str, Any]) -> str:
    lines = ["# Three-stage recipe: align -> SFT -> GRPO", "",
             f"Base model `{summary['base_model']}`; every stage evaluated on `{summary['test']}` "
             f"({summary['n_test']} questions) with `infimed eval`.", "",
             "| stage | pool -> curated | steps | train s | accuracy | 95% CI | n | zero-variance groups |",
             "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for stage in STAGES:
        st = summary["stages"][stage]
        ev = st["eval"]
        zv, acc, ci = st.get("zero_variance_share"), ev["accuracy"], ev["ci95"]
        acc_text = "-" if acc is None else f"{acc:.1%}"
        ci_text = "-" if not ci or ci[0] is None else f"{ci[0]:.1%} - {ci[1]:.1%}"
        lines.append(f"| {stage} | {st['curation']['n_read']} -> {st['n_train']} | {st.get('steps')} | {st['seconds']} | {acc_text} | {ci_text} | "
                     f"{ev['n']} | {'-' if zv is None else f'{zv:.1%}'} |")
    rl = summary["stages"]["grpo"]["curation"]
    if rl.get("mean_pass_rate") is not None:
        lines += ["", f"RL prompts: mean pass rate of the SFT policy over the pool {rl['mean_pass_rate']:.1%}; "
                  f"kept the {rl['n_curated']} strictly inside the band."]
    lines += ["", f"This run took {summary['seconds']} s (a rerun reuses every stage whose inputs are unchanged)."]
    return "\n".join(lines) + "\n"
