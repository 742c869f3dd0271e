"""eval/benchmarks."""
