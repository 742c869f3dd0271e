"""The quickstart report: one self-contained HTML page (inline SVG charts, no network) plus Markdown.

It states the truth of the run: the verdict sentence is computed from the numbers, including when
curation does not beat random selection.
"""

from __future__ import annotations

from html import escape
from typing import Any

from infimed.quickstart.charts import CSS, bar_chart_ci, hbar_chart, line_chart

ARMS = ("curated", "random", "full")
ARM_LABEL = {"curated": "curated subset", "random": "random subset", "full": "whole dirty pool"}
TESTS_NOTE = ("The verdict reads the 95% CI of the mean difference (test questions resampled, each averaged over "
              "seeds). McNemar's exact test counts only the questions one arm got right more often than the other, "
              "not by how much, so near the edge the two can disagree.")


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def _ci(ci: Any) -> str:
    return "" if not ci else f"[{ci[0]:.1%}, {ci[1]:.1%}]"


def _signed(v: float) -> str:
    return f"{v * 100:+.1f} pts"


def _ci_pts(ci: Any) -> str:
    """A difference's CI in percentage points: [+0.1, +6.8] pts."""
    return "" if not ci else f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}] pts"


def verdict(summary: dict[str, Any]) -> list[str]:
    """Plain sentences about whether the run met the goal, computed from the summary."""
    arms, diffs, goal = summary["arms"], summary["differences"], summary["goal"]
    cur, rnd, full = (arms[a]["accuracy"] for a in ARMS)
    d_rand = diffs["curated-random"]
    out = [
        f"Curated {summary['budget_label']} ({arms['curated']['n_train']} samples) reached {_pct(cur)}; "
        f"the random subset of the same size reached {_pct(rnd)}; the whole dirty pool "
        f"({arms['full']['n_train']} samples) reached {_pct(full)}."
    ]
    if goal["beats_random_beyond_ci"]:
        out.append(
            f"Curation beat random selection by {_signed(d_rand['diff'])} (95% CI {_ci_pts(d_rand['ci95'])}), "
            "a margin larger than its confidence interval."
        )
    else:
        out.append(
            f"Curation did NOT beat random selection beyond its confidence interval: the difference was "
            f"{_signed(d_rand['diff'])} (95% CI {_ci_pts(d_rand['ci95'])})."
        )
    ratio = goal["curated_over_full"]
    out.append(
        f"The curated subset reached {ratio:.1%} of the whole pool's accuracy "
        + ("(goal: at least 95%, met)." if goal["reaches_95pct_of_full"] else "(goal: at least 95%, NOT met).")
    )
    return out


def learned_tasks(summary: dict[str, Any], margin: float = 0.05) -> tuple[list[str], list[str]]:
    """(tasks some arm answers ``margin`` above a uniform guess, tasks every arm leaves near chance)."""
    rows = summary.get("per_task", {})
    learned = [t for t, r in rows.items() if max(r.get(a, 0.0) for a in ARMS) - r["chance"] >= margin]
    return learned, [t for t in rows if t not in learned]


FULL_MARGIN_GOAL = 0.15  # the whole pool should beat a uniform guess by this much on every task type


def task_sentence(summary: dict[str, Any]) -> str:
    learned, near_chance = learned_tasks(summary)
    if not near_chance:
        text = "Every task was learned beyond a uniform guess by at least one model."
    else:
        text = (f"Learned beyond a uniform guess (by 5+ points): {', '.join(learned) or 'none'}. Near chance for "
                f"every model: {', '.join(near_chance)}; those tasks cannot separate the training sets.")
    return f"{text} {full_margin_sentence(summary)}".strip()


