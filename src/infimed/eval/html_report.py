"""``infimed eval report``: one self-contained HTML page for one or several scored runs.

Everything is read from the run folders (results.json, samples.jsonl, manifest.json, robustness.json when
the run was probed) and drawn with the quickstart's inline SVG charts: accuracy per benchmark with 95%
intervals, the modality x task heatmap, the robustness panel, paired differences against the first run
(``eval compare``), unparsed and error rates, and a sample browser whose rows (with image thumbnails, as
data URIs) are filtered by a few lines of inline JavaScript. No network, no external file.
"""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from infimed.eval.compare import compare_runs
from infimed.eval.metrics import accuracy_ci, group_seed
from infimed.eval.probes.report import TITLES, blind_flags
from infimed.eval.scoring import UNKNOWN
from infimed.io.jsonl import iter_json_lines, write_text
from infimed.quickstart.charts import CSS, bar_chart_ci, hbar_chart, heatmap, line_chart

THUMB = 72


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    return value if isinstance(value, dict) else None


def load_run(run_dir: Path) -> dict[str, Any]:
    rows = []
    path = run_dir / "samples.jsonl"
    for lineno, row, err in iter_json_lines(path):
        if err is not None or not isinstance(row, dict):
            raise ValueError(f"{path}:{lineno}: {err or 'expected a JSON object'}")
        rows.append(row)
    return {"dir": run_dir, "rows": rows, "results": _read_json(run_dir / "results.json") or {},
            "manifest": _read_json(run_dir / "manifest.json") or {},
            "robustness": _read_json(run_dir / "robustness.json")}


def verdict(row: dict[str, Any]) -> str:
    if row.get("error"):
        return "error"
    if row.get("extracted") is None:
        return "unparsed"
    return "correct" if row.get("correct") else "wrong"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def _ci(ci: Any) -> str:
    return "" if not ci else f"[{ci[0]:.1%}, {ci[1]:.1%}]"


def _names(dirs: list[Path]) -> list[str]:
    names = [d.resolve().name or str(d) for d in dirs]
    return names if len(set(names)) == len(names) else [str(d) for d in dirs]


def accuracy_by_source(rows: list[dict[str, Any]], seed: int = 0) -> dict[str, dict[str, Any]]:
    tally: dict[str, list[int]] = {}
    for r in rows:
        if r.get("variant_of") or r.get("error"):
            continue
        t = tally.setdefault(str(r.get("source") or UNKNOWN), [0, 0])
        t[0] += bool(r.get("correct"))
        t[1] += 1
    return {src: {"n": n, "accuracy": k / n, "ci95": accuracy_ci(k, n, seed=group_seed(seed, f"source={src}"))}
            for src, (k, n) in sorted(tally.items())}


def _heatmap(name: str, run_name: str, results: dict[str, Any]) -> str:
    cells_in = results.get("by", {}).get("modality_x_task", {})
    cells = {}
    for key, g in cells_in.items():
        modality, _, task = key.partition("/")
        if g.get("accuracy") is not None:
            cells[(modality, task)] = (float(g["accuracy"]), int(g["n"]))
    rows = sorted({m for m, _ in cells})
    cols = sorted({t for _, t in cells})
    return heatmap(name, f"{run_name}: accuracy per modality x task", rows, cols, cells)


