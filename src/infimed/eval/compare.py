"""Compare scored runs side by side: accuracy per slice and the paired difference against the first run.

Runs are compared on the same questions: rows of ``samples.jsonl`` are aligned by sample id, and only ids
scored in both runs (no error in either) enter the paired statistics. For each other run and each slice
(overall, answer type, modality, task, language, modality x task) we report the difference in accuracy
(run - baseline) on the paired ids, its 95% paired-bootstrap interval, and McNemar's exact p-value. A
difference is flagged significant when p < ``ALPHA``; both methods are in ``infimed.eval.metrics``.
Per-run accuracies in the table are each run's own accuracy over its scored rows in that slice. The
baseline defines the questions and their slices; ids that only other runs have are not compared.
"""

from __future__ import annotations

from dataclasses import dataclass
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
        if row.get("variant_of"):  # a probe's variant: runs are compared on the plain questions
            continue
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
    ids = list(base)  # the baseline's questions; ids only other runs have are not compared
    outcomes = [_Outcomes.of(run, ids) for run in runs]
    # slice membership comes from the baseline's rows (the same questions in every run)
    members: dict[tuple[str, str], list[int]] = {("overall", "all"): list(range(len(ids)))}
    for pos, sid in enumerate(ids):
        for breakdown, value in slice_values(base[sid]).items():
            members.setdefault((breakdown, value), []).append(pos)
    slices = []
    for (breakdown, value), positions in sorted(members.items(), key=_slice_order):
        key = "overall" if breakdown == "overall" else f"{breakdown}={value}"  # the seeds scoring used
        gseed = group_seed(seed, key)
        idx = np.asarray(positions, dtype=np.int64)
        slices.append({
            "slice": breakdown,
            "value": value,
            "runs": [o.accuracy(idx, n_boot=n_boot, seed=gseed) for o in outcomes],
            "diffs": [outcomes[0].paired(o, idx, n_boot=n_boot, seed=gseed) for o in outcomes[1:]],
        })
    return {
        "runs": [{"name": n, "dir": str(d), "n_rows": len(r)} for n, d, r in zip(names, dirs, runs, strict=True)],
        "baseline": names[0],
        "n_shared_ids": int(np.logical_and.reduce([o.present for o in outcomes]).sum()),
        "alpha": ALPHA,
        "n_boot": n_boot,
        "seed": seed,
        "slices": slices,
    }


@dataclass(frozen=True)
class _Outcomes:
    """One run's rows as arrays aligned to the baseline's id order."""

    present: np.ndarray  # the run has a row for the id
    scored: np.ndarray  # ... and it is not an error
    correct: np.ndarray

    @classmethod
    def of(cls, run: dict[str, dict[str, Any]], ids: list[str]) -> _Outcomes:
        rows = [run.get(i) for i in ids]
        present = np.array([r is not None for r in rows], dtype=bool)
        scored = np.array([r is not None and r.get("error") is None for r in rows], dtype=bool)
        correct = np.array([r is not None and bool(r["correct"]) for r in rows], dtype=bool) & scored
        return cls(present, scored, correct)

    def accuracy(self, idx: np.ndarray, *, n_boot: int, seed: int) -> dict[str, Any]:
        n, k = int(self.scored[idx].sum()), int(self.correct[idx].sum())
        return {
            "n": n,
            "accuracy": k / n if n else None,
            "ci95": accuracy_ci(k, n, n_boot=n_boot, seed=seed),
            "n_errors": int((self.present[idx] & ~self.scored[idx]).sum()),
        }

    def paired(self, other: _Outcomes, idx: np.ndarray, *, n_boot: int, seed: int) -> dict[str, Any]:
        both = idx[self.scored[idx] & other.scored[idx]]
        a, b = self.correct[both], other.correct[both]
        n = int(both.size)
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


def _names(dirs: list[Path]) -> list[str]:
    names = [d.resolve().name or str(d) for d in dirs]
    if len(set(names)) < len(names):  # same folder name in different places: use the given paths
        names = [str(d) for d in dirs]
    return names


def _slice_order(item: tuple[tuple[str, str], list[int]]) -> tuple[int, str]:
    (breakdown, value), _ = item
    return (0 if breakdown == "overall" else 1 + BREAKDOWNS.index(breakdown), value)


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
