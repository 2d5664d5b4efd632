"""Vectorized multi-seed training against the one-at-a-time loop, on one study, in one process.

    python -m suite.bench.runner [STUDY] [--threads 1] [--seeds N] [--epochs N] [--profile]

For each unit of work that `suite.runner.plan` forms, the unit is trained once with
`suite.vectorized.train_group` (the seeds and same-shaped datasets side by side) and then each of its
trials once with `suite.train.train`, interleaved so both see the same machine load. Timing is the
wall clock of the whole training call (history points and the first, warm-up segment included),
models built from the same seeds. A trial's vectorized time is its group's time divided by the
group's size. Only training is timed: inference and memory measurement are the same code both ways.

Prints steps/s per trial for both paths per variant and dataset, the aggregate ratio, and the
largest gap between a seed's two loss curves. A whole `ablate run` of the same trials in a fresh
process (start-up, measurement and store included) is timed serially and on the machine's cores (a
process per core) `--whole-runs` times, spread over those loops: before them, between units at even shares
of their planned epochs (`whole_run_positions`) and after them. This host's speed drifts by ±20–35% over minutes, so the end-to-end ratio is the
loop's training time against the mean whole run of the same window, with the range from the slowest
whole run to the fastest. The one-at-a-time loop is `suite.train.train`, which steps its optimizer without
torch.optim's per-call wrappers (`suite.train.stepper`) and evaluates at every history point (in
full batch, the training split's values from the next step's forward, as the vectorized loop).

Each full-batch trial is also trained a third way, the course's own loop as its notebook writes it
(`train_one_epoch`: model.train(), optimizer.zero_grad(), forward, loss, backward, optimizer.step(),
loss.item(), once per epoch, no other evaluation), and the same ratios are printed against it.
`--profile` adds where a vectorized step spends its time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from tabulate import tabulate
from tqdm import tqdm

from suite import data, objective, paths, vectorized
from suite.arguments import positive_int
from suite.study import load_study
from suite.train import Schedule, make_optimizer, train
from suite.train_run import _load, plan, seeded_model


def _splits(trial, device):
    loaded = _load(trial.dataset, json.dumps(trial.dataset_params, sort_keys=True))
    return {name: (x.to(device), y.to(device)) for name, (x, y) in loaded.items()}


def run(
    study_name: str,
    threads: int,
    seeds: int | None,
    epochs: int | None,
    profile: bool,
    end_to_end: bool = True,
    whole_runs: int = 4,
) -> int:
    torch.set_num_threads(threads)
    study = load_study(paths.resolve_study(study_name))
    trials = study.trials()
    if seeds is not None:
        trials = [t for t in trials if t.seed < seeds]
    if epochs is not None:
        trials = [dataclasses.replace(t, training={**t.training, "epochs": epochs}) for t in trials]
    units = plan(trials)
    device = torch.device(trials[0].device)
    print(
        f"{study.name}: {len(trials)} trials in {len(units)} units; torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), device {device}"
    )

    at = whole_run_positions([_unit_cost(u) for u in units], whole_runs) if end_to_end else set()
    whole: dict[str, list[tuple[float, float]]] = defaultdict(list)

    def time_whole_runs(position: int) -> None:
        if position in at:
            for executor, seconds in _whole_runs(study, seeds, epochs, threads).items():
                whole[executor].append(seconds)

    per_cell = defaultdict(lambda: {"alone": [], "stacked": [], "steps": [], "gap": [], "group": set()})
    totals = {"alone": 0.0, "stacked": 0.0, "steps": 0, "alone_cpu": 0.0, "course": 0.0, "course_trials": 0}
    first = units[0][0]  # a first optimizer.step() imports torch's compiler (~1 s a process): paid untimed
    _course_loop_seconds(
        first, data.create(first.dataset, **first.dataset_params), _splits(first, device), device, 1
    )
    bar = tqdm(total=len(trials), desc="bench", unit="trial", dynamic_ncols=True)
    for position, unit in enumerate(units):
        time_whole_runs(position)
        datasets = [data.create(t.dataset, **t.dataset_params) for t in unit]
        splits = [_splits(t, device) for t in unit]
        members = [seeded_model(t, d, device) for t, d in zip(unit, datasets, strict=True)]
        stacked: dict[int, tuple] = {}  # index in unit → (TrainResult, seconds charged, group size)
        for group in vectorized.partition(splits, unit[0].training):
            if len(group) == 1:
                continue
            started = time.perf_counter()
            try:
                results = vectorized.train_group(
                    [members[i] for i in group],
                    [splits[i] for i in group],
                    unit[0].training,
                    device,
                    [unit[i].seed for i in group],
                )
            except vectorized.CannotStack as err:
                print(f"  {unit[0].variant}: not stacked: {err}", file=sys.stderr)
                continue
            seconds = time.perf_counter() - started
            for i, result in zip(group, results, strict=True):
                stacked[i] = (result, seconds / len(group), len(group))
        for i, trial in enumerate(unit):
            model = seeded_model(trial, datasets[i], device)
            started, cpu = time.perf_counter(), time.process_time()
            alone = train(model, splits[i], trial.training, device, trial.seed)
            seconds = time.perf_counter() - started
            totals["alone_cpu"] += time.process_time() - cpu
            result, share, size = stacked.get(i, (alone, seconds, 1))
            cell = per_cell[trial.variant, trial.dataset]
            cell["alone"].append(alone.steps / seconds)
            cell["stacked"].append(result.steps / share)
            cell["steps"].append(alone.steps)
            cell["group"].add(size)
            gap = max(abs(a["loss"] - b["loss"]) for a, b in zip(alone.history, result.history, strict=False))
            cell["gap"].append(gap)
            totals["alone"] += seconds
            totals["stacked"] += share
            course = _course_loop_seconds(trial, datasets[i], splits[i], device)
            if course is not None:
                totals["course"] += course
                totals["course_trials"] += 1
            totals["steps"] += alone.steps
            bar.update(1)
    time_whole_runs(len(units))
    bar.close()

    rows = []
    for (variant, dataset), cell in per_cell.items():
        alone, stacked = statistics.median(cell["alone"]), statistics.median(cell["stacked"])
        rows.append(
            [
                variant,
                dataset,
                len(cell["alone"]),
                "/".join(str(g) for g in sorted(cell["group"])),
                statistics.median(cell["steps"]),
                f"{alone:,.0f}",
                f"{stacked:,.0f}",
                f"{stacked / alone:.1f}×",
                f"{max(cell['gap']):.1e}",
                f"{statistics.median(cell['gap']):.1e}",
            ]
        )
    headers = [
        "variant",
        "dataset",
        "trials",
        "group",
        "steps",
        "one-at-a-time steps/s per trial (median)",
        "vectorized steps/s per trial (median)",
        "ratio",
        "max curve gap",
        "median curve gap",
    ]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    ratio = totals["alone"] / totals["stacked"]
    print(
        f"\naggregate: {totals['steps']:,} trial-steps; one at a time {totals['alone']:.1f} s "
        f"({totals['steps'] / totals['alone']:,.0f} steps/s), vectorized {totals['stacked']:.1f} s "
        f"({totals['steps'] / totals['stacked']:,.0f} steps/s): {ratio:.1f}× "
        "(wall clock of training calls, measured on this machine as it was loaded at the time)"
    )
    course = totals["course"] if totals["course_trials"] == len(trials) else None
    if course is not None:
        print(
            f"the course's loop (train_one_epoch per epoch, as its notebook; no evaluation between): "
            f"{course:.1f} s for the same trials; vectorized training {course / totals['stacked']:.1f}× faster"
        )
    else:
        print(
            f"the course's loop: not timed ({len(trials) - totals['course_trials']} trial(s) train in mini-batches)"
        )
    if end_to_end:
        walls, cpus = [w for w, _ in whole["serial"]], [c for _, c in whole["serial"]]
        print(
            f"end to end: `ablate run {study.name}` into an empty results folder took {_all(walls)} s, "
            f"spread over the loops above (start-up, training, measurement, store; the machine's speed "
            f"drifts between them); the one-at-a-time loop's training alone {totals['alone']:.1f} s: "
            f"{_ratios(totals['alone'], walls)} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
        print(
            f"end to end in CPU time (steadier on a loaded machine; on one thread it is what the wall "
            f"clock would be on an idle one; {threads} here): `ablate run` {_all(cpus)} s, the one-at-a-time "
            f"loop's training {totals['alone_cpu']:.1f} s: {_ratios(totals['alone_cpu'], cpus)}"
        )
        if course is not None:
            print(f"end to end against the course's loop: {_ratios(course, walls)}")
        if "pooled" in whole:
            pooled = [w for w, _ in whole["pooled"]]
            against = f", against the course's loop {_ratios(course, pooled)}" if course is not None else ""
            print(
                f"end to end on this machine's {os.cpu_count()} cores (`--executor processes --workers "
                f"{os.cpu_count()}`, {threads} thread(s) each; the loop uses one core): {_all(pooled)} s wall, "
                f"{_ratios(totals['alone'], pooled)}{against} (load average {os.getloadavg()[0]:.1f})"
            )
    if profile:
        _profile(units[0], device)
    return 0


def _course_loop(model, x, y, optimizer, epochs: int) -> list[float]:
    """The course's loop (its notebook's `train_one_epoch`, called once per epoch on the whole split)."""
    losses = []
    for _ in range(epochs):
        model.train()
        optimizer.zero_grad()
        output = model(x)
        loss = objective.loss(output, y)  # the course's binary_cross_entropy_with_logits on one logit
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _course_loop_seconds(trial, dataset, splits, device, steps: int | None = None) -> float | None:
    """Seconds of the course's loop on this trial (same model, data, optimizer and steps); None for
    a trial that trains in mini-batches, which the course's loop does not."""
    x, y = next(iter(splits.values()))
    schedule = Schedule.from_spec(trial.training, len(x))
    if schedule.batch_size < len(x):
        return None
    model = seeded_model(trial, dataset, device)
    optimizer = make_optimizer(model.parameters(), trial.training)
    started = time.perf_counter()
    _course_loop(model, x, y, optimizer, steps or schedule.total_steps)
    return time.perf_counter() - started


