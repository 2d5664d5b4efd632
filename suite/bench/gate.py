"""The speed-regression gate: `make bench-check` (`python -m suite.bench.gate`).

Absolute times swing 10–50 % between runs on a shared machine, so the gate never
compares them. Each kernel call is timed right beside a batched GEMM of the same
shape (QKᵀ's: (B·H, T, D) × (B·H, D, T)), in the same process, on one torch
thread, in thread CPU time (time spent descheduled does not count), over several
interleaved rounds; what is compared is the ratio kernel time / GEMM time, which
moves with the code and hardly with the machine's load. A case is a
REGRESSION only when (1) its median ratio rose by more than the margin over the
committed baseline, (2) a one-sided Mann–Whitney test of this run's ratios against
the baseline's agrees (p < ALPHA), and (3) re-measuring the case agrees again.
A run whose own ratios spread too widely, or whose re-measure disagrees, says
NOISY and passes with a warning: noise never blocks a landing. WIN is the mirror
image of REGRESSION. Every run appends a row per case to the history table.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import mannwhitneyu
from tabulate import tabulate
from tqdm import tqdm

from suite import kernels
from suite.bench.cases import Shape, attention_call, attention_flops, matching_gemm
from suite.measure import provenance

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "results" / "kernels" / "bench_baseline.json"
HISTORY = ROOT / "results" / "kernels" / "bench_history.parquet"

ROUNDS = 7  # interleaved rounds per measurement (the baseline takes BASELINE_ROUNDS)
BASELINE_ROUNDS = 11
MIN_SECONDS = 0.01  # a timed sample repeats a short call until it lasts this long
# A ratio must rise by more than the margin of its tier to be a regression. Tuned from 10
# runs of unchanged code against a baseline taken under a different load (README): compute-
# tier ratios stayed within 0.82–1.16×, but the toy-size calls of the overhead tier, all
# dispatcher overhead, moved 0.42–1.45× with the machine's load, so that tier only
# catches gross slowdowns (> 2.5×); instruction counts would be the way to sharpen it.
MARGIN = 0.25
OVERHEAD_MARGIN = 1.5
ALPHA = 0.01  # significance of the one-sided Mann–Whitney test
NOISY_SPREAD = 0.30  # IQR / median of a run's own ratios above this: NOISY
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


@dataclass(frozen=True)
class GateCase:
    tier: str  # "overhead" (the course's toy sizes) or "compute"
    shape: Shape
    mode: str

    @property
    def name(self) -> str:
        return (
            f"T{self.shape.seq_len}·d{self.shape.head_dim} {'fwd' if self.mode == 'forward' else 'fwd+bwd'}"
        )


CASES = [
    GateCase("overhead", Shape(4, 1, 3, 2), "forward"),
    GateCase("overhead", Shape(4, 1, 3, 2), "forward_backward"),
    GateCase("compute", Shape(2, 4, 256, 64), "forward"),
    GateCase("compute", Shape(2, 4, 1024, 64), "forward"),
    GateCase("compute", Shape(2, 4, 1024, 64), "forward_backward"),
]


def gate_kernels() -> list[str]:
    return [k for k in kernels.list() if kernels.unavailable(k, "cpu") is None]


def slowed(fn: Callable[[], None], factor: float) -> Callable[[], None]:
    """fn made `factor` times slower by spinning after it: an injected regression."""

    def slow():
        start = time.thread_time()
        fn()
        until = start + (time.thread_time() - start) * factor
        while time.thread_time() < until:
            pass

    return slow


@dataclass
class Pair:
    """One kernel on one case, with its GEMM yardstick, and the samples taken so far."""

    kernel: str
    case: GateCase
    call: Callable[[], None]
    gemm: Callable[[], None]
    gemm_flops: float
    n_call: int = 1
    n_gemm: int = 1

    @property
    def key(self) -> str:
        return f"{self.kernel} | {self.case.name}"


def _per_call(fn: Callable[[], None], n: int) -> float:
    """CPU seconds of this thread per call: on one torch thread that is all the work, and
    unlike wall time it does not count the moments other processes hold the core."""
    start = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - start) / n


def _calibrate(fn: Callable[[], None]) -> int:
    """Calls per sample so that a sample lasts MIN_SECONDS (after two warm-up calls)."""
    fn()
    once = _per_call(fn, 1)
    return max(1, int(MIN_SECONDS / max(once, 1e-7)))


def make_pairs(names: list[str], cases: list[GateCase], inject: dict[str, float]) -> list[Pair]:
    cpu = torch.device("cpu")
    pairs = []
    for case in cases:
        gemm, gemm_flops = matching_gemm(case.shape, cpu, torch.float32)
        for name in names:
            call = attention_call(name, case.shape, case.mode, cpu, torch.float32)
            if name in inject:
                call = slowed(call, inject[name])
            pairs.append(Pair(name, case, call, gemm, gemm_flops))
    return pairs


def measure(pairs: list[Pair], rounds: int, seed: int, desc: str) -> dict[str, dict[str, list[float]]]:
    """Interleaved rounds: in each, every pair's kernel sample sits next to a GEMM sample
    (in alternating order); pairs come in a shuffled order each round."""
    for p in pairs:
        p.n_call, p.n_gemm = _calibrate(p.call), _calibrate(p.gemm)
    out = {p.key: {"kernel_s": [], "gemm_s": [], "ratio": []} for p in pairs}
    rng = random.Random(seed)
    bar = tqdm(total=rounds * len(pairs), desc=desc, unit="sample", dynamic_ncols=True, leave=False)
    for r in range(rounds):
        order = list(pairs)
        rng.shuffle(order)
        for p in order:
            if r % 2:
                g, k = _per_call(p.gemm, p.n_gemm), _per_call(p.call, p.n_call)
            else:
                k, g = _per_call(p.call, p.n_call), _per_call(p.gemm, p.n_gemm)
            s = out[p.key]
            s["kernel_s"].append(k)
            s["gemm_s"].append(g)
            s["ratio"].append(k / g)
            bar.update(1)
    bar.close()
    return out


def spread(values: list[float]) -> float:
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return float((q75 - q25) / q50)


def judge(current: list[float], baseline: list[float], margin: float) -> tuple[str, float, float]:
    """PASS, REGRESSION or WIN of one measurement, with the change of the median ratio and the p-value."""
    change = statistics.median(current) / statistics.median(baseline)
    if change > 1 + margin:
        p = float(mannwhitneyu(current, baseline, alternative="greater").pvalue)
        return ("REGRESSION" if p < ALPHA else "PASS"), change, p
    if change < 1 / (1 + margin):
        p = float(mannwhitneyu(current, baseline, alternative="less").pvalue)
        return ("WIN" if p < ALPHA else "PASS"), change, p
    return "PASS", change, 1.0


def load_baseline(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        baseline = json.loads(path.read_text())
        baseline["cases"]  # noqa: B018 - the one key every baseline has
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise SystemExit(
            f"bench-check: {path} is not a gate baseline ({err}); rewrite it with --update-baseline"
        ) from None
    return baseline


def append_history(path: Path, rows: list[dict]) -> None:
    """Append this run's rows; the file is replaced atomically, so a crash never corrupts it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = pd.DataFrame(rows)
    table = pd.concat([pd.read_parquet(path), new], ignore_index=True) if path.exists() else new
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    table.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def keep_freed_memory() -> None:
    """Stop glibc returning freed blocks to the kernel (it does so by a threshold that adapts
    to the allocation history), so that every timed call reuses warm memory instead of
    sometimes paying for hundreds of page faults: those doubled a kernel's time at random."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to pin
        return
    libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)
    libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    names = args.kernels or gate_kernels()
    unknown = [n for n in names if n not in kernels.REGISTRY]
    if unknown:
        raise SystemExit(f"bench-check: {kernels.REGISTRY.unknown_message(unknown[0])}")
    cases = [c for c in CASES if not args.cases or c.tier in args.cases or c.name in args.cases]
    if not cases:
        raise SystemExit(
            f"bench-check: no case matches {args.cases}; cases: {', '.join(c.name for c in CASES)}"
        )
    inject = dict(_parse_inject(s) for s in args.inject_slowdown)
    if inject:
        print(f"bench-check: injecting slowdowns {inject} (a demonstration, not a measurement of the code)")
    baseline = None if args.update_baseline else load_baseline(args.baseline)
    pairs = make_pairs(names, cases, inject)
    rounds = args.rounds or (BASELINE_ROUNDS if args.update_baseline else ROUNDS)
    started = time.perf_counter()
    samples = measure(pairs, rounds, seed=1, desc="bench-check")
    where = provenance(torch.device("cpu"))

    results = []
    for p in pairs:
        s = samples[p.key]
        base = (baseline or {}).get("cases", {}).get(p.key)
        row = _row(p, s, base)
        if base and not args.update_baseline:
            margin = args.overhead_margin if p.case.tier == "overhead" else args.margin
            verdict, change, pval = judge(s["ratio"], base["ratios"], margin)
            if verdict == "REGRESSION":  # suspected: measure again before failing anyone
                again = measure([p], rounds, seed=2, desc=f"re-measuring {p.key}")[p.key]
                second, change2, pval2 = judge(again["ratio"], base["ratios"], margin)
                both = s["ratio"] + again["ratio"]
                if second != "REGRESSION":
                    verdict = "NOISY"  # the re-measure disagrees
                elif spread(both) > NOISY_SPREAD:
                    verdict = "NOISY"
                change, pval = max(change, change2) if second == "REGRESSION" else change2, max(pval, pval2)
                row.update(remeasured=True, remeasure_change=change2)
            elif spread(s["ratio"]) > NOISY_SPREAD:
                verdict = "NOISY"
            row.update(verdict=verdict, change=change, p_value=pval)
        elif args.update_baseline:
            row.update(verdict="BASELINE")
        else:
            row.update(verdict="NEW")
        results.append(row)

    run_id = uuid.uuid4().hex[:12]
    stamp = {
        "run_id": run_id,
        "commit": where["git_commit"],
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": where["host"],
        "device_name": where["device_name"],
        "torch_version": where["torch_version"],
        "threads": args.threads,
        "injected": json.dumps(inject) if inject else None,
    }
    if not args.no_history:
        append_history(
            args.history, [{**stamp, **{k: v for k, v in r.items() if k != "ratios"}} for r in results]
        )
    print(_table(results))
    print(
        f"({len(pairs)} cases × {rounds} rounds in {time.perf_counter() - started:.0f} s, one thread, "
        f"margins {args.margin:.0%} compute, {args.overhead_margin:.0%} overhead, α = {ALPHA}; commit {where['git_commit'][:12]})"
    )

    if args.update_baseline:
        _write_baseline(args.baseline, results, stamp, load_baseline(args.baseline), args.margin)
        return 0
    verdicts = [r["verdict"] for r in results]
    if "NEW" in verdicts:
        print(
            f"bench-check: {verdicts.count('NEW')} case(s) have no baseline in {args.baseline}; "
            "record one with `make bench-check ARGS=--update-baseline`"
        )
    if "NOISY" in verdicts:
        print(
            f"bench-check: WARNING: {verdicts.count('NOISY')} case(s) too noisy to judge on this machine "
            "right now (passing them); rerun when it is quieter",
            file=sys.stderr,
        )
    if "REGRESSION" in verdicts:
        print(
            f"bench-check: FAILED: {verdicts.count('REGRESSION')} regression(s), confirmed by re-measuring",
            file=sys.stderr,
        )
        return 1
    print("bench-check: passed")
    return 0


def _row(p: Pair, s: dict, base: dict | None) -> dict:
    k, g = statistics.median(s["kernel_s"]), statistics.median(s["gemm_s"])
    flops = attention_flops(p.case.shape, p.case.mode)
    return {
        "kernel": p.kernel,
        "case": p.case.name,
        "tier": p.case.tier,
        "time_s": k,
        "gflops": flops / k / 1e9,
        "gemm_gflops": p.gemm_flops / g / 1e9,
        "pct_gemm": 100 * (flops / k) / (p.gemm_flops / g),
        "ratio": statistics.median(s["ratio"]),
        "spread": spread(s["ratio"]),
        "baseline_ratio": base["ratio"] if base else None,
        "ratios": s["ratio"],
        "verdict": None,
        "change": None,
        "p_value": None,
        "remeasured": False,
        "remeasure_change": None,
    }


def _table(results: list[dict]) -> str:
    rows = [
        [
            r["kernel"],
            r["case"],
            _time(r["time_s"]),
            f"{r['gflops']:.2f}",
            f"{r['pct_gemm']:.0f}%",
            f"{r['change']:.2f}×" if r["change"] is not None else "–",
            f"{r['spread']:.0%}",
            f"{r['p_value']:.1g}" if r["p_value"] is not None and r["p_value"] < 1 else "–",
            r["verdict"] + (f" (re-measured: {r['remeasure_change']:.2f}×)" if r["remeasured"] else ""),
        ]
        for r in results
    ]
    headers = [
        "kernel",
        "case",
        "CPU time",
        "GFLOP/s",
        "% GEMM",
        "ratio to baseline",
        "spread",
        "p",
        "verdict",
    ]
    return tabulate(rows, headers=headers, tablefmt="github")


def _time(s: float) -> str:
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def _write_baseline(path: Path, results: list[dict], stamp: dict, old: dict | None, margin: float) -> None:
    cases = {
        f"{r['kernel']} | {r['case']}": {k: r[k] for k in ("ratio", "ratios", "time_s", "spread")}
        for r in results
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"measured": stamp, "cases": cases}, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    print(f"bench-check: wrote the baseline {path}")
    if not old:
        return
    moved = []
    for key, new in cases.items():
        before = old["cases"].get(key)
        if before is None:
            moved.append([key, "–", f"{new['ratio']:.3g}", "new case"])
            continue
        change = new["ratio"] / before["ratio"]
        if abs(change - 1) > margin / 2:
            moved.append([key, f"{before['ratio']:.3g}", f"{new['ratio']:.3g}", f"{change:.2f}×"])
    gone = sorted(set(old["cases"]) - set(cases))
    moved += [[key, f"{old['cases'][key]['ratio']:.3g}", "–", "dropped"] for key in gone]
    if moved:
        print(f"What moved (ratio to GEMM changed by more than {margin / 2:.0%}):")
        print(tabulate(moved, headers=["case", "old ratio", "new ratio", "change"], tablefmt="github"))
    else:
        print(f"Nothing moved by more than {margin / 2:.0%} against the previous baseline.")


def _parse_inject(text: str) -> tuple[str, float]:
    name, _, factor = text.partition("=")
    try:
        value = float(factor)
    except ValueError:
        raise SystemExit(
            f"bench-check: --inject-slowdown wants KERNEL=FACTOR, e.g. chunked=1.5, got {text!r}"
        ) from None
    if name not in kernels.REGISTRY or value < 1:
        raise SystemExit(f"bench-check: --inject-slowdown {text!r}: need a known kernel and a factor ≥ 1")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench-check", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--update-baseline", action="store_true", help="measure and rewrite the baseline; say what moved"
    )
    p.add_argument(
        "--baseline",
        type=Path,
        default=BASELINE,
        help=f"baseline JSON (default {BASELINE.relative_to(ROOT)})",
    )
    p.add_argument(
        "--history", type=Path, default=HISTORY, help=f"history table (default {HISTORY.relative_to(ROOT)})"
    )
    p.add_argument("--no-history", action="store_true", help="do not append this run to the history table")
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help=f"interleaved rounds (default {ROUNDS}; baseline {BASELINE_ROUNDS})",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=MARGIN,
        help=f"relative rise of the ratio that counts (default {MARGIN})",
    )
    p.add_argument(
        "--overhead-margin",
        type=float,
        default=OVERHEAD_MARGIN,
        help=f"the same for the overhead tier's toy sizes (default {OVERHEAD_MARGIN})",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument(
        "--kernels", nargs="+", default=None, help="kernels to check (default: all that run on CPU)"
    )
    p.add_argument(
        "--cases", nargs="+", default=None, help="tiers (overhead, compute) or case names to check"
    )
    p.add_argument(
        "--inject-slowdown",
        action="append",
        default=[],
        metavar="KERNEL=FACTOR",
        help="make a kernel's timed calls FACTOR× slower, to see the gate catch it",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
