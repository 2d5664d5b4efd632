"""Imports point down the layers below, never up: entry points, presentation, runner, executors,
store, study kinds, the kind protocol, components and foundations (ARCHITECTURE.md). A small AST walk over the
package, local (function-level) imports included, so a cycle cannot hide behind one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from suite import kinds

PACKAGE = Path(__file__).resolve().parents[1] / "suite"

# Top to bottom. A module belongs to the layer of its longest matching prefix; it may import
# its own layer (without a cycle) and every layer below, never one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("entry points", ("suite.__main__", "suite.cli", "suite.api")),
    ("developer tools", ("suite.bench",)),
    (
        "presentation",
        ("suite.report", "suite.export", "suite.console", "suite.inventory", "suite.reference", "suite.use"),
    ),
    ("runner", ("suite.runner", "suite.execution")),
    ("executors", ("suite.executors",)),
    ("store", ("suite.store",)),
    ("study loading", ("suite.overrides",)),
    ("study kinds", tuple(m for kind in kinds.BUILTINS.values() for m in kind.modules)),
    ("kind protocol", ("suite.kinds",)),
    (
        "components",
        (
            "suite.train",
            "suite.train_defaults",
            "suite.objective",
            "suite.vectorized",
            "suite.artifacts",
            "suite.checkpoints",
            "suite.measure",
            "suite.models",
            "suite.data",
            "suite.kernels",
            "suite.metrics",
            "suite.lm_eval",
            "suite.sequential",
        ),
    ),
    (
        "foundations",
        (
            "suite",  # the package itself: its version (it reaches up to suite.api only when asked)
            "suite.spec",
            "suite.lazy",
            "suite.arguments",
            "suite.identity",
            "suite.executors.spec",
            "suite.paths",
            "suite.locate",
            "suite.progress",
            "suite.registry",
            "suite.significance",
        ),
    ),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    best, depth = None, -1  # the longest prefix wins ("suite" matches only the package itself)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or (prefix != "suite" and module.startswith(prefix + "."))
            if matches and prefix.count(".") + (prefix != "suite") > depth:
                best, depth = index, prefix.count(".")
    if best is None:
        raise AssertionError(f"{module} is in no layer of tests/test_imports.py: add it to LAYERS")
    return best


def imports_of(module: str) -> set[str]:
    """The package modules `module` imports anywhere in its body (a name imported from a
    package resolves to the submodule when there is one)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # `import suite.x.y` where y is an attribute
                name = name.rpartition(".")[0]
            if name.startswith("suite") and name != module:
                out.add(name)
    return out


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_imports_point_down():
    upward = [
        f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
        for m, targets in sorted(GRAPH.items())
        for t in sorted(targets)
        if layer_of(t) < layer_of(m) and not (m == "suite" and t == "suite.api")
    ]
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a path that returns to its start, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def without_package_parents(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's __init__ that imports its own submodules (registries that register their
    members) is not a cycle with them; everything else is."""
    return {
        m: {t for t in targets if not (m.startswith(t + ".") and t in MODULES)}
        for m, targets in graph.items()
    }


def test_no_import_cycles():
    cycle = find_cycle(without_package_parents(GRAPH))
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_the_check_finds_a_cycle_and_an_upward_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer_of("suite.report.stats") < layer_of("suite.store") < layer_of("suite.models.config")


@pytest.mark.parametrize("module", ["suite.report", "suite.report.figures", "suite.report.stats"])
def test_the_report_never_reaches_for_models(module):
    assert not {t for t in GRAPH[module] if t.startswith(("suite.models", "suite.study", "suite.runner"))}
