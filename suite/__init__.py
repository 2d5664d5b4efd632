"""ablate: a benchmarking and ablation suite for sequence models."""

__version__ = "0.1.0"
