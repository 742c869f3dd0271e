"""Harness overhead: answer extraction + scoring + aggregation (1,000 bootstrap resamples) on N predictions.

Builds N synthetic samples (choice / yes-no / open, several modalities, tasks, two languages) and
responses in the styles real models produce (bare letters, markers, think blocks, boxed, option text,
sentences, refusals, Chinese), then times, separately:
  1. extraction alone (``check_sample`` for every pair),
  2. ``score_run`` end to end (extraction, grouping, bootstrap CIs for ~60 groups, writing samples.jsonl,
     results.json and report.md), and
  3. ``compare_runs`` of two such runs (paired bootstrap + McNemar per slice).
Building the samples is data loading and not timed. Target: (2) under 10 s for 100k on 2 cores.

    .venv/bin/python bench/eval_harness.py --n 100000
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from infimed.checkers import _normalize_known, check_sample
from infimed.eval.compare import compare_runs
from infimed.eval.scoring import score_run
from infimed.schema import MODALITIES, TASKS, Sample

OPTIONS = {"A": "Pneumonia", "B": "Pneumothorax", "C": "Pleural effusion", "D": "Normal"}
CHOICE_STYLES = (
    "{L}", "{L}.", "({L})", "The answer is {L}.", "Answer: {L}) {T}", "<think>Looking at the pleura, maybe A."
    "</think><answer>{L}</answer>", "\\boxed{{{L}}}", "{L}. {T}, because the findings are typical.",
    "The correct option is ({l}).", "答案：{L}", "{T}", "Based on the image, the most likely diagnosis is {L}.",
    "I cannot determine this from the image.", "Option {L}", "", "B and C",
)
YES_NO_STYLES = (
    "{Y}", "{Y}.", "{Y}, the finding is clearly visible.", "The answer is {y}.", "<think>hmm</think>{Y}",
    "Not sure", "是", "<answer>{y}</answer>",
)
OPEN_ANSWERS = ("left lung", "liver", "right kidney", "2 nodules", "brain")
OPEN_STYLES = ("{A}", "The answer is {A}.", "{A}. It is seen in the image.", "<think>x</think>{A}", "unknown")


def make_samples(n: int, seed: int) -> list[Sample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = rng.random()
        meta = {"id": f"s{i}", "modality": rng.choice(MODALITIES[:6]), "task": rng.choice(TASKS[:6]),
                "language": "zh" if rng.random() < 0.1 else "en"}
        if kind < 0.5:
            out.append(Sample(question="Diagnosis?", options=OPTIONS, answer=rng.choice("ABCD"),
                              answer_type="choice", **meta))
        elif kind < 0.85:
            out.append(Sample(question="Abnormal?", answer=rng.choice(["yes", "no"]), answer_type="yes_no", **meta))
        else:
            out.append(Sample(question="Where?", answer=rng.choice(OPEN_ANSWERS), answer_type="open", **meta))
    return out


def make_predictions(samples: list[Sample], seed: int, accuracy: float) -> dict[str, dict[str, str]]:
    """A response per sample in a random style; the intended answer is right with probability ``accuracy``."""
    rng = random.Random(seed)
    preds = {}
    for s in samples:
        right = rng.random() < accuracy
        if s.answer_type == "choice":
            said = s.answer if right else rng.choice([x for x in "ABCD" if x != s.answer])
            resp = rng.choice(CHOICE_STYLES).format(L=said, l=said.lower(), T=OPTIONS[said])
        elif s.answer_type == "yes_no":
            said = s.answer if right else ("no" if s.answer == "yes" else "yes")
            resp = rng.choice(YES_NO_STYLES).format(Y=said.capitalize(), y=said)
        else:
            said = s.answer if right else "spleen"
            resp = rng.choice(OPEN_STYLES).format(A=said)
        preds[s.id] = {"id": s.id, "response": resp}
    return preds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="number of predictions")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples per group")
    args = parser.parse_args()
    os.environ.setdefault("INFIMED_QUIET", "1")

    t = time.perf_counter()
    samples = make_samples(args.n, seed=0)
    preds = make_predictions(samples, seed=1, accuracy=0.60)
    preds_b = make_predictions(samples, seed=2, accuracy=0.62)
    print(f"data: {args.n} samples built in {time.perf_counter() - t:.2f} s (not part of the harness)")

    t, cpu = time.perf_counter(), time.process_time()
    unparsed = sum(check_sample(s, preds[s.id]["response"]).extracted is None for s in samples)
    extract_s, extract_cpu = time.perf_counter() - t, time.process_time() - cpu
    print(f"extraction: {extract_s:.2f} s wall, {extract_cpu:.2f} s CPU ({args.n / extract_cpu:,.0f} responses/CPU-s), "
          f"unparsed {unparsed / args.n:.1%}")

    with tempfile.TemporaryDirectory() as tmp:
        _normalize_known.cache_clear()  # time score_run cold, not helped by the extraction pass above
        t, cpu = time.perf_counter(), time.process_time()
        results = score_run(samples, preds, Path(tmp) / "a", n_boot=args.n_boot)
        score_s, score_cpu = time.perf_counter() - t, time.process_time() - cpu
        n_groups = 1 + sum(len(g) for g in results["by"].values())
        print(f"score_run (extract + score + {n_groups} groups x {args.n_boot} bootstrap + write): {score_s:.2f} s "
              f"wall, {score_cpu:.2f} s CPU -> {'PASS' if score_s < 10 else 'FAIL'} (< 10 s for 100k; "
              f"wall time grows when other work shares the cores)")
        o = results["overall"]
        print(f"  overall accuracy {o['accuracy']:.3f} ci95 [{o['ci95'][0]:.3f}, {o['ci95'][1]:.3f}], "
              f"unparsed {o['unparsed_rate']:.1%}")
        score_run(samples, preds_b, Path(tmp) / "b", n_boot=args.n_boot)
        t = time.perf_counter()
        cmp = compare_runs([Path(tmp) / "a", Path(tmp) / "b"], n_boot=args.n_boot)
        print(f"compare_runs (2 runs, {len(cmp['slices'])} slices, paired bootstrap + McNemar): "
              f"{time.perf_counter() - t:.2f} s")
        d = cmp["slices"][0]["diffs"][0]
        print(f"  overall b - a = {d['diff']:+.4f} ci95 [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}], "
              f"McNemar p = {d['p_value']:.3g}")


if __name__ == "__main__":
    main()
