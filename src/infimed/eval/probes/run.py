"""``run_probes``: the plain questions and every probe's variants through the ordinary runner, one cache.

Pass 1 generates the plain samples and the variants of every probe that needs only the sample; pass 2
builds the variants of ``after_plain`` probes (a follow-up turn) from the plain responses and generates
them. Both passes append to the same crash-safe ``predictions.jsonl`` under the run's fingerprint, so a
killed run resumes where it stopped. Everything is scored with the one checker; ``results.json`` holds the
plain questions only (comparable with ``eval run``), ``samples.jsonl`` a row for every variant and
``robustness.json`` each probe's metric overall, per benchmark (source) and per modality x task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from infimed.backends.base import Backend, SamplingParams
from infimed.eval.manifest import build_manifest, request_hash
from infimed.eval.probes.base import PROBES, Group, ProbeContext, Stats
from infimed.eval.probes.report import render_probes
from infimed.eval.report import render_report
from infimed.eval.runner import build_request, check_unique_ids, generate_cached, prepare_run
from infimed.eval.scoring import UNKNOWN, aggregate, score_sample
from infimed.io.jsonl import write_json, write_jsonl, write_text
from infimed.progress import track
from infimed.prompts import Mode
from infimed.schema import Sample

ROBUSTNESS = "robustness.json"
SCHEMA = "infimed-robustness-v1"
PROBE_ORDER = ("circular", "blind", "paraphrase", "image", "negation", "confidence")


def parse_probes(text: str) -> list[str]:
    """``circular,blind`` or ``all`` -> known probe names in a stable order; unknown names raise."""
    names = list(PROBE_ORDER) if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        PROBES.get(name)  # raises "unknown probe ...; known: ..."
    if not names:
        raise ValueError("no probe named; known: " + ", ".join(PROBES.names()))
    return sorted(set(names), key=lambda n: (PROBE_ORDER.index(n) if n in PROBE_ORDER else 99, n))


def build_variants(samples: Sequence[Sample], probes: Sequence[str], ctx: ProbeContext) -> list[Sample]:
    out: list[Sample] = []
    for name in probes:
        probe = PROBES.get(name)
        for s in track(samples, f"probe {name}: variants", total=len(samples)):
            out.extend(probe.variants(s, ctx))
    return out


def run_probes(
    samples: Sequence[Sample], backend: Backend, params: SamplingParams, out_dir: Path, *, probes: Sequence[str],
    mode: Mode = "direct", batch_size: int | None = None, overwrite: bool = False, retry_errors: bool = True,
    data_source: str | None = None, n_boot: int = 1000, severities: tuple[int, ...] = (1, 2, 3),
    rewordings: dict[str, list[str]] | None = None, manifest_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Probe ``backend`` on ``samples`` into ``out_dir`` (resumable); returns the robustness dict."""
    out_dir = Path(out_dir)
    check_unique_ids(samples)
    info, fp = prepare_run(backend, params, out_dir, mode=mode, batch_size=batch_size, overwrite=overwrite)
    if overwrite:
        (out_dir / ROBUSTNESS).unlink(missing_ok=True)
    ctx = ProbeContext(samples, out_dir.resolve() / "probe-inputs", seed=params.seed, mode=mode, severities=severities,
                       rewordings=rewordings or {})
    early = [p for p in probes if not PROBES.get(p).after_plain]
    late = [p for p in probes if PROBES.get(p).after_plain]
    first = [*samples, *build_variants(samples, early, ctx)]
    gen = _generate(first, backend, params, out_dir, mode, retry_errors, "generate plain + variants")
    responses = {s.id: str(gen.done[s.id]["response"]) for s in samples
                 if s.id in gen.done and not gen.done[s.id].get("error") and gen.done[s.id].get("response") is not None}
    second = build_variants(samples, late, replace(ctx, responses=responses))
    gen2 = _generate(second, backend, params, out_dir, mode, retry_errors, "generate follow-up turns")
    everything = [*first, *second]
    check_unique_ids(everything)
    done = {**gen.done, **gen2.done}
    rows = [probe_row(s, done.get(s.id)) for s in track(everything, "scoring", total=len(everything))]
    plain_rows = [r for r in rows if r["probe"] is None]
    results = aggregate(plain_rows, n_boot=n_boot, seed=params.seed)
    robustness = probe_metrics(rows, probes, n_boot=n_boot, seed=params.seed)
    generation = {"plain_and_variants": gen.stats, "follow_up": gen2.stats, "n_variants": len(everything) - len(samples)}
    manifest = build_manifest(
        samples=samples, mode=mode, params=params, backend=info, data_source=data_source, fingerprint=fp,
        extra={"generation": generation, "probes": {"names": list(probes), "severities": list(severities),
                                                    "teacher_rewordings": sum(map(len, (rewordings or {}).values()))},
               "bootstrap": {"seed": params.seed, "n_boot": n_boot}, **(manifest_extra or {})},
    )
    write_jsonl(out_dir / "samples.jsonl", rows)
    write_json(out_dir / "results.json", results)
    write_json(out_dir / ROBUSTNESS, robustness)
    write_json(out_dir / "manifest.json", manifest)
    write_text(out_dir / "report.md", render_report(results, manifest) + "\n" + render_probes(robustness))
    return robustness


