"""The probes' section of a run's ``report.md``: one line per probe overall, per benchmark and per slice.

Pure formatting of ``robustness.json``; each probe's own ``summary`` writes its line.
"""

from __future__ import annotations

from typing import Any

from infimed.eval.probes.base import PROBES, pct

TITLES = {
    "circular": "Circular evaluation (option order)",
    "blind": "Blind: without the image, and with another image",
    "paraphrase": "Paraphrase consistency",
    "image": "Image corruptions that keep the diagnosis",
    "negation": "Negated yes/no questions",
    "confidence": 'Follow-up "Are you sure?"',
}


def blind_flags(robustness: dict[str, Any]) -> list[str]:
    """Benchmarks (sources) and slices whose questions the model answers as well without the image."""
    blind = robustness.get("probes", {}).get("blind")
    if not blind:
        return []
    flags = [f"benchmark {name}" for name, m in blind["by"].get("source", {}).items() if m.get("answerable_blind")]
    flags += [f"slice {name}" for name, m in blind["by"].get("modality_x_task", {}).items() if m.get("answerable_blind")]
    return flags


def render_probes(robustness: dict[str, Any]) -> str:
    lines = ["# Robustness probes", "",
             f"{robustness['n_samples']} questions, {robustness['n_variants']} variants; 95% intervals from "
             f"{robustness['n_boot']} bootstrap resamples (paired for differences; McNemar exact p).", ""]
    flags = blind_flags(robustness)
    if flags:
        lines += ["**Answered as well without the image** (the image does not help significantly): "
                  + ", ".join(flags) + ".", ""]
    for name, result in robustness.get("probes", {}).items():
        summary = PROBES.get(name).summary or (lambda m: str(m))
        lines += [f"## {TITLES.get(name, name)}", "",
                  f"{result['n_samples']} questions probed, {result['n_variants']} variants.", "",
                  f"**Overall**: {summary(result['overall'])}", ""]
        for breakdown, label in (("source", "benchmark"), ("modality_x_task", "modality/task")):
            groups = result["by"].get(breakdown, {})
            if groups:
                lines += [*_table(label, groups), ""]
    return "\n".join(lines)


def _is_rate(v: Any) -> bool:
    return isinstance(v, dict) and "rate" in v and "n" in v


def rates(m: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, dict[str, Any]]:
    """The metric's rates by a readable name, nested groups flattened ("by severity 3 flip rate")."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in m.items():
        name = f"{prefix}{key}".replace("_", " ")
        if _is_rate(value):
            out[name] = value
        elif isinstance(value, dict) and depth < 2 and value and all(isinstance(v, dict) for v in value.values()):
            inner = {k: v for k, v in value.items() if _is_rate(v) or isinstance(v, dict)}
            if all(_is_rate(v) or all(_is_rate(x) for x in v.values()) for v in inner.values()):
                out.update(rates(inner, f"{name} ", depth + 1))
    return out


def _table(label: str, groups: dict[str, dict[str, Any]]) -> list[str]:
    """One row per slice, one column per rate of the metric: ``rate % (n)``."""
    flat = {value: rates(m) for value, m in groups.items()}
    keys = list(dict.fromkeys(k for r in flat.values() for k in r))
    out = [f"| {label} | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for value, r in flat.items():
        cells = [f"{pct(r[k]['rate'])} ({r[k]['n']})" if k in r else "" for k in keys]
        out.append(f"| {value} | " + " | ".join(cells) + " |")
    return out
