"""A name → factory registry shared by variants, datasets and kernels.

Modelled on timm and lm-evaluation-harness: a decorator registers a factory
beside the code it names, `create(name, **overrides)` builds it, and an unknown
name is answered with the closest registered names.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists the close matches."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = factory
            return factory

        return decorator

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        close = difflib.get_close_matches(str(name), self._entries, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        return f"unknown {self.kind} {name!r}{hint} (available: {', '.join(self.list())})"

    def create(self, name: str, **overrides: Any) -> Any:
        return self.get(name)(**overrides)

    def list(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def describe(self, name: str) -> str:
        """First line of the factory's docstring, for `ablate list`."""
        doc = inspect.getdoc(self.get(name)) or ""
        return doc.splitlines()[0] if doc else ""
