"""What `ablate` prints: listings, `check`'s plan and the end-of-run summary (progress while a
study runs is suite.progress)."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import textwrap
from collections import Counter
from pathlib import Path

from suite.progress import duration

WIDTH = 100
LONG_S = 15 * 60  # `check` suggests faster settings past this estimate
MIN_SEEDS_FOR_TESTS = 3  # suite.report gives no interval or test below this


def paragraph(doc: str | None) -> str:
    """A docstring's first paragraph as one line: whole sentences, never cut."""
    text = inspect.cleandoc(doc or "").split("\n\n")[0]
    return " ".join(text.split())


def first_sentence(text: str) -> str:
    """A description's opening sentence (a study's question), whole."""
    return re.split(r"(?<=[.?!])\s", paragraph(text), maxsplit=1)[0]


def entry(name: str, text: str, width: int = 20) -> str:
    indent = " " * width
    return textwrap.fill(
        text or "(no description)",
        WIDTH,
        initial_indent=f"{name:{width - 1}s} ",
        subsequent_indent=indent,
        break_on_hyphens=False,
    )


def listing(what: str, studies_dir: Path | None = None) -> str:
    """`ablate list WHAT`: every entry with its description and, for datasets and variants,
    its parameters with their defaults."""
    lines = []
    if what == "studies":
        from suite import paths
        from suite.kinds import load_study
        from suite.spec import StudyError

        for name, path in paths.find_all(studies_dir).items():
            where = "built-in" if paths.is_builtin(path) else str(path.parent)
            try:
                text = first_sentence(load_study(path).description) or "(no description)"
            except StudyError as err:
                text = f"(invalid: {str(err).splitlines()[0].removeprefix(f'{path}: ')})"
            except Exception as err:  # noqa: BLE001 - one bad study must not hide the others
                text = f"(invalid: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
            lines.append(entry(name, f"{text} [{where}]", 24))
        for link in paths.links_outside(studies_dir):
            lines.append(
                entry(link.stem, f"(skipped: a link to {link.resolve()}, outside {link.parent})", 24)
            )
        return "\n".join(lines) + "\n" if lines else "no studies found\n"
    if what == "datasets":
        from suite.data import REGISTRY

        for name in REGISTRY.list():
            factory = REGISTRY.get(name)
            params = ", ".join(
                f"{p.name}={p.default!r}" for p in inspect.signature(factory).parameters.values()
            )
            lines.append(entry(name, paragraph(factory.__doc__)))
            lines.append(entry("", f"parameters: {params or 'none'}"))
    elif what == "variants":
        from suite.models import REGISTRY
        from suite.models.config import ModelConfig

        shared = ModelConfig.knob_defaults()
        for name in REGISTRY.list():
            cfg = REGISTRY.create(name)
            defaults = type(cfg).knob_defaults()
            values = {key: getattr(cfg, field) for key, field in type(cfg).knobs().items()}
            changed = [f"{k}={v!r}" for k, v in values.items() if k == "encoder" or v != defaults[k]]
            own = [f"{k}={v!r}" for k, v in defaults.items() if k not in shared]
            lines.append(entry(name, paragraph(REGISTRY.get(name).__doc__)))
            lines.append(entry("", f"sets: {', '.join(changed)}"))
            if own:
                lines.append(entry("", f"its encoder's own knobs (defaults): {', '.join(own)}"))
        lines.append(
            entry(
                "",
                "every variant also takes the knobs every encoder shares (ARCHITECTURE.md); defaults: "
                + ", ".join(f"{k}={v!r}" for k, v in shared.items() if k != "encoder"),
            )
        )
    else:
        from suite.kernels import REGISTRY

        for name in REGISTRY.list():
            lines.append(entry(name, paragraph(REGISTRY.get(name).__doc__)))
    return "\n".join(lines) + "\n"


