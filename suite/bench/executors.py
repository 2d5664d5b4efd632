"""Wall time of one CPU-bound study on each executor: `make bench-executors`.

Runs the study from scratch (into a temporary folder, so committed results are
untouched) serially, on a process pool and on a fresh local Ray cluster, and
prints a table: wall time including the executor's start-up (pool spawn, Ray
start), speed-up over serial, and whether the rows match serial's. The table is
also written, with where it was measured, to a temporary file — or, with
--record, to the committed results/<study>/executors.md.

    python -m suite.bench.executors [--study bench_executors] [--workers 2] [--repeats 1]
                                    [--executors serial,serial1,processes,ray] [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
import torch
from tabulate import tabulate

from suite import paths
from suite.arguments import positive_int
from suite.executors import ExecutorSpec
from suite.measure import cpu_name, git_commit
from suite.runner import run_study
from suite.store import Store
from suite.study import load_study

METRICS = ["final_loss", "final_accuracy", "best_loss"]


def candidates(workers: int, kinds: list[str]) -> list[tuple[str, ExecutorSpec]]:
    cores = os.cpu_count() or 1
    options = {
        "serial": (f"serial, {cores} threads", ExecutorSpec()),
        "serial1": ("serial, 1 thread", ExecutorSpec(threads=1)),
        "processes": (
            f"processes, {workers} workers × {max(1, cores // workers)} thread(s)",
            ExecutorSpec(kind="processes", workers=workers),
        ),
        "ray": (
            f"ray, new local cluster, {workers} tasks × 1 CPU",
            ExecutorSpec(kind="ray", workers=workers),
        ),
    }
    unknown = sorted(set(kinds) - set(options))
    if unknown:
        raise SystemExit(f"--executors: unknown {unknown[0]!r}; choose from {', '.join(options)}")
    return [options[kind] for kind in kinds]


def measure(study, spec: ExecutorSpec, repeats: int) -> tuple[list[float], pd.DataFrame, float]:
    """Wall seconds of each from-scratch run, the last run's rows, and the load average before."""
    seconds, load = [], os.getloadavg()[0]
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="ablate-bench-") as tmp:
            store = Store(Path(tmp) / study.name)
            started = time.perf_counter()
            counts = run_study(study, store, force=True, progress=True, executor=spec)
            seconds.append(time.perf_counter() - started)
            if counts["ok"] + counts["diverged"] != len(study.trials()):
                raise RuntimeError(f"{spec.kind}: not every trial finished: {counts}")
            rows = store.runs().set_index("key").sort_index()
    return seconds, rows, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m suite.bench.executors", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--study", default="bench_executors")
    parser.add_argument("--workers", type=positive_int, default=2)
    parser.add_argument(
        "--repeats", type=positive_int, default=1, help="from-scratch runs per executor; the median is shown"
    )
    parser.add_argument(
        "--executors", default="serial,processes,ray", help="comma-separated kinds to compare"
    )
    parser.add_argument(
        "--record", action="store_true", help="write the table to results/<study>/executors.md (committed)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="markdown file (default: a temporary file, or see --record)"
    )
    args = parser.parse_args(argv)

    study = load_study(paths.resolve_study(args.study))
    n = len(study.trials())
    print(f"{study.name}: {n} trials, {os.cpu_count()} cores, torch {torch.__version__}", flush=True)
    table, reference = [], None
    for label, spec in candidates(args.workers, args.executors.split(",")):
        seconds, rows, load = measure(study, spec, args.repeats)
        wall = statistics.median(seconds)
        if reference is None:
            reference = (wall, rows)
        diff = (rows[METRICS] - reference[1][METRICS]).abs().max().max()
        table.append(
            [
                label,
                f"{wall:.1f}",
                f"{n / wall:.2f}",
                f"{reference[0] / wall:.2f}×",
                f"{diff:.1e}",
                f"{load:.1f}",
            ]
        )
        print(f"  {label}: {wall:.1f} s (runs: {', '.join(f'{s:.1f}' for s in seconds)})", flush=True)
    headers = ["executor", "wall s", "trials/s", "speed-up", "max |Δ| vs first", "load avg before"]
    text = tabulate(table, headers=headers, tablefmt="github")
    print("\n" + text)

    if args.out:
        out = args.out
    elif args.record:
        out = paths.results_dir() / study.name / "executors.md"
    else:
        out = Path(tempfile.mkdtemp(prefix="ablate-executors-")) / "executors.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        f"# Executors on `{study.name}` ({n} trials)\n\n"
        f"Wall time of the whole study from scratch, executor start-up included; median of "
        f"{args.repeats} run(s). `max |Δ|`: largest difference in {', '.join(METRICS)} from the first row's "
        "results (the rows are the same trials, whichever executor ran them). The load average shows how busy "
        "the machine was: other work inflates every number.\n\n"
        f"{text}\n\n"
        f"Measured {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} on {cpu_name()} "
        f"({os.cpu_count()} cores), torch {torch.__version__}, ray {_version('ray')}, commit {git_commit()}, "
        f"by `python -m suite.bench.executors {' '.join(argv if argv is not None else sys.argv[1:])}`.\n"
    )
    print(f"\nwritten: {out}")
    return 0


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    raise SystemExit(main())
