"""Score a run: one checker reading per sample, grouped accuracy with bootstrap CIs, files on disk.

``score_run`` is the only place that turns responses into numbers; the runner calls it after generation
and ``infimed eval score`` calls it on predictions made anywhere else, so both score identically.

Counting rules (each MedEvalKit fault has a rule here):
- A sample whose prediction carries an ``error`` (API failure, broken image) or has no prediction at all
  ("missing prediction") is written to samples.jsonl with that error and ``"correct": null`` (an error is
  not a wrong answer) and left out of ``n``/accuracy; groups count it in ``n_errors``. A group whose
  samples are all errors has ``accuracy`` and ``unparsed_rate`` null.
- Every scored sample is counted exactly once, in ``overall`` and in one value of each breakdown; open
  answers count as correct on exact match after normalisation, and their mean token F1 is ``open_f1``.
- An unparsed response (``extracted`` null) counts as wrong and in ``unparsed_rate``.
- Breakdowns: answer_type, modality, task, language, and modality x task ("ct/lesion_localization");
  a sample without modality or task is grouped under "unknown".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infimed.checkers import check_sample
from infimed.eval.metrics import accuracy_ci, group_seed
from infimed.eval.report import render_report
from infimed.io.jsonl import write_json, write_jsonl, write_text
from infimed.progress import track
from infimed.schema import Sample

if TYPE_CHECKING:
    from infimed.judge import Judge

BREAKDOWNS = ("answer_type", "modality", "task", "language", "modality_x_task")
UNKNOWN = "unknown"
CI_METHOD = "percentile bootstrap (binomial draws, equivalent to resampling samples with replacement)"


@dataclass
class _Tally:
    n: int = 0
    n_correct: int = 0
    n_unparsed: int = 0
    n_errors: int = 0
    n_open: int = 0
    f1_sum: float = 0.0
    keys: list[str] = field(default_factory=list)

    def add(self, row: dict[str, Any]) -> None:
        if row["error"] is not None:
            self.n_errors += 1
            return
        if row["answer_type"] == "report":  # free text: scored by text metrics (results["report_metrics"])
            return
        self.n += 1
        self.n_correct += row["correct"]
        self.n_unparsed += row["extracted"] is None
        if row["answer_type"] == "open":
            self.n_open += 1
            self.f1_sum += row["f1"]

    def group(self, *, n_boot: int, seed: int, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": self.n,
            "n_correct": self.n_correct,
            "accuracy": self.n_correct / self.n if self.n else None,
            "ci95": accuracy_ci(self.n_correct, self.n, n_boot=n_boot, seed=group_seed(seed, key)),
            "unparsed_rate": self.n_unparsed / self.n if self.n else None,
            "n_unparsed": self.n_unparsed,
            "n_errors": self.n_errors,
        }
        if self.n_open:
            out["open_f1"] = self.f1_sum / self.n_open
        return out


def score_sample(sample: Sample, prediction: Mapping[str, Any] | None) -> dict[str, Any]:
    """One samples.jsonl row: the checker's reading of the prediction, or the error that replaced it."""
    row: dict[str, Any] = {
        "id": sample.id, "response": None, "extracted": None, "correct": None, "rule": "error",
        "answer": sample.answer, "answer_type": sample.answer_type, "modality": sample.modality,
        "task": sample.task, "language": sample.language, "source": sample.source, "error": None,
    }
    if prediction is None:
        row["error"] = "missing prediction"
        return row
    response, error = prediction.get("response"), prediction.get("error")
    if error:  # an empty error string means none
        row.update(response=response if isinstance(response, str) else None, error=str(error))
        return row
    if not isinstance(response, str):
        got = "no response" if response is None else f"response must be a string, got {type(response).__name__}"
        row["error"] = got
        return row
    got_check = check_sample(sample, response)
    row.update(response=response, extracted=got_check.extracted, correct=got_check.correct, rule=got_check.rule)
    if sample.answer_type in ("open", "report"):
        row.update(precision=got_check.precision, recall=got_check.recall, f1=got_check.f1)
    return row


