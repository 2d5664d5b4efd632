"""Contrasts: the unit a verdict is about, found from the trials' resolved configurations.

An ablation asks what one component buys, so a verdict compares two variants whose resolved
configurations differ in exactly one knob (a model knob, `positional`, or a training knob,
`training.epochs`): anything else would mix two causes into one Δ. A `grid:` over two or more
knobs is a factorial design, answered by main effects (a knob's level against its reference level,
averaged over the other axes) and two-way interactions, each a per-seed linear combination of cells.
A study may list its own pairs (`compare:`); a pair that differs in more than one knob is then
named by all of them. Nothing here names a knob: the rules work for any field of the configuration.

A contrast is weights over variant labels: Δ for one seed = Σ weight × the variant's value at that
seed, so a pair is {b: +1, a: −1} (Δ = b − a) and a main effect averages the cells on each side.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from suite.significance import ALPHA, smallest_p

# Fields that say how a run is recorded or batched, not what is trained.
BOOKKEEPING = frozenset({"training.history_every", "training.eval_batch_size", "training.vectorize"})


@dataclass(frozen=True)
class Contrast:
    name: str  # "positional: learned → none, in attention"
    knob: str  # "positional", "training.epochs", "dropout × norm"
    a: str  # the reference: a variant label, or the cells it averages, in words
    b: str
    value_a: str  # the knob's value(s) on each side
    value_b: str
    within: str  # what the two sides share (the encoder, or the axes averaged over)
    weights: tuple[tuple[str, float], ...]  # (variant label, weight): Δ per seed = Σ w × value
    kind: str = "pair"  # pair, main effect, interaction

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.weights]


def knobs(config: dict | str) -> dict[str, Any]:
    """The knobs of one resolved configuration: model fields by name, training fields as
    `training.<name>`; the dataset, seed, device and measurement are not knobs of a variant."""
    if isinstance(config, str):
        config = json.loads(config)
    out = dict(config.get("model") or {})
    out.update({f"training.{k}": v for k, v in (config.get("training") or {}).items()})
    return {k: v for k, v in out.items() if k not in BOOKKEEPING}


def text(value: Any) -> str:
    return "none" if value is None else str(value)


def value_of(config: dict, knob: str) -> str:
    """A knob's value in words; a field a configuration leaves out is at its schema's default."""
    return text(config[knob]) if knob in config else "default"


def differing(x: dict, y: dict) -> list[str]:
    return [k for k in dict.fromkeys([*x, *y]) if x.get(k) != y.get(k)]


def pair(a: str, b: str, configs: dict[str, dict]) -> Contrast:
    """b against the reference a, named by the knobs they differ in."""
    ka, kb = configs.get(a, {}), configs.get(b, {})
    diff = differing(ka, kb)
    if len(diff) == 1:
        knob = diff[0]
        value_a, value_b = value_of(ka, knob), value_of(kb, knob)
    elif diff:  # a listed pair, or a variant only the baseline can be set against
        knob = "variant"
        value_a = a
        value_b = b
    else:  # no configuration (older results) or identical ones: the variants themselves
        knob, value_a, value_b = "variant", a, b
    within = text(ka.get("encoder")) if "encoder" not in diff and "encoder" in ka else a
    name = f"{knob}: {value_a} → {value_b}, in {within}"
    if len(diff) > 1:
        within = f"{len(diff)} knobs differ: {', '.join(diff)}"
        name = f"{a} → {b} ({within})"
    return Contrast(name, knob, a, b, value_a, value_b, within, ((b, 1.0), (a, -1.0)))


def find(
    configs: dict[str, dict],
    baseline: str | None = None,
    compare: list | None = None,
    grid: dict[str, list] | None = None,
) -> list[Contrast]:
    """The study's contrasts. configs: variant label → knobs (study order). Without `compare:`:
    every pair of variants that differ in exactly one knob, the reference being the baseline or
    else the side closer to it (fewer knobs away; then study order); with a grid of ≥ 2 axes, its
    main effects and interactions instead of pairs along its axes. `compare:` lists [a, b] pairs
    (the item "auto" adds the found ones). Without configurations, each variant against the
    baseline."""
    labels = list(configs)
    if not any(configs.values()):
        out = [pair(baseline, v, configs) for v in labels if baseline and v != baseline]
        return _unique_names(out)
    explicit = compare is not None
    items = list(compare or [])
    auto = not explicit or "auto" in items
    out: list[Contrast] = []
    axes = [k for k in (grid or {}) if any(k in c for c in configs.values())]
    factorial = len(axes) >= 2
    if auto:
        if factorial:
            out += _factorial(configs, axes, grid, baseline)
        for x, y in itertools.combinations(labels, 2):
            diff = differing(configs[x], configs[y])
            if len(diff) != 1 or (factorial and diff[0] in axes):
                continue
            out.append(pair(*_orient(x, y, configs, baseline, labels), configs))
    if auto and baseline in configs:  # a variant in no contrast is still set against the baseline
        involved = {label for c in out for label in c.labels}
        out += [pair(baseline, v, configs) for v in labels if v != baseline and v not in involved]
    for item in items:
        if item == "auto":
            continue
        a, b = item
        if not any({c.a, c.b} == {a, b} for c in out if c.kind == "pair"):
            out.append(pair(a, b, configs))
    return _unique_names(out)


def _orient(x: str, y: str, configs, baseline, labels) -> tuple[str, str]:
    if baseline in (x, y):
        return (x, y) if x == baseline else (y, x)
    if baseline in configs:
        dx = len(differing(configs[x], configs[baseline]))
        dy = len(differing(configs[y], configs[baseline]))
        if dx != dy:
            return (x, y) if dx < dy else (y, x)
    return (x, y) if labels.index(x) < labels.index(y) else (y, x)


def _factorial(configs, axes, grid, baseline) -> list[Contrast]:
    """Main effects and two-way interactions within each group of cells that share every other knob."""
    groups: dict[str, dict[tuple, str]] = {}
    for label, k in configs.items():
        rest = json.dumps({n: v for n, v in k.items() if n not in axes}, sort_keys=True, default=str)
        groups.setdefault(rest, {})[tuple(k.get(a) for a in axes)] = label
    out = []
    for cells in groups.values():
        if len(cells) < 2:
            continue
        levels = {a: [v for v in grid[a] if any(c[i] == v for c in cells)] for i, a in enumerate(axes)}
        ref_cell = next((c for c, label in cells.items() if label == baseline), None)
        ref = {a: (ref_cell[i] if ref_cell else levels[a][0]) for i, a in enumerate(axes)}
        some = configs[next(iter(cells.values()))]
        encoder = f" in {text(some['encoder'])}" if "encoder" in some and len(groups) > 1 else ""
        for i, axis in enumerate(axes):
            others = [a for a in axes if a != axis]
            for level in levels[axis]:
                if level == ref[axis]:
                    continue
                side_a = [lab for c, lab in cells.items() if c[i] == ref[axis]]
                side_b = [lab for c, lab in cells.items() if c[i] == level]
                weights = tuple((lab, 1 / len(side_b)) for lab in side_b) + tuple(
                    (lab, -1 / len(side_a)) for lab in side_a
                )
                within = f"mean over {', '.join(others)}{encoder}"
                out.append(
                    Contrast(
                        f"{axis}: {text(ref[axis])} → {text(level)}, main effect ({within})",
                        axis,
                        f"{axis}={text(ref[axis])}",
                        f"{axis}={text(level)}",
                        text(ref[axis]),
                        text(level),
                        within,
                        weights,
                        "main effect",
                    )
                )
        for (i, x), (j, y) in itertools.combinations(list(enumerate(axes)), 2):
            for lx in levels[x]:
                for ly in levels[y]:
                    if lx == ref[x] or ly == ref[y]:
                        continue
                    signs = {(lx, ly): 1.0, (lx, ref[y]): -1.0, (ref[x], ly): -1.0, (ref[x], ref[y]): 1.0}
                    chosen = [(lab, signs[(c[i], c[j])]) for c, lab in cells.items() if (c[i], c[j]) in signs]
                    count = sum(1 for _, s in chosen if s == 1.0) / 2  # cells per corner
                    weights = tuple((lab, s / count) for lab, s in chosen)
                    change = f"{y} {text(ref[y])} → {text(ly)}"
                    out.append(
                        Contrast(
                            f"{x} × {y}: the effect of {change} at {x}={text(lx)} minus at {x}={text(ref[x])}"
                            f"{encoder}",
                            f"{x} × {y}",
                            f"{change} at {x}={text(ref[x])}",
                            f"{change} at {x}={text(lx)}",
                            f"{text(ref[x])}, {text(ref[y])}",
                            f"{text(lx)}, {text(ly)}",
                            f"interaction{encoder}",
                            weights,
                            "interaction",
                        )
                    )
    return out


def _unique_names(found: list[Contrast]) -> list[Contrast]:
    """Two contrasts with one name (the same knob change in two places) name their variants."""
    names = [c.name for c in found]
    out = []
    for c in found:
        if names.count(c.name) > 1 and c.kind == "pair":
            c = Contrast(
                f"{c.name} ({c.a} → {c.b})", c.knob, c.a, c.b, c.value_a, c.value_b, c.within, c.weights
            )
        out.append(c)
    return out


def from_trials(trials) -> dict[str, dict]:
    """Variant label → knobs from a study's trials (for `ablate check`, before anything runs)."""
    out: dict[str, dict] = {}
    for t in trials:
        label = getattr(t, "variant", None) or t.base_row().get("variant")
        if label not in out:
            out[label] = knobs(t.config())
    return out