def _robustness_panel(idx: int, run_name: str, rob: dict[str, Any]) -> str:
    probes = rob.get("probes", {})
    parts = [f"<h3>{escape(run_name)}</h3>"]
    flags = blind_flags(rob)
    if flags:
        parts.append(f'<p class="flag">Answered as well without the image: {escape(", ".join(flags))}.</p>')
    if "circular" in probes:
        m = probes["circular"]["overall"]
        bars = [("plain", m["plain_accuracy"]), ("every rotation (mean)", m["rotation_accuracy"]),
                ("circular (all rotations)", m["circular_accuracy"])]
        parts.append(bar_chart_ci(f"circular-{idx}", "Choice questions: plain vs circular (95% CI)",
                                  [b[0] for b in bars], [b[1]["rate"] or 0.0 for b in bars],
                                  [b[1]["ci95"] for b in bars]))
        bias = m.get("position_bias", {})
        if bias:
            parts.append(hbar_chart(f"position-{idx}", "Position bias: share of answers per letter (share of right answers in brackets)",
                                    [(f"{k} (right {v['right']:.0%})", v["chosen"]) for k, v in bias.items()],
                                    fmt="{:.0%}"))
    if "blind" in probes:
        m = probes["blind"]["overall"]
        bars = [("with its image", m["sighted_accuracy"]), ("no image", m["no_image_accuracy"]),
                ("another image", m["other_image_accuracy"])]
        parts.append(bar_chart_ci(f"blind-{idx}", "Does the model look at the image? (95% CI)",
                                  [b[0] for b in bars], [b[1]["rate"] or 0.0 for b in bars],
                                  [b[1]["ci95"] for b in bars]))
        parts.append(hbar_chart(f"quadrants-{idx}", "Blind quadrants (right with image / right without)",
                                [(q.replace("_", " "), float(v["k"])) for q, v in m["quadrants"].items()]))
    if "image" in probes:
        m = probes["image"]["overall"]
        plain = m["plain_accuracy"]["rate"] or 0.0
        series: dict[str, list[tuple[float, float]]] = {}
        for cell in m["by_corruption"].values():
            series.setdefault(cell["corruption"], [(0.0, plain)]).append(
                (float(cell["severity"]), cell["accuracy"]["rate"] or 0.0))
        curves: dict[str, Sequence[tuple[float, float]]] = dict(series)
        parts.append(line_chart(f"severity-{idx}", "Accuracy vs corruption severity (0 = plain)", curves,
                                x_label="severity", y_label="accuracy"))
    from infimed.eval.probes.base import PROBES

    lines = ""
    for name, result in probes.items():
        summary = PROBES.get(name).summary if name in PROBES else None
        if summary is not None:
            lines += f"<tr><td>{escape(TITLES.get(name, name))}</td><td>{escape(summary(result['overall']))}</td></tr>"
    parts.append(f"<table><tr><th>probe</th><th>overall</th></tr>{lines}</table>")
    return "".join(parts)


def _diff_table(dirs: list[Path]) -> str:
    result = compare_runs(dirs)
    names = [r["name"] for r in result["runs"]]
    head = "".join(f"<th>{escape(n)}</th>" for n in names) + "".join(
        f"<th>{escape(n)} - {escape(names[0])}</th>" for n in names[1:])
    body = []
    for s in result["slices"]:
        if s["slice"] not in ("overall", "answer_type", "modality", "task"):
            continue
        cells = "".join(f"<td>{_pct(r['accuracy'])} <small>{_ci(r['ci95'])} n={r['n']}</small></td>" for r in s["runs"])
        for d in s["diffs"]:
            if d["diff"] is None:
                cells += "<td>-</td>"
                continue
            ci = d["ci95"]
            sig = ' class="sig"' if d["significant"] else ""
            cells += (f"<td{sig}>{100 * d['diff']:+.1f} pts <small>[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}] "
                      f"p={d['p_value']:.3g}{' *' if d['significant'] else ''}</small></td>")
        label = "overall" if s["slice"] == "overall" else f"{s['slice']}={s['value']}"
        body.append(f"<tr><td>{escape(label)}</td>{cells}</tr>")
    return (f"<p>Paired on the questions scored in both runs (paired bootstrap 95% CI, McNemar exact p; "
            f"* = p &lt; {result['alpha']}). Baseline: {escape(result['baseline'])}.</p>"
            f'<table id="paired"><tr><th>slice</th>{head}</tr>{"".join(body)}</table>')


def _rates_table(names: list[str], runs: list[dict[str, Any]]) -> str:
    body = []
    for name, run in zip(names, runs, strict=True):
        groups: dict[str, Counter[str]] = {}
        for r in run["rows"]:
            groups.setdefault(r.get("probe") or "plain", Counter())[verdict(r)] += 1
        for probe, c in sorted(groups.items(), key=lambda kv: (kv[0] != "plain", kv[0])):
            n = sum(c.values())
            scored = n - c["error"]
            body.append(f"<tr><td>{escape(name)}</td><td>{escape(probe)}</td><td>{n}</td>"
                        f"<td>{_pct(c['unparsed'] / scored if scored else None)}</td><td>{c['error']}</td>"
                        f"<td>{_pct(c['error'] / n if n else None)}</td></tr>")
    return ("<table id=\"rates\"><tr><th>run</th><th>questions</th><th>rows</th><th>unparsed (of scored)</th>"
            f"<th>errors</th><th>error rate</th></tr>{''.join(body)}</table>")