def check_report(study, path: Path, results_dir: Path) -> str:
    """`ablate check`: the resolved plan, what the results folder already holds, an estimate
    of the rest from earlier runs, and warnings a user acts on before a long run."""
    from suite.kinds import FINISHED
    from suite.store import Store

    trials = study.trials()
    keys = {t.key for t in trials}
    store = Store(results_dir / study.name)
    runs = store.runs()
    done_rows = runs[runs["key"].isin(keys) & runs["status"].isin(FINISHED)] if len(runs) else runs
    done = set(done_rows["key"]) if len(done_rows) else set()
    done -= store.lacking_checkpoints(t.key for t in trials if getattr(t, "checkpoint", False))
    missing = [t for t in trials if t.key not in done]
    latest = runs.set_index("key")["status"] if len(runs) else {}  # the store keeps one row per trial
    skipped = [t for t in missing if latest.get(t.key) == "skipped"]  # retried: costs nothing unless it runs
    fresh = [t for t in missing if latest.get(t.key) != "skipped"]
    lines = [
        f"{path}: valid",
        f"{study.name}: {len(trials)} trials{study.shape}",
        f"results in {store.dir}: {len(done)} done, {len(missing)} to run"
        + (
            f" ({len(skipped)} skipped last time: their data or device was absent; retried)"
            if skipped
            else ""
        ),
    ]
    estimate = estimate_seconds(fresh, done_rows)
    if fresh and estimate is not None:
        lines.append(
            f"estimate for the {len(fresh)}{' not skipped last time' if skipped else ' to run'}: "
            f"{duration(estimate)} (from the wall time of "
            f"{len(done_rows)} earlier trial(s); load and executor change it)"
        )
    elif fresh:
        lines.append("estimate: none yet (no earlier runs of these trials in the results folder)")
    lines += [f"warning: {w}" for w in warnings(study, trials, estimate)]
    return "\n".join(lines)


def estimate_seconds(missing, done_rows) -> float | None:
    """Median wall seconds of earlier trials of the same variant (else of any), times what is missing."""
    if not missing or done_rows is None or not len(done_rows) or "wall_seconds" not in done_rows:
        return None
    by_variant = done_rows.groupby("variant")["wall_seconds"].median().to_dict()
    overall = float(done_rows["wall_seconds"].median())
    return float(sum(by_variant.get(t.base_row().get("variant"), overall) for t in missing))


def warnings(study, trials, estimate: float | None) -> list[str]:
    out = []
    spec = study.spec
    if not study.description:
        out.append("no description: the report will not open with the study's question (add `description:`)")
    out += design_warnings(spec, trials)
    if estimate is not None and estimate > LONG_S:
        out.append(f"about {duration(estimate)} to run: {speedups(study)}")
    memory = memory_estimate(trials)
    if memory is not None and memory[0] > physical_memory():
        need, what = memory
        out.append(
            f"{what} needs about {need / 2**30:,.0f} GiB of memory (its data, weights and optimizer "
            f"state alone), more than this machine's {physical_memory() / 2**30:,.0f} GiB: "
            "shrink the sizes named or run it elsewhere"
        )
    return out


def design_warnings(spec, trials) -> list[str]:
    """Whether the report's verdicts are reachable: the study's contrasts (suite.report.contrasts)
    × datasets against the smallest p its seed count allows."""
    from suite.report import contrasts

    if not trials or not all(hasattr(trials[0], a) for a in ("config", "dataset", "seed")):
        return []  # a kind without datasets and configurations (kernels) has no contrasts
    configs = contrasts.from_trials(trials)
    if not configs:
        return []
    found = contrasts.find(
        configs, getattr(spec, "baseline", None), getattr(spec, "compare", None), getattr(spec, "grid", None)
    )
    count = getattr(spec, "seeds", None)  # the study's seeds, not tuning's
    seeds = (
        count
        if isinstance(count, int)
        else len(count)
        if count
        else len(dict.fromkeys(t.seed for t in trials))
    )
    # a cross-validated dataset's folds are one dataset, and each fold one more paired replicate
    unfolded = [{k: v for k, v in getattr(t, "dataset_params", {}).items() if k != "fold"} for t in trials]
    datasets = len(
        dict.fromkeys(
            (t.dataset, json.dumps(p, sort_keys=True, default=str))
            for t, p in zip(trials, unfolded, strict=True)
        )
    )
    folds = [len({t.dataset_params["fold"] for t in trials if t.dataset == t0.dataset})
             for t0 in trials if "fold" in getattr(t0, "dataset_params", {})]  # fmt: skip
    seeds *= min(folds) if folds else 1
    out = []
    if found and seeds < MIN_SEEDS_FOR_TESTS:
        out.append(f"{seeds} seed(s): the report gives no interval or test below {MIN_SEEDS_FOR_TESTS} seeds")
    warning = contrasts.design_warning(seeds, len(found), datasets)
    return out + ([warning] if warning else [])