def _whole_runs(study, seeds: int | None, epochs: int | None, threads: int) -> dict[str, tuple[float, float]]:
    """A whole `ablate run` serially and, on a machine with several cores, with a worker per core."""
    out = {"serial": _whole_run(study, seeds, epochs, threads)}
    cores = os.cpu_count() or 1
    if cores > 1:
        out["pooled"] = _whole_run(
            study, seeds, epochs, threads, ["--executor", "processes", "--workers", str(cores)]
        )
    return out


def _unit_cost(unit) -> int:
    """A unit's share of the loops' time, roughly: its trials' epochs (or steps)."""
    return sum(t.training["steps"] or t.training["epochs"] for t in unit)


def whole_run_positions(costs: list[float], runs: int) -> set[int]:
    """Before which units (len(costs): after the last) to time whole runs: before the first, after the
    last, and between, at even shares of the loops' cost (units differ: `*_500` trains half as long).
    Runs that would fall between the same two units are one run."""
    total, done, positions = sum(costs), 0.0, {0, len(costs)}
    cumulative = []
    for cost in costs:
        done += cost
        cumulative.append(done)
    for i in range(1, runs - 1):
        share = i * total / (runs - 1)
        positions.add(min(range(1, len(costs) + 1), key=lambda p: abs(cumulative[p - 1] - share)))
    return positions


