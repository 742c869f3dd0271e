"""``report.md``: the results of a run as readable markdown tables (overall, each breakdown, modality x task).

Pure formatting of the ``results.json`` dict written by ``scoring.score_run``; nothing is recomputed.
"""

from __future__ import annotations

from typing import Any

BREAKDOWN_TITLES = {
    "answer_type": "Answer type",
    "modality": "Modality",
    "task": "Task",
    "language": "Language",
    "modality_x_task": "Modality x task",
}
_MANIFEST_KEYS = ("model", "backend", "mode", "prompt_version", "seed", "data", "data_sha256", "git", "created")


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def acc_ci(group: dict[str, Any]) -> str:
    """``71.3 [68.0, 74.5]`` (percent), ``-`` when nothing was scored."""
    if group.get("accuracy") is None:
        return "-"
    ci = group.get("ci95")
    return pct(group["accuracy"]) + (f" [{pct(ci[0])}, {pct(ci[1])}]" if ci else "")


def _row(name: str, g: dict[str, Any]) -> str:
    f1 = pct(g["open_f1"]) if "open_f1" in g else ""
    return f"| {name} | {g['n']} | {acc_ci(g)} | {pct(g['unparsed_rate'])} | {g['n_errors']} | {f1} |"


def _table(groups: dict[str, dict[str, Any]], first: str) -> list[str]:
    out = [
        f"| {first} | n | accuracy % [95% CI] | unparsed % | errors | open F1 % |",
        "|---|---:|---|---:|---:|---:|",
    ]
    out += [_row(name, g) for name, g in groups.items()]
    return out


def _matrix(cells: dict[str, dict[str, Any]]) -> list[str]:
    """Modalities as rows, tasks as columns; a cell is ``accuracy (n)``."""
    pairs = [key.split("/", 1) for key in cells]
    modalities = sorted({m for m, _ in pairs})
    tasks = sorted({t for _, t in pairs})
    out = ["| modality \\ task | " + " | ".join(tasks) + " |", "|---|" + "---:|" * len(tasks)]
    for m in modalities:
        row = []
        for t in tasks:
            g = cells.get(f"{m}/{t}")
            row.append("" if g is None else f"{pct(g['accuracy'])} ({g['n']})")
        out.append(f"| {m} | " + " | ".join(row) + " |")
    return out


def _judge_table(results: dict[str, Any]) -> list[str]:
    """Rule and judge scores side by side, overall and per answer type and modality."""
    judge = results["judge"]
    out = [
        "## LLM judge", "",
        f"Judge `{judge['model']}`, template `{judge['template']}` ({judge['template_version']}), policy "
        f"`{judge['policy']}`: {judge['n_calls']} calls, {judge['n_cached']} verdicts from the cache, "
        f"{judge['n_judge_errors']} judge errors (left out of the judge score)."
        + (" The judge was unreachable." if judge.get("judge_down") else ""), "",
        "| slice | rule accuracy % | judge accuracy % [95% CI] | judged % | judge errors | agreement % | kappa |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    groups = {"all": results["overall"]}
    for breakdown in ("answer_type", "modality"):
        groups.update({f"{breakdown}={k}": g for k, g in results.get("by", {}).get(breakdown, {}).items()})
    for name, g in groups.items():
        ci = g.get("judge_ci95")
        judge_acc = "-" if g.get("judge_accuracy") is None else pct(g["judge_accuracy"]) + (
            f" [{pct(ci[0])}, {pct(ci[1])}]" if ci else "")
        kappa = "-" if g.get("judge_kappa") is None else f"{g['judge_kappa']:.2f}"
        out.append(f"| {name} | {acc_ci(g)} | {judge_acc} | {pct(g.get('judged_share'))} | "
                   f"{g.get('n_judge_errors', 0)} | {pct(g.get('judge_agreement'))} | {kappa} |")
    return [*out, ""]


def _report_metrics_table(metrics: dict[str, Any]) -> list[str]:
    """BLEU-1..4, ROUGE-L and METEOR with their intervals, overall and per modality."""
    names = [("bleu1", "BLEU-1"), ("bleu2", "BLEU-2"), ("bleu3", "BLEU-3"), ("bleu4", "BLEU-4"),
             ("rouge_l", "ROUGE-L"), ("meteor", "METEOR")]

    def cell(g: dict[str, Any], key: str) -> str:
        if g.get(key) is None:
            return "-"
        ci = g.get(f"{key}_ci95")
        return pct(g[key]) + (f" [{pct(ci[0])}, {pct(ci[1])}]" if ci else "")

    out = ["## Reports", "", "Free-text metrics (x100) with 95% bootstrap intervals over reports.", "",
           "| slice | n | " + " | ".join(title for _, title in names) + " |", "|---|---:|" + "---|" * len(names)]
    groups = {"all": metrics.get("overall", {})}
    groups.update({f"modality={k}": g for k, g in metrics.get("by", {}).get("modality", {}).items()})
    for name, g in groups.items():
        out.append(f"| {name} | {g.get('n', 0)} | " + " | ".join(cell(g, key) for key, _ in names) + " |")
    note = metrics.get("overall", {}).get("meteor_note")
    return [*out, *(["", f"METEOR: {note}."] if note else []), ""]


def render_report(results: dict[str, Any], manifest: dict[str, Any] | None = None) -> str:
    overall = results["overall"]
    lines = ["# Evaluation report", ""]
    if manifest:
        lines += [f"- {k}: `{manifest[k]}`" for k in _MANIFEST_KEYS if k in manifest]
        lines.append("")
    lines += [
        f"**Accuracy {acc_ci(overall)}** on {overall['n']} scored samples "
        f"({overall['n_errors']} errors left out, unparsed {pct(overall['unparsed_rate'])}%).",
        "",
        f"95% intervals: {results.get('ci_method', 'bootstrap')}, {results.get('n_boot')} resamples, "
        f"seed {results.get('seed')}. Unparsed responses count as wrong.",
        "",
    ]
    if results.get("n_extra_predictions"):
        lines += [f"{results['n_extra_predictions']} predictions had no matching sample and were ignored.", ""]
    lines += ["## Overall", "", *_table({"all": overall}, "slice"), ""]
    if "judge" in results:
        lines += _judge_table(results)
    if "report_metrics" in results:
        lines += _report_metrics_table(results["report_metrics"])
    by = results.get("by", {})
    for breakdown, title in BREAKDOWN_TITLES.items():
        groups = by.get(breakdown)
        if not groups:
            continue
        lines += [f"## {title}", "", *_table(groups, breakdown), ""]
        if breakdown == "modality_x_task":
            lines += ["Accuracy % (n) per modality and task:", "", *_matrix(groups), ""]
    return "\n".join(lines)
