"""Reasoning data: teacher chain-of-thought synthesis verified by the shared answer checker, reflection."""
