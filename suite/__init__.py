"""ablate: a benchmarking and ablation suite for sequence models.

`import suite as ablate` gives the Python API (`ablate.load`, `ablate.run`, `ablate.results`,
see suite.api), imported on first use so that `ablate --help` stays fast.
"""

__version__ = "0.1.0"

_API = ("load", "run", "results", "Results")


def __getattr__(name: str):
    if name in _API:
        from suite import api

        return getattr(api, name)
    raise AttributeError(f"module 'suite' has no attribute {name!r}")
