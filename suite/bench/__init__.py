"""Benchmarks of the attention kernels: the kernel study (`kind: kernels`) and the CI speed gate."""