def _thumbnail(path: str, cache: dict[str, str | None]) -> str | None:
    if path not in cache:
        from infimed.io.images import ImageLoadError, load_image

        try:
            im = load_image(path)
            im.thumbnail((THUMB, THUMB))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
            cache[path] = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        except ImageLoadError:
            cache[path] = None
    return cache[path]


def browser_rows(names: list[str], runs: list[dict[str, Any]], max_samples: int) -> tuple[list[dict], dict]:
    """Compact rows for the sample browser and the thumbnails they point to (one per distinct image)."""
    thumbs: dict[str, str | None] = {}
    keys: dict[str, str] = {}
    out = []
    for name, run in zip(names, runs, strict=True):
        for r in run["rows"][:max_samples]:
            images = r.get("images") or []
            thumb = None
            if images:
                uri = _thumbnail(str(images[0]), thumbs)
                if uri is not None:
                    thumb = keys.setdefault(str(images[0]), f"t{len(keys)}")
            out.append({"run": name, "id": r.get("id"), "modality": r.get("modality") or UNKNOWN,
                        "task": r.get("task") or UNKNOWN, "probe": r.get("probe") or "plain",
                        "variant": r.get("variant") or "", "verdict": verdict(r), "question": r.get("question") or "",
                        "options": r.get("options") or {}, "response": r.get("response"),
                        "extracted": r.get("extracted"), "answer": r.get("answer"), "error": r.get("error"),
                        "thumb": thumb})
    return out, {k: thumbs[path] for path, k in keys.items()}


SCRIPT = """
(function () {
  const rows = JSON.parse(document.getElementById('rows-data').textContent);
  const thumbs = JSON.parse(document.getElementById('thumbs-data').textContent);
  const fields = ['run', 'modality', 'task', 'verdict', 'probe'];
  const body = document.getElementById('browser-rows');
  const count = document.getElementById('browser-count');
  fields.forEach(function (f) {
    const sel = document.getElementById('f-' + f);
    Array.from(new Set(rows.map(function (r) { return r[f]; }))).sort().forEach(function (v) {
      const o = document.createElement('option'); o.value = v; o.textContent = v; sel.appendChild(o);
    });
    sel.addEventListener('change', render);
  });
  function cell(tr, text, cls) {
    const td = document.createElement('td'); td.textContent = text == null ? '' : String(text);
    if (cls) { td.className = cls; } tr.appendChild(td); return td;
  }
  function render() {
    const want = {};
    fields.forEach(function (f) { want[f] = document.getElementById('f-' + f).value; });
    const hits = rows.filter(function (r) { return fields.every(function (f) { return !want[f] || r[f] === want[f]; }); });
    body.textContent = '';
    hits.slice(0, 200).forEach(function (r) {
      const tr = document.createElement('tr'); tr.dataset.verdict = r.verdict; tr.dataset.modality = r.modality;
      const td = document.createElement('td');
      if (r.thumb && thumbs[r.thumb]) { const im = document.createElement('img'); im.src = thumbs[r.thumb]; im.alt = r.id; td.appendChild(im); }
      tr.appendChild(td);
      cell(tr, r.run + ' / ' + r.id + (r.variant ? ' (' + r.probe + ': ' + r.variant + ')' : ''));
      cell(tr, r.question + Object.keys(r.options).sort().map(function (k) { return '\\n' + k + '. ' + r.options[k]; }).join(''), 'pre');
      cell(tr, r.error ? 'error: ' + r.error : r.response, 'pre');
      cell(tr, r.extracted); cell(tr, r.answer); cell(tr, r.verdict, 'v-' + r.verdict);
      body.appendChild(tr);
    });
    count.textContent = 'showing ' + Math.min(hits.length, 200) + ' of ' + hits.length + ' matching rows';
  }
  render();
})();
"""


