"""Evaluation: benchmarks, backends, the shared answer checker, metrics and reports."""