def full_margin_sentence(summary: dict[str, Any]) -> str:
    """Whether the whole pool beat a uniform guess by ``FULL_MARGIN_GOAL`` on every task type, naming the worst."""
    rows = summary.get("per_task", {})
    if not rows or any("full" not in r for r in rows.values()):
        return ""
    worst = min(rows, key=lambda t: rows[t]["full"] - rows[t]["chance"])
    margin = rows[worst]["full"] - rows[worst]["chance"]
    met = "met" if margin >= FULL_MARGIN_GOAL else "NOT met"
    return (f"The whole pool beat a uniform guess by at least {margin * 100:+.1f} points on every task type "
            f"(least: {worst}; goal: +{FULL_MARGIN_GOAL * 100:.0f} on each, {met}).")


def alignment_sentence(summary: dict[str, Any]) -> str:
    """What the alignment stage taught, from its caption check (empty without the stage)."""
    check = (summary.get("alignment") or {}).get("check")
    if not check:
        return ""
    return (f"Before any question-answer training, the aligned model captioned {check['n']} held-out caption images "
            f"naming the right modality in {_pct(check['modality'])} and the right body region in "
            f"{_pct(check['region'])} of them (a uniform guess: 25%).")


def _task_rows(summary: dict[str, Any]) -> list[tuple[str, int, float, list[float]]]:
    return [(t, r["n"], r["chance"], [r.get(a, 0.0) for a in ARMS]) for t, r in summary.get("per_task", {}).items()]


def _slices(results: dict[str, dict[str, Any]]) -> list[str]:
    keys: set[str] = set()
    for res in results.values():
        keys.update(res.get("by", {}).get("modality_x_task", {}))
    return sorted(keys)


def _slice_rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, list[tuple[float | None, Any, int]]]]:
    rows = []
    for key in _slices(results):
        cells = []
        for arm in ARMS:
            g = results.get(arm, {}).get("by", {}).get("modality_x_task", {}).get(key)
            cells.append((g["accuracy"], g.get("ci95"), g["n"]) if g else (None, None, 0))
        rows.append((key, cells))
    return rows


def _curation_items(curation: dict[str, Any]) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(kept after each step, removed per reason) from the curation stats.json."""
    steps = curation.get("steps", [])
    funnel = [("input", float(steps[0]["in"]))] if steps else []
    reasons: dict[str, int] = {}
    for st in steps:
        funnel.append((st["name"], float(st["kept"])))
        for reason, n in st.get("dropped", {}).items():
            reasons[reason] = reasons.get(reason, 0) + n
    return funnel, sorted(((k, float(v)) for k, v in reasons.items()), key=lambda kv: -kv[1])


def stage_rows(summary: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(stage, what it did, seconds) per stage of the run, in order; reused stages say so."""
    rows = []
    for st in summary.get("stages") or []:
        detail = "reused" if st.get("reused") else ""
        if not detail and st.get("samples") is not None:
            detail = f"{st['samples']} samples"
        elif not detail and st.get("questions") is not None:
            detail = f"{st['questions']} questions"
        elif not detail and st.get("runs") is not None:
            detail = f"{st['runs']} runs, {st.get('parallel', 1)} at a time"
        if st.get("alongside"):
            detail = ", ".join(filter(None, [detail, f"alongside {st['alongside']} (then waited {st.get('waited', 0):.1f} s)"]))
        name = str(st["stage"])
        if st.get("within"):
            name, detail = f"- {name}", ", ".join(filter(None, [detail, f"within {st['within']}"]))
        rows.append((name, detail, float(st["seconds"])))
    return rows


def time_sentence(summary: dict[str, Any]) -> str:
    totals = summary.get("stage_seconds") or {}
    parts = ", ".join(f"{kind} {sec:.0f} s" for kind, sec in totals.items())
    return f"The run took {summary.get('seconds', 0):.0f} s: {parts}." if parts else ""