def _json_script(element_id: str, value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def render_report(dirs: list[Path], *, max_samples: int = 3000) -> str:
    dirs = [Path(d) for d in dirs]
    runs = [load_run(d) for d in dirs]
    names = _names(dirs)
    run_rows = []
    for name, run in zip(names, runs, strict=True):
        o = run["results"].get("overall", {})
        man = run["manifest"]
        run_rows.append(f"<tr><td>{escape(name)}</td><td>{escape(str(man.get('model', '')))}</td>"
                        f"<td>{escape(str((man.get('backend') or {}).get('backend', '')))}</td><td>{o.get('n', '-')}</td>"
                        f"<td>{_pct(o.get('accuracy'))} <small>{_ci(o.get('ci95'))}</small></td>"
                        f"<td>{_pct(o.get('unparsed_rate'))}</td><td>{o.get('n_errors', '-')}</td></tr>")
    labels, values, cis = [], [], []
    for name, run in zip(names, runs, strict=True):
        for src, g in accuracy_by_source(run["rows"]).items():
            labels.append(src if len(runs) == 1 else f"{name}: {src}")
            values.append(g["accuracy"])
            cis.append(g["ci95"])
    acc_chart = bar_chart_ci("accuracy", "Accuracy per benchmark (95% CI)", labels, values, cis,
                             width=max(520, 90 * len(labels)))
    heatmaps = "".join(_heatmap(f"heatmap-{i}", n, r["results"]) for i, (n, r) in enumerate(zip(names, runs, strict=True)))
    robust = "".join(_robustness_panel(i, n, r["robustness"])
                     for i, (n, r) in enumerate(zip(names, runs, strict=True)) if r["robustness"])
    diffs = _diff_table(dirs) if len(dirs) > 1 else "<p>One run: nothing to pair with.</p>"
    rows, thumbs = browser_rows(names, runs, max_samples)
    cut = [f"{n} ({len(r['rows'])} rows)" for n, r in zip(names, runs, strict=True) if len(r["rows"]) > max_samples]
    cut_note = (f"<p>The browser holds the first {max_samples} rows of each run; cut: {escape(', '.join(cut))} "
                "(--max-samples).</p>") if cut else ""
    selects = "".join(f'<label>{f} <select id="f-{f}"><option value="">all</option></select></label> '
                      for f in ("run", "modality", "task", "verdict", "probe"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'unsafe-inline'">
<title>infimed evaluation report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1180px; margin: 24px auto; padding: 0 16px; color: #1d1d1d; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: left; font-size: 13px; vertical-align: top; }}
th {{ background: #f3f5f8; }}
td.pre {{ white-space: pre-wrap; max-width: 340px; }}
td.sig {{ background: #fff4d6; }}
.flag {{ background: #fff0f0; border-left: 4px solid #c0392b; padding: 4px 12px; }}
.v-correct {{ color: #1e7b34; }} .v-wrong {{ color: #b03a2e; }} .v-unparsed {{ color: #8a6d00; }} .v-error {{ color: #666; }}
img {{ width: {THUMB}px; image-rendering: pixelated; }}
{CSS}
</style></head><body>
<h1>Evaluation report</h1>
<table><tr><th>run</th><th>model</th><th>backend</th><th>n</th><th>accuracy [95% CI]</th><th>unparsed</th><th>errors</th></tr>
{''.join(run_rows)}</table>
<h2>Accuracy per benchmark</h2>
{acc_chart}
<h2>Modality x task</h2>
{heatmaps}
<h2>Robustness</h2>
{robust or '<p>No run was probed (infimed eval probe).</p>'}
<h2>Paired differences</h2>
{diffs}
<h2>Unparsed and error rates</h2>
{_rates_table(names, runs)}
<h2>Samples</h2>
{cut_note}<div id="filters">{selects}<span id="browser-count"></span></div>
<table id="browser"><thead><tr><th>image</th><th>run / id</th><th>question and options</th><th>response</th>
<th>extracted</th><th>gold</th><th>verdict</th></tr></thead><tbody id="browser-rows"></tbody></table>
{_json_script('rows-data', rows)}
{_json_script('thumbs-data', thumbs)}
<script>{SCRIPT}</script>
</body></html>
"""


def write_report(dirs: list[Path], out: Path, *, max_samples: int = 3000) -> Path:
    write_text(Path(out), render_report(dirs, max_samples=max_samples))
    return Path(out)
