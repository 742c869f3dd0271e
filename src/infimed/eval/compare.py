"""Compare scored runs side by side: accuracy per slice and the paired difference against the first run.

Runs are compared on the same questions: rows of ``samples.jsonl`` are aligned by sample id, and only ids
scored in both runs (no error in either) enter the paired statistics. For each other run and each slice
(overall, answer type, modality, task, language, modality x task) we report the difference in accuracy
(run - baseline) on the paired ids, its 95% paired-bootstrap interval, and McNemar's exact p-value. A
difference is flagged significant when p < ``ALPHA``; both methods are in ``infimed.eval.metrics``.
Per-run accuracies in the table are each run's own accuracy over its scored rows in that slice. The
baseline defines the questions and their slices; ids that only other runs have are not compared.

Runs are only compared when they asked the same questions the same way: the same sample ids, the same gold
answers (from ``samples.jsonl``), and, where both runs have a ``manifest.json``, the same data checksum and
prompts (version, mode, templates). Otherwise ``compare_runs`` refuses (``IncomparableRunsError``); with
``force`` it goes on, and every line of the rendered table carries the warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infimed.eval.metrics import accuracy_ci, group_seed, mcnemar_exact, paired_bootstrap_diff
from infimed.eval.report import BREAKDOWN_TITLES, pct
from infimed.eval.scoring import BREAKDOWNS, slice_values
from infimed.io.jsonl import iter_json_lines

ALPHA = 0.05
WARN = "(!)"  # marks every table line of a forced comparison of runs that differ


class IncomparableRunsError(ValueError):
    """The runs did not ask the same questions the same way (data, prompts or sample ids differ)."""


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


def load_manifest(run_dir: Path) -> dict[str, Any] | None:
    """``run_dir/manifest.json`` (None when the run has none, e.g. scored by the library without one)."""
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the run's manifest ({exc})") from exc
    return value if isinstance(value, dict) else None


def mismatches(dirs: list[Path], runs: list[dict[str, dict[str, Any]]]) -> list[str]:
    """Why each run is not comparable with the baseline ``dirs[0]``: one sentence per difference."""
    base, base_manifest = runs[0], load_manifest(dirs[0])
    problems: list[str] = []
    for d, run in zip(dirs[1:], runs[1:], strict=True):
        only_base, only_run = [i for i in base if i not in run], [i for i in run if i not in base]
        if only_base or only_run:
            example = (only_base or only_run)[0]
            problems.append(f"{d}: sample ids differ from {dirs[0]} ({len(only_base)} only in the baseline, "
                            f"{len(only_run)} only in this run, e.g. {example!r})")
        gold = [i for i in base if i in run and base[i].get("answer") != run[i].get("answer")]
        if gold:
            problems.append(f"{d}: gold answers differ on {len(gold)} shared id(s), e.g. {gold[0]!r}")
        manifest = load_manifest(d)
        if base_manifest is None or manifest is None:
            continue
        sha_a, sha_b = ((m.get("data") or {}).get("sha256") for m in (base_manifest, manifest))
        if sha_a != sha_b:
            problems.append(f"{d}: data checksum differs (sha256 {str(sha_a)[:12]} in the baseline, "
                            f"{str(sha_b)[:12]} here)")
        prompts_a, prompts_b = base_manifest.get("prompts") or {}, manifest.get("prompts") or {}
        if prompts_a != prompts_b:
            what = [k for k in ("version", "mode", "templates") if prompts_a.get(k) != prompts_b.get(k)]
            problems.append(f"{d}: prompts differ ({', '.join(what) or 'templates'}: "
                            f"{prompts_a.get('version')}/{prompts_a.get('mode')} in the baseline, "
                            f"{prompts_b.get('version')}/{prompts_b.get('mode')} here)")
    return problems


def compare_runs(dirs: list[Path], *, n_boot: int = 1000, seed: int = 0, force: bool = False) -> dict[str, Any]:
    """Side-by-side accuracies and paired differences against ``dirs[0]`` (the baseline).

    Refuses runs that differ in sample ids, gold answers, data checksum or prompts unless ``force``; the
    result's ``warnings`` then lists every difference."""
    if len(dirs) < 2:
        raise ValueError(f"compare needs at least two run directories, got {len(dirs)}")
    runs = [load_run(Path(d)) for d in dirs]
    warnings = mismatches([Path(d) for d in dirs], runs)
    if warnings and not force:
        raise IncomparableRunsError("runs are not comparable: " + "; ".join(warnings)
                                    + " (pass --force to compare them anyway)")
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
        "warnings": warnings,
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
        correct = np.array([r is not None and r["correct"] is True for r in rows], dtype=bool) & scored  # null: an error
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
    warnings = result.get("warnings") or []
    if warnings:
        lines += [f"**{WARN} Warning: these runs did not ask the same questions the same way; every line "
                  f"marked {WARN} compares different things:**", "", *(f"- {w}" for w in warnings), ""]
    mark = f" {WARN}" if warnings else ""
    current = None
    for s in result["slices"]:
        if s["slice"] != current:
            current = s["slice"]
            title = "Overall" if current == "overall" else BREAKDOWN_TITLES.get(current, current)
            if lines[-1]:
                lines.append("")
            lines += [f"## {title}", "", header, rule]
        cells = [_acc_cell(r) for r in s["runs"]] + [_diff_cell(d) for d in s["diffs"]]
        lines.append(f"| {s['value']}{mark} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