def slice_values(row: Mapping[str, Any]) -> dict[str, str]:
    """The group a row falls in for each breakdown (shared with ``compare``)."""
    modality, task = row.get("modality") or UNKNOWN, row.get("task") or UNKNOWN
    return {
        "answer_type": str(row.get("answer_type") or UNKNOWN),
        "modality": str(modality),
        "task": str(task),
        "language": str(row.get("language") or UNKNOWN),
        "modality_x_task": f"{modality}/{task}",
    }


def aggregate(rows: Iterable[dict[str, Any]], *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """``results.json`` content from samples.jsonl rows (with judge scores when the rows were judged)."""
    rows = list(rows)
    overall = _Tally()
    by: dict[str, dict[str, _Tally]] = {b: {} for b in BREAKDOWNS}
    n_rows = 0
    for row in rows:
        n_rows += 1
        overall.add(row)
        for breakdown, value in slice_values(row).items():
            tally = by[breakdown].get(value)
            if tally is None:
                tally = by[breakdown][value] = _Tally()
            tally.add(row)
    results = {
        "overall": overall.group(n_boot=n_boot, seed=seed, key="overall"),
        "by": {
            b: {v: t.group(n_boot=n_boot, seed=seed, key=f"{b}={v}") for v, t in sorted(groups.items())}
            for b, groups in by.items()
        },
        "n_samples": n_rows,
        "n_boot": n_boot,
        "seed": seed,
        "ci_method": CI_METHOD,
    }
    if any(row.get("answer_type") == "report" for row in rows):
        from infimed.eval.text_metrics import report_metrics

        results["report_metrics"] = report_metrics(rows, slice_values, n_boot=n_boot, seed=seed)
    if any("judged" in row for row in rows):
        from infimed.judge.agreement import add_judge_scores

        add_judge_scores(results, rows, slice_values, n_boot=n_boot, seed=seed)
    return results


def score_run(
    samples: Iterable[Sample],
    predictions: Mapping[str, Mapping[str, Any]],
    out_dir: Path,
    *,
    manifest: dict[str, Any] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    judge: Judge | None = None,
    judge_on: str = "open",
) -> dict[str, Any]:
    """Score every sample against its prediction; write samples.jsonl, results.json, report.md (and
    manifest.json when given) atomically into ``out_dir``; return the results.

    With ``judge``, the samples ``judge_on`` selects are also graded by the LLM judge (verdicts cached on
    disk); results gain the judge scores and their agreement with the rules, the manifest the judge."""
    out_dir = Path(out_dir)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    judged_samples: dict[str, Sample] = {}
    total = len(samples) if isinstance(samples, list | tuple) else None
    for sample in track(samples, "scoring", total=total):
        if sample.id in seen:
            raise ValueError(f"samples: duplicate id {sample.id!r}; every sample must have its own id")
        seen.add(sample.id)
        if judge is not None:
            judged_samples[sample.id] = sample
        rows.append(score_sample(sample, predictions.get(sample.id)))
    if judge is not None:
        from infimed.judge.scoring import judge_rows

        judge_rows(rows, judged_samples, judge, policy=judge_on)
    results = aggregate(rows, n_boot=n_boot, seed=seed)
    if judge is not None:
        results["judge"] = {"policy": judge_on, "model": judge.model, "template": judge.template.name,
                            "template_version": judge.template.version, **judge.stats.to_dict()}
        if manifest is not None:
            manifest["judge"] = {**judge.describe(), "policy": judge_on, "stats": judge.stats.to_dict()}
    results["n_extra_predictions"] = sum(1 for pid in predictions if pid not in seen)
    write_jsonl(out_dir / "samples.jsonl", rows)
    write_json(out_dir / "results.json", results)
    if manifest is not None:
        write_json(out_dir / "manifest.json", manifest)
    write_text(out_dir / "report.md", render_report(results, manifest))
    return results
