"""Benchmarks of the deploy pipeline; run as `python -m bench.<name>` (see bench/README.md)."""
