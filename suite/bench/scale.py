"""Cost per trial as a study grows: 100, 1,000, 10,000 one-epoch trials, one at a time and vectorized.

    python -m suite.bench.scale [--sizes 100 1000 10000] [--modes alone vectorized]

Each case is a fresh `ablate run` in its own process, on a generated study of one tiny variant
with N seeds and one epoch each, into a temporary results folder. The process's wall clock is
split into start-up (everything before the first unit starts: imports, loading and planning
the study), the store (fragment writes, the compaction at the end, the lock's checks),
training (`train` and `vectorized.train_group`), measurement (peak memory, and inference
throughput: `time_fn`) and the rest (data, models, logs). Prints ms per trial for each part, and the ratio of
the cost per trial at the largest size to the smallest. Numbers are this machine's, under its
load at the time: the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from suite.arguments import positive_int

PARTS = ("start-up", "store", "training", "memory", "throughput", "other")


def study_yaml(seeds: int, vectorize: bool) -> str:
    spec = {
        "description": f"bench-scale: {seeds} one-epoch trials",
        "variants": ["mean"],
        "datasets": ["reversal"],
        "seeds": seeds,
        "threads": 1,
        "model": {"dim": 2},
        "training": {"lr": 0.01, "epochs": 1, "vectorize": vectorize},
    }
    return json.dumps(spec)  # JSON is YAML


def child(results: str, studies: str, name: str, out: str, started: float) -> int:
    """Run one case in this process with timers around the parts; write them to `out`."""
    import suite.runner as runner
    import suite.train_run as train_run
    import suite.vectorized as vectorized
    from suite.store import Store
    from suite.study import load_study

    timers = dict.fromkeys(PARTS, 0.0)
    first_unit = []

    def timed(part, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timers[part] += time.perf_counter() - t0

        return wrapper

    train_run.peak_memory = timed("memory", train_run.peak_memory)
    train_run.time_fn = timed("throughput", train_run.time_fn)
    train_run.train = timed("training", train_run.train)
    vectorized.train_group = timed("training", vectorized.train_group)
    real_run_unit = train_run.run_unit

    def run_unit(unit):
        if not first_unit:
            first_unit.append(time.perf_counter())
        return real_run_unit(unit)

    train_run.run_unit = run_unit

    class TimedStore(Store):
        pass

    for method in ("write_many", "compact", "check"):  # an older store has only write_many
        if hasattr(Store, method):
            setattr(TimedStore, method, timed("store", getattr(Store, method)))

    study = load_study(Path(studies) / f"{name}.yaml")
    store = TimedStore(Path(results) / name)
    counts = runner.run(study, store, progress=False)
    end = time.perf_counter()
    wall = time.time() - started  # since the parent started this process
    startup = wall - (end - first_unit[0]) if first_unit else wall
    timers["start-up"] = startup
    timers["other"] = wall - sum(timers.values())
    Path(out).write_text(json.dumps({"wall": wall, "parts": timers, "counts": counts}))
    return 0


def run_case(seeds: int, vectorize: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="ablate-bench-scale-") as tmp:
        studies = Path(tmp) / "studies"
        studies.mkdir()
        name = f"scale_{seeds}_{'vec' if vectorize else 'alone'}"
        (studies / f"{name}.yaml").write_text(study_yaml(seeds, vectorize))
        out = Path(tmp) / "timers.json"
        started = time.time()
        code = [sys.executable, "-m", "suite.bench.scale", "--child", tmp, name, str(out), repr(started)]
        subprocess.run(code, check=True, env={**os.environ, "ABLATE_MAX_TRIALS": str(max(seeds, 100_000))})
        result = json.loads(out.read_text())
        assert result["counts"]["ok"] == seeds, result["counts"]
        return result


def store_only(sizes: list[int]) -> None:
    """The store alone: write N one-trial units shaped like a real trial's (a 40-column run row,
    100 history rows) and time each write; print the median at the start and end, and the
    compaction. No training runs, so this part of the cost is seen without the rest's noise."""
    import statistics

    import pandas as pd

    from suite.store import Store

    root = Path(__file__).resolve().parents[2]
    runs = pd.read_parquet(root / "results" / "ablation_positional" / "runs.parquet")
    history = pd.read_parquet(root / "results" / "ablation_positional" / "history.parquet")
    row = runs.iloc[0].to_dict()
    curve = history[history["key"] == row["key"]].to_dict("records")
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="ablate-bench-store-") as tmp:
            store = Store(Path(tmp) / "s")
            times = []
            for i in range(size):
                key = f"{i:016x}"
                started = time.perf_counter()
                store.write_many([({**row, "key": key}, [{**h, "key": key} for h in curve], [])])
                times.append(time.perf_counter() - started)
            started = time.perf_counter()
            if hasattr(store, "compact"):
                store.compact()
            compact = time.perf_counter() - started
            head, tail = times[: min(50, size)], times[-min(50, size) :]
            print(
                f"store alone, {size:,} units: {statistics.median(head) * 1e3:.2f} ms per write over the "
                f"first {len(head)}, {statistics.median(tail) * 1e3:.2f} ms over the last {len(tail)}; "
                f"compaction {compact:.2f} s ({compact / size * 1e3:.2f} ms per trial); "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m suite.bench.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument(
        "--modes", nargs="+", choices=["alone", "vectorized"], default=["alone", "vectorized"]
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--store-only", action="store_true", help="time the store alone, no training")
    args = parser.parse_args(argv)
    if args.store_only:
        store_only(args.sizes)
        return 0
    if args.child:
        tmp, name, out, started = args.child
        return child(str(Path(tmp) / "results"), str(Path(tmp) / "studies"), name, out, float(started))

    from tabulate import tabulate

    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    rows, per_trial = [], {}
    for mode in args.modes:
        for size in args.sizes:
            result = run_case(size, mode == "vectorized")
            wall, parts = result["wall"], result["parts"]
            per_trial[mode, size] = wall / size * 1e3
            rows.append(
                [mode, f"{size:,}", f"{wall:.1f}", f"{per_trial[mode, size]:.2f}"]
                + [f"{parts[p] / size * 1e3:.2f} ({parts[p] / wall:.0%})" for p in PARTS]
                + [f"{os.getloadavg()[0]:.1f}"]
            )
            print(tabulate([rows[-1]], tablefmt="plain"), flush=True)
    headers = ["mode", "trials", "wall s", "ms/trial"] + [f"{p} ms/trial (share)" for p in PARTS] + ["load"]
    print()
    print(tabulate(rows, headers=headers, tablefmt="github"))
    small, large = min(args.sizes), max(args.sizes)
    if small != large:
        for mode in args.modes:
            ratio = per_trial[mode, large] / per_trial[mode, small]
            print(f"{mode}: cost per trial at {large:,} trials is {ratio:.2f}× the cost at {small:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
