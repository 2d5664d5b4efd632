"""A module imported on first use: `torch = lazy_import("torch")`.

Commands that never touch a tensor (`ablate list`, `ablate check`) load studies, configurations,
datasets' declarations and kernels' names; importing torch would be most of their time. Modules on
that path that use torch only inside functions bind it this way; modules that subclass `nn.Module`
import torch as usual and are themselves imported only when a model is built or a trial runs.
"""

from __future__ import annotations

import importlib
import types


class _LazyModule(types.ModuleType):
    def __getattr__(self, attr: str):
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)  # later lookups are plain attribute reads
        return getattr(module, attr)


def lazy_import(name: str) -> types.ModuleType:
    """A stand-in for module `name` that imports it when an attribute is first read."""
    return _LazyModule(name)
