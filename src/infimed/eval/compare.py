"""Compare scored runs side by side: accuracy per slice and the paired difference against the first run.

Runs are compared on the same questions: rows of ``samples.jsonl`` are aligned by sample id, and only ids
scored in both runs (no error in either) enter the paired statistics. For each other run and each slice
(overall, answer type, modality, task, language, modality x task) we report the difference in accuracy
(run - baseline) on the paired ids, its 95% paired-bootstrap interval, and McNemar's exact p-value. A
difference is flagged significant when p < ``ALPHA``; both methods are in ``infimed.eval.metrics``.
Per-run accuracies in the table are each run's own accuracy over its scored rows in that slice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from infimed.eval.metrics import accuracy_ci, group_seed, mcnemar_exact, paired_bootstrap_diff
from infimed.eval.report import BREAKDOWN_TITLES, pct
from infimed.eval.scoring import BREAKDOWNS, slice_values
from infimed.io.jsonl import iter_json_lines

ALPHA = 0.05


def load_run(run_dir: Path) -> dict[str, dict[str, Any]]:
    """``{id: row}`` from ``run_dir/samples.jsonl``; clear errors for a missing file or a bad line."""
    path = Path(run_dir) / "samples.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; is {run_dir} a scored run directory (infimed eval run/score)?")
    rows: dict[str, dict[str, Any]] = {}
    for lineno, row, err in iter_json_lines(path):
        if err is not None:
            raise ValueError(f"{path}:{lineno}: {err}")
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise ValueError(f"{path}:{lineno} field 'id': a samples.jsonl row needs a string id")
        if "correct" not in row:
            raise ValueError(f"{path}:{lineno} [id={row['id']}] field 'correct': missing")
        if row["id"] in rows:
            raise ValueError(f"{path}:{lineno} [id={row['id']}] field 'id': duplicate id")
        rows[row["id"]] = row
    return rows


def compare_runs(dirs: list[Path], *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Side-by-side accuracies and paired differences against ``dirs[0]`` (the baseline)."""
    if len(dirs) < 2:
        raise ValueError(f"compare needs at least two run directories, got {len(dirs)}")
    runs = [load_run(Path(d)) for d in dirs]
    names = _names([Path(d) for d in dirs])
    base = runs[0]
    shared = [i for i in base if all(i in r for r in runs[1:])]
    # slice membership comes from the baseline's rows (the same questions in every run)
    members: dict[tuple[str, str], list[str]] = {("overall", "all"): list(base)}
    for sid, row in base.items():
        for breakdown, value in slice_values(row).items():
            members.setdefault((breakdown, value), []).append(sid)
    slices = []
    for (breakdown, value), ids in sorted(members.items(), key=_slice_order):
        key = "overall" if breakdown == "overall" else f"{breakdown}={value}"  # the seeds scoring used
        idset = set(ids)
        slices.append({
            "slice": breakdown,
            "value": value,
            "runs": [_accuracy(run, idset, n_boot=n_boot, seed=group_seed(seed, key)) for run in runs],
            "diffs": [
                _paired(base, run, [i for i in shared if i in idset], n_boot=n_boot, seed=group_seed(seed, key))
                for run in runs[1:]
            ],
        })
    return {
        "runs": [{"name": n, "dir": str(d), "n_rows": len(r)} for n, d, r in zip(names, dirs, runs, strict=True)],
        "baseline": names[0],
        "n_shared_ids": len(shared),
        "alpha": ALPHA,
        "n_boot": n_boot,
        "seed": seed,
        "slices": slices,
    }


def _names(dirs: list[Path]) -> list[str]:
    names = [d.resolve().name or str(d) for d in dirs]
    if len(set(names)) < len(names):  # same folder name in different places: use the given paths
        names = [str(d) for d in dirs]
    return names


def _slice_order(item: tuple[tuple[str, str], list[str]]) -> tuple[int, str]:
    (breakdown, value), _ = item
    return (0 if breakdown == "overall" else 1 + BREAKDOWNS.index(breakdown), value)


def _scored(row: dict[str, Any] | None) -> bool:
    return row is not None and row.get("error") is None


def _accuracy(run: dict[str, dict[str, Any]], ids: set[str], *, n_boot: int, seed: int) -> dict[str, Any]:
    rows = [run.get(i) for i in ids]
    scored = [r for r in rows if r is not None and _scored(r)]
    n, k = len(scored), sum(bool(r["correct"]) for r in scored)
    return {
        "n": n,
        "accuracy": k / n if n else None,
        "ci95": accuracy_ci(k, n, n_boot=n_boot, seed=seed),
        "n_errors": sum(1 for r in rows if r is not None and not _scored(r)),
    }


def _paired(
    base: dict[str, dict[str, Any]], run: dict[str, dict[str, Any]], ids: list[str], *, n_boot: int, seed: int
) -> dict[str, Any]:
    pairs = [(base[i], run[i]) for i in ids if _scored(base[i]) and _scored(run[i])]
    a = np.array([bool(x["correct"]) for x, _ in pairs], dtype=bool)
    b = np.array([bool(y["correct"]) for _, y in pairs], dtype=bool)
    n = len(pairs)
    better, worse = int(np.count_nonzero(b & ~a)), int(np.count_nonzero(a & ~b))
    p = mcnemar_exact(worse, better)
    return {
        "n_paired": n,
        "diff": (better - worse) / n if n else None,
        "ci95": paired_bootstrap_diff(a, b, n_boot=n_boot, seed=seed),
        "n_better": better,
        "n_worse": worse,
        "p_value": p,
        "significant": bool(n and p < ALPHA),
    }


def _signed(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:+.1f}"


def _diff_cell(d: dict[str, Any]) -> str:
    if d["diff"] is None:
        return "-"
    ci = d["ci95"]
    star = " *" if d["significant"] else ""
    return f"{_signed(d['diff'])} [{_signed(ci[0])}, {_signed(ci[1])}] p={d['p_value']:.3g}{star}"


def _acc_cell(r: dict[str, Any]) -> str:
    if r["accuracy"] is None:
        return "-"
    ci = r["ci95"]
    return f"{pct(r['accuracy'])} [{pct(ci[0])}, {pct(ci[1])}] (n={r['n']})"


def render_compare(result: dict[str, Any]) -> str:
    """Markdown: one table per breakdown; accuracy % [95% CI] per run, then the difference of each other
    run vs the baseline in points [paired 95% CI], McNemar p, ``*`` when significant."""
    names = [r["name"] for r in result["runs"]]
    others = names[1:]
    header = "| slice | " + " | ".join(names) + " | " + " | ".join(f"{o} - {names[0]}" for o in others) + " |"
    rule = "|---|" + "---|" * (len(names) + len(others))
    lines = [
        "# Run comparison",
        "",
        f"Baseline: **{result['baseline']}**. {result['n_shared_ids']} sample ids appear in every run; "
        f"differences are paired on ids scored in both runs (paired bootstrap, {result['n_boot']} "
        f"resamples; McNemar exact test; `*` = p < {result['alpha']}).",
        "",
    ]
    current = None
    for s in result["slices"]:
        if s["slice"] != current:
            current = s["slice"]
            title = "Overall" if current == "overall" else BREAKDOWN_TITLES.get(current, current)
            if lines[-1]:
                lines.append("")
            lines += [f"## {title}", "", header, rule]
        cells = [_acc_cell(r) for r in s["runs"]] + [_diff_cell(d) for d in s["diffs"]]
        lines.append(f"| {s['value']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
