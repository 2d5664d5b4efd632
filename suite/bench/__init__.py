"""Benchmarks that print numbers: `python -m suite.bench.<name>` (see the Makefile's bench-* targets);
also the kernel study (`kind: kernels`) and the CI speed gate."""