def render_html(
    summary: dict[str, Any], results: dict[str, dict[str, Any]], curation: dict[str, Any],
    losses: dict[str, list[tuple[float, float]]], commands: list[tuple[str, str]],
) -> str:
    arms = summary["arms"]
    charts = [
        bar_chart_ci("accuracy", "Test accuracy by training set (95% CI)", [ARM_LABEL[a] for a in ARMS],
                     [arms[a]["accuracy"] for a in ARMS], [arms[a]["ci95"] for a in ARMS]),
    ]
    funnel, reasons = _curation_items(curation)
    curation_charts = []
    if funnel:
        curation_charts.append(hbar_chart("funnel", "Samples left after each curation step", funnel))
    if reasons:
        curation_charts.append(hbar_chart("removed", "Samples removed, by reason", reasons))
    loss_chart = line_chart("loss", "Training loss", {ARM_LABEL.get(k, k): v for k, v in losses.items()})

    diff_rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{_signed(d['diff'])}</td><td>{_ci_pts(d['ci95'])}</td>"
        f"<td>{d.get('p_value', float('nan')):.3g}</td><td>{'yes' if d['significant'] else 'no'}</td></tr>"
        for name, d in summary["differences"].items()
    )
    arm_rows = "".join(
        f"<tr><td>{ARM_LABEL[a]}</td><td>{arms[a]['n_train']}</td><td>{_pct(arms[a]['accuracy'])}</td>"
        f"<td>{_ci(arms[a]['ci95'])}</td></tr>"
        for a in ARMS
    )
    slice_rows = "".join(
        f"<tr><td>{escape(key)}</td>" + "".join(
            f"<td>{_pct(acc)} <small>{_ci(ci)} n={n}</small></td>" for acc, ci, n in cells
        ) + "</tr>"
        for key, cells in _slice_rows(results)
    )
    task_rows = "".join(
        f"<tr><td>{escape(t)}</td><td>{n}</td><td>{_pct(c)}</td>" + "".join(f"<td>{_pct(v)}</td>" for v in accs) + "</tr>"
        for t, n, c, accs in _task_rows(summary)
    )
    recall_rows = "".join(
        f"<tr><td>{escape(kind)}</td><td>{m['n']}</td><td>{m['caught']}</td><td>{_pct(m['recall'])}</td></tr>"
        for kind, m in sorted(curation.get("recall", {}).items())
    )
    precision_rows = "".join(
        f"<tr><td>{escape(reason)}</td><td>{m['n']}</td><td>{escape(str(m.get('kind', '')))}</td>"
        f"<td>{_pct(m['precision'])}</td></tr>"
        for reason, m in sorted(curation.get("precision", {}).items())
    )
    cmd_html = "".join(f"<h3>{escape(t)}</h3><pre><code>{escape(c)}</code></pre>" for t, c in commands)
    time_rows = "".join(f"<tr><td>{escape(name)}</td><td>{escape(detail)}</td><td>{sec:.1f}</td></tr>"
                        for name, detail, sec in stage_rows(summary))
    verdict_html = "".join(f"<p>{escape(s)}</p>" for s in verdict(summary))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>infimed quickstart: does curation beat random selection?</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 980px; margin: 24px auto; padding: 0 16px; color: #1d1d1d; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: left; font-size: 13px; }}