def _all(seconds: list[float]) -> str:
    shown = [f"{s:.1f}" for s in seconds]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _ratios(total: float, seconds: list[float]) -> str:
    """total against the mean of seconds (the loop's time is a sum over the same window), then
    against each, from the slowest run to the fastest: "18.4× (each run: 17.9–19.0×)"."""
    mean = total / statistics.mean(seconds)
    low, high = total / max(seconds), total / min(seconds)
    spread = "" if f"{low:.1f}" == f"{high:.1f}" else f" (each run: {low:.1f}–{high:.1f}×)"
    return f"{mean:.1f}×{spread}"


def _whole_run(
    study, seeds: int | None, epochs: int | None, threads: int, extra: list[str] | None = None
) -> tuple[float, float]:
    """(wall, CPU) seconds of a whole `ablate run` of the same trials, in a fresh process and results
    folder; `extra` are more `ablate run` arguments (an executor). CPU time counts waited-for children."""
    import yaml

    raw = yaml.safe_load(study.path.read_text())
    if seeds is not None:
        raw["seeds"] = [
            s
            for s in (range(raw.get("seeds", 3)) if isinstance(raw.get("seeds", 3), int) else raw["seeds"])
            if s < seeds
        ]
    if epochs is not None:
        raw.setdefault("training", {})["epochs"] = epochs
    raw["threads"] = threads  # the loops' thread count, serially and in each worker process
    raw["executor"] = {**raw.get("executor", {}), "threads": threads}
    with tempfile.TemporaryDirectory(prefix="ablate-bench-runner-") as tmp:
        (Path(tmp) / "studies").mkdir()
        (Path(tmp) / "studies" / f"{study.name}.yaml").write_text(yaml.safe_dump(raw))
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "ABLATE_STUDIES": str(Path(tmp) / "studies")}
        command = [
            sys.executable,
            "-m",
            "suite",
            "run",
            study.name,
            "--results",
            str(Path(tmp) / "results"),
            *(extra or []),
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([*command, "--no-progress"], env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu


def _profile(unit, device, steps: int = 200) -> None:
    """Where one vectorized unit's step spends its time: forward, backward, optimizer, and the ops."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from suite.vectorized import FlatParameters, SplitStack, Stacked, member_losses

    datasets = [data.create(t.dataset, **t.dataset_params) for t in unit]
    splits = [_splits(t, device) for t in unit]
    group = max(vectorized.partition(splits, unit[0].training), key=len)
    members = [seeded_model(unit[i], datasets[i], device) for i in group]
    split = SplitStack([next(iter(splits[i].values())) for i in group])
    stacked = Stacked(members)
    model = stacked.module
    optimizer = FlatParameters(list(model.parameters()), unit[0].training)
    x = split.x.reshape(-1, split.x.shape[-1])
    y, padded = split.y.contiguous(), (split if split.padded else None)
    parts = {"forward + loss": 0.0, "backward": 0.0, "optimizer": 0.0}

    def step(timed: bool):
        t0 = time.perf_counter()
        optimizer.zero_grad()
        losses = member_losses(model(x), y, padded)
        t1 = time.perf_counter()
        losses.sum().backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        if timed:
            parts["forward + loss"] += t1 - t0
            parts["backward"] += t2 - t1
            parts["optimizer"] += t3 - t2

    for _ in range(20):
        step(False)
    for _ in range(steps):
        step(True)
    total = sum(parts.values())
    print(f"\nprofile: {unit[0].variant}, {len(group)} members, {len(x)} rows a step, {steps} steps:")
    for name, seconds in parts.items():
        print(f"  {name:15s} {seconds / steps * 1e6:8.0f} µs/step ({seconds / total:.0%})")
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(50):
            step(False)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m suite.bench.runner", description=__doc__.split("\n")[0])
    parser.add_argument("study", nargs="?", default="ablation_positional")
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="torch threads (default 1, as the issue)"
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=None, help="only seeds below this (default: all)"
    )
    parser.add_argument(
        "--epochs", type=positive_int, default=None, help="override training.epochs (quick runs)"
    )
    parser.add_argument("--profile", action="store_true", help="also profile one vectorized step")
    parser.add_argument(
        "--no-end-to-end", action="store_true", help="skip timing a whole `ablate run` of the same trials"
    )
    parser.add_argument(
        "--whole-runs",
        type=at_least_two,
        default=4,
        help="whole `ablate run`s per executor, spread over the loops between units (default 4, at "
        "least 2; at most one more than the study has units)",
    )
    args = parser.parse_args(argv)
    return run(
        args.study,
        args.threads,
        args.seeds,
        args.epochs,
        args.profile,
        not args.no_end_to_end,
        args.whole_runs,
    )


def at_least_two(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text} is fewer than 2 (one before the loops, one after)")
    return value


if __name__ == "__main__":
    sys.exit(main())