def from_runs(runs) -> dict[str, dict]:
    """Variant label → knobs from stored rows (the first row of each variant), in the rows' order."""
    out: dict[str, dict] = {}
    if "config" not in runs:
        return {str(v): {} for v in dict.fromkeys(runs["variant"])}
    for label, config in zip(runs["variant"], runs["config"], strict=True):
        if str(label) not in out:
            out[str(label)] = knobs(config)
    return out


def seeds_to_resolve(tests: int, alpha: float = ALPHA) -> int:
    """The fewest seeds at which the same Δ in every seed clears Holm's first threshold over `tests`
    hypotheses: 2 / 2^n < alpha / tests."""
    n = 3
    while smallest_p(n) >= alpha / max(tests, 1):
        n += 1
    return n


def design_warning(seeds: int, contrasts: int, datasets: int, alpha: float = ALPHA) -> str | None:
    """What `ablate check` says before a run whose design cannot call an effect of any size where
    every seed agrees; None where it can."""
    tests = contrasts * datasets
    if not tests or smallest_p(seeds) < alpha / tests:
        return None
    need = seeds_to_resolve(tests, alpha)
    family = f"{contrasts} contrast{'s' if contrasts != 1 else ''} × {datasets} dataset{'s' if datasets != 1 else ''}"
    return (
        f"{seeds} seed{'s' if seeds != 1 else ''}: an exact paired test cannot go below p = {smallest_p(seeds):.4g}, "
        f"and Holm over this study's {family} needs p < {alpha / tests:.4g}: an effect the same in every seed, "
        f"however large, could not be called (unless pairs that both fail to learn leave the family); {need} seeds "
        f"resolve this study's {tests} test{'s' if tests != 1 else ''} (seeds: {need})"
    )