def _generate(samples: Sequence[Sample], backend: Backend, params: SamplingParams, out_dir: Path, mode: Mode,
              retry_errors: bool, description: str) -> Any:
    hashes = {s.id: request_hash(s, mode) for s in samples}
    return generate_cached([build_request(s, mode) for s in samples], hashes, backend, params, out_dir,
                           retry_errors=retry_errors, description=description)


def probe_row(sample: Sample, cached: dict[str, Any] | None) -> dict[str, Any]:
    """The samples.jsonl row of a plain sample or a variant (``probe``/``variant``/``variant_of`` null for plain)."""
    prediction = None if cached is None else {"response": cached.get("response"), "error": cached.get("error")}
    row = score_sample(sample, prediction)
    row.update(probe=sample.meta.get("probe"), variant=sample.meta.get("variant"),
               variant_of=sample.meta.get("variant_of"))
    return row


def probe_metrics(rows: Sequence[dict[str, Any]], probes: Sequence[str], *, n_boot: int = 1000,
                  seed: int = 0) -> dict[str, Any]:
    """robustness.json: per probe, the metric overall, by source (benchmark) and by modality x task."""
    plain = {r["id"]: r for r in rows if r["probe"] is None}
    variants: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}  # original id -> probe -> variant -> row
    for r in rows:
        if r["probe"] is not None and r["variant_of"] in plain:
            variants.setdefault(r["variant_of"], {}).setdefault(r["probe"], {})[r["variant"]] = r
    out: dict[str, Any] = {"schema": SCHEMA, "n_samples": len(plain), "n_variants": len(rows) - len(plain), "n_boot": n_boot,
                           "seed": seed, "probes": {}}
    for name in probes:
        probe = PROBES.get(name)
        groups = []  # every plain question, so a metric can count those the probe could not vary
        for sid, row in plain.items():
            by_probe = variants.get(sid, {})
            others = {f"{p}:{v}": r for p, vs in by_probe.items() for v, r in vs.items()}
            groups.append(Group(row, by_probe.get(name, {}), others))
        slices: dict[str, dict[str, list[Group]]] = {"source": {}, "modality_x_task": {}}
        for g in groups:
            slices["source"].setdefault(str(g.plain.get("source") or UNKNOWN), []).append(g)
            key = f"{g.plain.get('modality') or UNKNOWN}/{g.plain.get('task') or UNKNOWN}"
            slices["modality_x_task"].setdefault(key, []).append(g)
        result: dict[str, Any] = {"n_samples": sum(1 for g in groups if g.variants),
                                  "n_variants": sum(len(g.variants) for g in groups),
                                  "overall": probe.metric(groups, Stats(n_boot, seed, f"{name}/overall/")),
                                  "by": {}}
        for breakdown, values in slices.items():
            result["by"][breakdown] = {v: probe.metric(gs, Stats(n_boot, seed, f"{name}/{breakdown}={v}/"))
                                       for v, gs in sorted(values.items()) if any(g.variants for g in gs)}
        out["probes"][name] = result
    return out
