"""Robustness probes: each module registers one probe in ``PROBES`` (variants of a sample + a metric)."""

from infimed.eval.probes import blind, circular, confidence, image, negation, paraphrase  # noqa: F401  (register)
from infimed.eval.probes.base import PROBES, Group, Probe, ProbeContext, Stats

__all__ = ["PROBES", "Group", "Probe", "ProbeContext", "Stats"]