th {{ background: #f3f5f8; }}
pre {{ background: #f6f8fa; padding: 8px; overflow-x: auto; font-size: 12px; }}
.verdict {{ background: #f3f7ff; border-left: 4px solid #2f6fb0; padding: 4px 12px; }}
{CSS}
</style></head><body>
<h1>Curated vs random vs whole pool</h1>
<p>{escape(summary.get('description', ''))}</p>
<div class="verdict">{verdict_html}</div>
<h2>Accuracy</h2>
{''.join(charts)}
<table><tr><th>training set</th><th>n train</th><th>accuracy</th><th>95% CI</th></tr>{arm_rows}</table>
<h2>Paired differences</h2>
<table><tr><th>comparison</th><th>difference</th><th>95% CI (paired bootstrap)</th><th>McNemar p</th>
<th>CI excludes 0</th></tr>{diff_rows}</table>
<p>{escape(TESTS_NOTE)}</p>
<h2>Per task, against a uniform guess</h2>
<p>{escape(alignment_sentence(summary))}</p>
<p>{escape(task_sentence(summary)) if summary.get("per_task") else ""}</p>
<table><tr><th>task</th><th>n</th><th>uniform guess</th>{''.join(f'<th>{ARM_LABEL[a]}</th>' for a in ARMS)}</tr>{task_rows}</table>
<h2>Per modality x task (seed {summary.get("seeds", [0])[0]})</h2>
<table><tr><th>slice</th>{''.join(f'<th>{ARM_LABEL[a]}</th>' for a in ARMS)}</tr>{slice_rows}</table>
<h2>What curation removed, and why</h2>
{''.join(curation_charts)}
<h3>Injected defects caught (recall)</h3>
<table><tr><th>defect kind</th><th>injected</th><th>caught</th><th>recall</th></tr>{recall_rows}</table>
<h3>Removals that were real defects (precision)</h3>
<table><tr><th>reason</th><th>removed</th><th>checked against</th><th>precision</th></tr>{precision_rows}</table>
<h2>Training loss</h2>
{loss_chart}
<h2>Where the time went</h2>
<p>{escape(time_sentence(summary))}</p>
<table><tr><th>stage</th><th></th><th>seconds</th></tr>{time_rows}</table>
<h2>Reproduce</h2>
{cmd_html}
</body></html>
"""


def render_md(summary: dict[str, Any], results: dict[str, dict[str, Any]], commands: list[tuple[str, str]]) -> str:
    arms = summary["arms"]
    lines = ["# infimed quickstart", "", *verdict(summary), "", str(summary.get("description", "")), "",
             "| training set | n train | accuracy | 95% CI |", "|---|---:|---:|---|"]
    lines += [f"| {ARM_LABEL[a]} | {arms[a]['n_train']} | {_pct(arms[a]['accuracy'])} | {_ci(arms[a]['ci95'])} |"
              for a in ARMS]
    lines += ["", "| comparison | difference | 95% CI | McNemar p | CI excludes 0 |", "|---|---:|---|---:|---|"]
    lines += [f"| {k} | {_signed(d['diff'])} | {_ci_pts(d['ci95'])} | {d.get('p_value', float('nan')):.3g} | "
              f"{'yes' if d['significant'] else 'no'} |" for k, d in summary["differences"].items()]
    lines += ["", TESTS_NOTE]
    if summary.get("per_task"):
        lines += ["", "## Per task, against a uniform guess", "", alignment_sentence(summary), "", task_sentence(summary), "",
                  "| task | n | uniform guess | " + " | ".join(ARM_LABEL[a] for a in ARMS) + " |",
                  "|---|---:|---:|" + "---:|" * len(ARMS)]
        lines += [f"| {t} | {n} | {_pct(c)} | " + " | ".join(_pct(v) for v in accs) + " |"
                  for t, n, c, accs in _task_rows(summary)]
    lines += ["", f"## Per modality x task (seed {summary.get('seeds', [0])[0]})", "", "| slice | " + " | ".join(ARM_LABEL[a] for a in ARMS) + " |",
              "|---|" + "---:|" * len(ARMS)]
    lines += [f"| {key} | " + " | ".join(f"{_pct(acc)} (n={n})" for acc, _, n in cells) + " |"
              for key, cells in _slice_rows(results)]
    if summary.get("stages"):
        lines += ["", "## Where the time went", "", time_sentence(summary), "", "| stage | | seconds |",
                  "|---|---|---:|"]
        lines += [f"| {name} | {detail} | {sec:.1f} |" for name, detail, sec in stage_rows(summary)]
    lines += ["", "## Reproduce", ""]
    for title, cmd in commands:
        lines += [f"{title}:", "", "```bash", cmd, "```", ""]
    return "\n".join(lines)
