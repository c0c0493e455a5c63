"""Benchmarks: `make bench` runs every bench/*.py and regenerates docs/benchmarks.md."""
