"""Benchmarks that print numbers: `python -m suite.bench.<name>` (see the Makefile's bench-* targets)."""
