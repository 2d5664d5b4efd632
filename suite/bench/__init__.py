"""Benchmarks that print numbers: run with `python -m suite.bench.<name>` or a make target."""
