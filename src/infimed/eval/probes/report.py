"""The probes' section of a run's ``report.md``: one line per probe overall, per benchmark and per slice.

Pure formatting of ``robustness.json``; each probe's own ``summary`` writes its line.
"""

from __future__ import annotations

from typing import Any

from infimed.eval.probes.base import PROBES

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
                  f"- **overall**: {summary(result['overall'])}"]
        for breakdown, label in (("source", "benchmark"), ("modality_x_task", "")):
            for value, m in result["by"].get(breakdown, {}).items():
                lines.append(f"- {label + ' ' if label else ''}{value}: {summary(m)}")
        lines.append("")
    return "\n".join(lines)