def physical_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def memory_estimate(trials) -> tuple[float, str] | None:
    """A lower bound on the memory of the largest trial, in bytes, and what makes it large: its
    dataset's tokens (int64) where the dataset says its size, and its embedding table with Adam's
    state (four float32 copies). Worth a warning only when it exceeds the machine, never a verdict."""
    from suite import data

    worst: tuple[float, str] | None = None
    seen: dict[str, tuple[int, int, int]] = {}
    for t in trials:
        config = t.config() if hasattr(t, "config") else None
        if not isinstance(config, dict) or "dataset" not in config:
            return None
        entry = json.dumps([config["dataset"], config.get("dataset_params", {})], sort_keys=True, default=str)
        if entry not in seen:
            try:
                ds = data.create(config["dataset"], **config.get("dataset_params", {}))
            except Exception:  # noqa: BLE001 - an estimate never stops a check
                return None
            rows = sum(ds.sizes().values()) if hasattr(ds, "sizes") else 0
            seen[entry] = (rows, ds.seq_len, ds.vocab_size)
        rows, length, vocab = seen[entry]
        dim = int((config.get("model") or {}).get("dim") or 0)
        need = rows * length * 8.0 + vocab * dim * 4.0 * 4
        label = f"{t.label if hasattr(t, 'label') else config['dataset']} ({config['dataset']}: {rows:,} rows × T={length:,}, V={vocab:,}; dim={dim:,})"
        if worst is None or need > worst[0]:
            worst = (need, label)
    return worst


def speedups(study) -> str:
    """The knobs that shorten a long study, in the order they usually help."""
    cores = os.cpu_count() or 1
    tips = []
    executor = getattr(study.spec, "executor", None)
    if cores > 1 and (executor is None or executor.kind == "serial"):
        tips.append(f"--executor processes --workers {cores} (one trial per core)")
    threads_set = "threads" in getattr(study.spec, "model_fields_set", ())
    if threads_set and getattr(study.spec, "threads", 1) != 1:
        tips.append("threads: 1 or leave it out (small models are fastest on one torch thread)")
    tips.append("fewer seeds (--seeds N) or training.epochs=N while exploring")
    return "; ".join(tips)


def summary(study, store, counts: dict[str, int]) -> tuple[str, str]:
    """The end of a run: counts on one line; skipped and failed trials grouped by reason (stderr)."""
    counted = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    out = f"{study.name}: {counted or 'nothing to run'}; results in {store.dir}"
    runs = store.runs()
    if not len(runs):
        return out, ""
    keys = {t.key for t in study.trials()}
    bad = runs[runs["key"].isin(keys) & runs["status"].isin(("failed", "skipped"))]
    groups = Counter((r.status, reason(r.error, whole=r.status == "skipped")) for r in bad.itertuples())
    lines = [wrapped(f"ablate: {n} {status}: {why}") for (status, why), n in sorted(groups.items())]
    if any(status == "failed" for status, _ in groups):
        lines.append(f"ablate: a failed trial's row and logs/<key>.log in {store.dir} hold its traceback")
    return out, "\n".join(lines)


def reason(error: str | None, whole: bool = False) -> str:
    """What says why, never cut: a traceback's last line, or (`whole`) a skip's whole reason, whose
    URL and cause a user needs to fetch the data."""
    lines = [line.strip() for line in (error or "").strip().splitlines() if line.strip()]
    if not lines:
        return "no reason recorded"
    return " ".join(lines) if whole else lines[-1]


def wrapped(line: str) -> str:
    """A long stderr line wrapped at the terminal's width between words (a URL stays whole)."""
    width = max(shutil.get_terminal_size((WIDTH, 24)).columns, 40)
    return textwrap.fill(
        line, width, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False
    )
