"""The speed-regression gate: `make bench-check` (`python -m suite.bench.gate`).

A/B on one machine, in one run, as `asv continuous` does: the kernels of the
working tree (current) and the kernels of a reference commit are timed side by
side, each imported from its own checkout (the reference is extracted with
`git archive` into a temporary folder) in its own worker process
(`gate_worker.py`), on one torch thread, in thread CPU time, round by round
(every round visits every pair in a new order and alternates which side goes
first), both workers pinned to the same CPU where the system allows it, so a neighbour busy on
one core slows both sides alike instead of one. Nothing measured on another machine or in another run decides anything:
the verdict is the ratio current/reference of the median times of a case.
A case is a REGRESSION only when (1) that ratio exceeds 1 + MARGIN, (2) a
one-sided Mann–Whitney test of the two sides' samples agrees (p < ALPHA) and
(3) re-measuring the case agrees again with a tight spread of the per-round
ratios; otherwise a case beyond the margin is NOISY, which warns and passes.
WIN is the mirror image. A kernel that the reference
does not have is NEW: timed, not judged. A kernel's % of a GEMM of its shape is
printed for orientation only.

The reference, unless `--against REV` names one: the parent (first parent) of
the last commit on HEAD's first-parent line that changed `suite/kernels/` — or
HEAD itself when `suite/kernels/` has uncommitted changes. That is "the kernels
as they were before the latest change", so the commit (or merge) that slows a
kernel is judged against the code it replaced, and keeps failing on every later
run until it is fixed or accepted. The last commit that changed the kernels would
not do: its kernels are the working tree's, so every run would be A/A. A slowdown
that was meant (a correctness fix, say) is accepted by committing the accepted
commit in results/kernels/gate_reference (`make bench-check ARGS=--accept`
writes HEAD there); a recorded commit that descends from the default reference
and is in HEAD's history replaces it. A run whose reference has the working
tree's kernels (unchanged code) is an A/A run and must pass. Where no reference
can be had (no git, a shallow clone that lacks the commit, kernels that do not
import at the reference), the gate says so and exits 0 without judging.

The gate writes nothing unless asked: `--record` appends one row per case to
results/kernels/bench_history.parquet.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import mannwhitneyu
from tabulate import tabulate
from tqdm import tqdm

from suite import kernels
from suite.arguments import positive_int
from suite.kernels.cases import Shape, attention_flops, matching_gemm_flops
from suite.measure import provenance

ROOT = Path(__file__).resolve().parents[2]
HISTORY = ROOT / "results" / "kernels" / "bench_history.parquet"
ACCEPTED = ROOT / "results" / "kernels" / "gate_reference"
KERNEL_SOURCES = "suite/kernels"
# The kernels' code: the folder, less the kernel study kind and the harness (the working tree's on both sides).
KERNEL_PATHSPEC = (KERNEL_SOURCES, ":(exclude)suite/kernels/study.py", ":(exclude)suite/kernels/cases.py")
WORKER = Path(__file__).with_name("gate_worker.py")

ROUNDS = 9  # interleaved rounds per side and case
REMEASURE_ROUNDS = 9
MIN_SECONDS = 0.01  # a timed sample repeats a short call until it lasts this long
MARGIN = 0.10  # current/reference must exceed 1 + MARGIN to count (README: catches 15 %, no false alarm)
ALPHA = 0.01  # significance of the one-sided Mann–Whitney test
NOISY_SPREAD = 0.30  # IQR / median of the per-round current/reference ratios above this: NOISY


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


# --- the reference revision ---------------------------------------------------------------


class NoReference(Exception):
    """No reference can be had here; the message says why. The gate skips, it never guesses."""


@dataclass
class Reference:
    commit: str
    why: str
    notes: list[str] = field(default_factory=list)


def git(root: Path, *args: str) -> str | None:
    """A git command's stdout, or None when it fails (no git, not a repository, unknown revision)."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def commit_of(root: Path, rev: str) -> str | None:
    return git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    return git(root, "merge-base", "--is-ancestor", older, newer) is not None


def read_accepted(path: Path) -> str | None:
    """The commit recorded in the accepted-reference file (comment lines start with #), or None."""
    if not path.exists():
        return None
    lines = [line.strip() for line in path.read_text().splitlines()]
    words = [line for line in lines if line and not line.startswith("#")]
    if len(words) != 1 or not re.fullmatch(r"[0-9a-f]{7,40}", words[0]):
        raise SystemExit(
            f"bench-check: {path} should hold one commit hash (7–40 hex digits) and # comments; "
            "rewrite it with `make bench-check ARGS=--accept`"
        )
    return words[0]


def shown(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else path


def find_reference(root: Path, against: str | None = None, accepted: Path | None = None) -> Reference:
    """The commit whose kernels the working tree's are judged against (see the module docstring)."""
    if git(root, "rev-parse", "--is-inside-work-tree") != "true":
        raise NoReference(f"{root} is not a git checkout, or git is not installed")
    shallow = git(root, "rev-parse", "--is-shallow-repository") == "true"
    unshallow = " (a shallow clone: `git fetch --unshallow` gets the history)" if shallow else ""
    head = commit_of(root, "HEAD")
    if head is None:
        raise NoReference(f"{root} has no commit yet")
    if against:
        commit = commit_of(root, against)
        if commit is None:
            raise SystemExit(f"bench-check: --against {against!r}: no such commit in {root}{unshallow}")
        return Reference(commit, f"--against {against}")
    if git(root, "status", "--porcelain", "--", *KERNEL_PATHSPEC):
        ref = Reference(head, f"HEAD, since {KERNEL_SOURCES}/ has uncommitted changes")
    else:
        last = git(root, "log", "--first-parent", "-1", "--format=%H", "HEAD", "--", *KERNEL_PATHSPEC)
        if not last:
            raise NoReference(f"no commit on HEAD's line changes {KERNEL_SOURCES}/")
        parent = commit_of(root, f"{last}^1")
        if parent is None:
            if shallow:  # git log sees the clone's oldest commit as adding every file
                raise NoReference(
                    f"this shallow clone's history stops at {last[:12]}, before the commit that last "
                    f"changed {KERNEL_SOURCES}/ could be found{unshallow}; or pass --against REV"
                )
            raise NoReference(
                f"{last[:12]}, the last commit that changed {KERNEL_SOURCES}/, is the first commit: "
                "it has no parent to compare with; pass --against REV to name a reference"
            )
        ref = Reference(parent, f"the parent of {last[:12]}, the last commit that changed {KERNEL_SOURCES}/")
    recorded = read_accepted(accepted) if accepted else None
    if recorded:
        commit = commit_of(root, recorded)
        name = shown(accepted, root)
        if commit is None:
            ref.notes.append(f"{name} names {recorded}, which this clone lacks{unshallow}: ignored")
        elif not is_ancestor(root, commit, head):
            ref.notes.append(f"{name} names {recorded[:12]}, which is not in HEAD's history: ignored")
        elif is_ancestor(root, ref.commit, commit):
            ref = Reference(commit, f"the accepted reference recorded in {name}")
        else:
            ref.notes.append(f"{name} names {recorded[:12]}, older than the latest kernel change: superseded")
    return ref


def extract(root: Path, commit: str, dest: Path) -> Path:
    """The reference's `suite/` package, unpacked from `git archive` into dest."""
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", commit, "suite"], capture_output=True, timeout=120
    )
    if archive.returncode != 0:
        last = archive.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise NoReference(f"`git archive {commit[:12]} suite` failed: {last[0]}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def same_kernels(root: Path, commit: str) -> bool:
    """Whether the working tree's kernel sources are the commit's (an A/A run)."""
    return git(root, "diff", "--quiet", commit, "--", *KERNEL_PATHSPEC) is not None and not git(
        root, "ls-files", "--others", "--exclude-standard", "--", *KERNEL_PATHSPEC
    )


# --- the two sides ---------------------------------------------------------------------------


class WorkerError(RuntimeError):
    pass


class Worker:
    """A gate_worker.py process that times the kernels of one checkout, request by request."""

    def __init__(self, label: str, root: Path):
        self.label = label
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        if hasattr(os, "sched_setaffinity"):  # both sides on one CPU: a loaded core biases neither
            os.sched_setaffinity(self.proc.pid, {min(os.sched_getaffinity(0))})
        self._answer()

    def ask(self, **request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def _answer(self):
        line = self.proc.stdout.readline()
        if not line:
            raise WorkerError(f"the {self.label} worker stopped (exit code {self.proc.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise WorkerError(f"{self.label} kernels: {answer['error']}")
        return answer["ok"]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"op": "exit"}\n')
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@dataclass
class Pair:
    """One kernel on one case, and the per-call CPU times taken so far on each side."""

    kernel: str
    case: GateCase
    index: int  # the case's position in the list the workers were set up with
    new: str | None = None  # why the reference cannot time it, if it cannot
    n: int = 1  # calls per sample, the same on both sides
    current: list[float] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.kernel} | {self.case.name}"


def calibrate(pairs: list[Pair], current: Worker, reference: Worker) -> None:
    """Warm every pair up on both sides and fix its calls per sample (a sample lasts MIN_SECONDS).
    A kernel that fails at the reference (an older signature, say) is NEW there, not an error."""
    for p in pairs:
        once = current.ask(op="once", pair=[p.kernel, p.index])
        if p.new is None:
            try:
                once = min(once, reference.ask(op="once", pair=[p.kernel, p.index]))
            except WorkerError as err:
                p.new = f"fails at the reference: {err}"
        p.n = max(1, int(MIN_SECONDS / max(once, 1e-7)))


def measure(pairs: list[Pair], current: Worker, reference: Worker, rounds: int, seed: int, desc: str) -> None:
    """Interleaved rounds: each visits every pair in a new order, and the two sides of a
    pair take their samples one right after the other, the first side alternating."""
    rng = random.Random(seed)
    # disable=None: a bar on a terminal only; CI logs get the header and the table, no \r flood
    bar = tqdm(
        total=rounds * len(pairs), desc=desc, unit="pair", dynamic_ncols=True, leave=False, disable=None
    )
    for r in range(rounds):
        order = list(pairs)
        rng.shuffle(order)
        for i, p in enumerate(order):
            sides = [(current, p.current)] + ([(reference, p.reference)] if p.new is None else [])
            if (r + i) % 2:
                sides.reverse()
            for worker, samples in sides:
                samples.append(worker.ask(op="sample", pair=[p.kernel, p.index], n=p.n))
            bar.update(1)
    bar.close()


def gemm_seconds(worker: Worker, index: int) -> float:
    """Median per-call CPU time of the case's matching GEMM in the worker (printed, never judged)."""
    once = worker.ask(op="gemm", case=index, n=1)
    n = max(1, int(MIN_SECONDS / max(once, 1e-7)))
    return statistics.median(worker.ask(op="gemm", case=index, n=n) for _ in range(3))


# --- verdicts ----------------------------------------------------------------------------------


def spread(values: list[float]) -> float:
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return float((q75 - q25) / q50)


def paired_ratios(current: list[float], reference: list[float]) -> list[float]:
    """current/reference of each round's two samples, taken one right after the other."""
    return [c / r for c, r in zip(current, reference, strict=True)]


def judge(current: list[float], reference: list[float], margin: float) -> tuple[str, float, float | None]:
    """PASS, REGRESSION, WIN or NOISY of one measurement: the verdict, current/reference of the
    median times, and the one-sided Mann–Whitney p-value (None when within the margin)."""
    change = statistics.median(current) / statistics.median(reference)
    if change > 1 + margin:
        p = float(mannwhitneyu(current, reference, alternative="greater").pvalue)
        return ("REGRESSION" if p < ALPHA else "NOISY"), change, p
    if change < 1 / (1 + margin):
        p = float(mannwhitneyu(current, reference, alternative="less").pvalue)
        return ("WIN" if p < ALPHA else "NOISY"), change, p
    return "PASS", change, None


def verdict(current: list[float], reference: list[float], margin: float, remeasure) -> dict:
    """The final verdict of one pair. A suspected REGRESSION (or WIN) is measured again by
    `remeasure()` (→ new current and reference samples) and stands only if that agrees and
    the per-round ratios of both measurements spread at most NOISY_SPREAD; else NOISY."""
    first, change, p = judge(current, reference, margin)
    out = {
        "verdict": first,
        "change": change,
        "p_value": p,
        "spread": spread(paired_ratios(current, reference)),
        "remeasured": False,
        "remeasure_change": None,
    }
    if first in ("REGRESSION", "WIN"):
        current2, reference2 = remeasure()
        second, change2, p2 = judge(current2, reference2, margin)
        pooled = spread(paired_ratios(current + current2, reference + reference2))
        confirmed = second == first and pooled <= NOISY_SPREAD
        out.update(
            verdict=first if confirmed else "NOISY",
            p_value=max(p, p2 if p2 is not None else 1.0),
            spread=pooled,
            remeasured=True,
            remeasure_change=change2,
        )
    elif out["spread"] > NOISY_SPREAD:
        out["verdict"] = "NOISY"
    return out


# --- one A/B run -------------------------------------------------------------------------------


def compare(
    reference_root: Path,
    names: list[str],
    cases: list[GateCase],
    inject: dict[str, float],
    rounds: int,
    remeasure_rounds: int,
    margin: float,
    threads: int = 1,
    current_root: Path = ROOT,
) -> list[dict]:
    """Time `names` × `cases` on both sides, round by round, and judge every pair."""
    spec = [[c.shape.batch, c.shape.heads, c.shape.seq_len, c.shape.head_dim, c.mode] for c in cases]
    with ExitStack() as stack:
        current = stack.enter_context(closing(Worker("current", current_root)))
        try:
            reference = stack.enter_context(closing(Worker("reference", reference_root)))
        except WorkerError as err:
            raise NoReference(f"the reference's kernels do not import here: {err}") from None
        setup = {"op": "setup", "kernels": names, "cases": spec, "threads": threads}
        mine = current.ask(**setup, inject=inject)
        if mine["missing"]:
            name, why = next(iter(mine["missing"].items()))
            raise WorkerError(f"current kernels: {name} cannot run on the CPU: {why}")
        theirs = reference.ask(**setup, inject={})
        pairs = [
            Pair(name, case, i, new=theirs["missing"].get(name))
            for i, case in enumerate(cases)
            for name in names
        ]
        calibrate(pairs, current, reference)
        measure(pairs, current, reference, rounds, seed=1, desc="bench-check")
        gemm = [gemm_seconds(current, i) for i in range(len(cases))]
        results = []
        for p in pairs:
            row = _row(p, gemm[p.index])
            if p.new:
                row.update(verdict="NEW", new_reason=p.new)
            else:
                again = partial(remeasure, p, current, reference, remeasure_rounds)
                row.update(verdict(p.current, p.reference, margin, again))
            results.append(row)
        return results


def remeasure(p: Pair, current: Worker, reference: Worker, rounds: int) -> tuple[list[float], list[float]]:
    """Fresh samples of a suspected regression or win, on both sides, interleaved as before."""
    twin = Pair(p.kernel, p.case, p.index, n=p.n)
    measure([twin], current, reference, rounds, seed=2, desc=f"re-measuring {p.key}")
    return twin.current, twin.reference


def _row(p: Pair, gemm_s: float) -> dict:
    k = statistics.median(p.current)
    r = statistics.median(p.reference) if p.reference else None
    flops = attention_flops(p.case.shape, p.case.mode)
    gemm_flops = matching_gemm_flops(p.case.shape)
    return {
        "kernel": p.kernel,
        "case": p.case.name,
        "tier": p.case.tier,
        "time_s": k,
        "ref_time_s": r,
        "gflops": flops / k / 1e9,
        "gemm_gflops": gemm_flops / gemm_s / 1e9,
        "pct_gemm": 100 * (flops / k) / (gemm_flops / gemm_s),
        "calls_per_sample": p.n,
        "samples": len(p.current),
        "current_samples": list(p.current),
        "reference_samples": list(p.reference),
        "verdict": None,
        "change": None,
        "p_value": None,
        "spread": spread(paired_ratios(p.current, p.reference)) if p.reference else None,
        "remeasured": False,
        "remeasure_change": None,
        "new_reason": None,
    }


def run(args: argparse.Namespace) -> int:
    """The gate in four steps: what to measure, measure and judge it against the reference,
    print the verdicts, and (with --record) keep them."""
    names, cases, inject = _selection(args)
    if args.accept:
        return accept(ROOT, ACCEPTED)
    try:
        ref = find_reference(ROOT, args.against, ACCEPTED)
    except NoReference as why:
        print(f"bench-check: SKIPPED, nothing judged: no reference revision to compare with: {why}")
        return 0
    aa = same_kernels(ROOT, ref.commit)
    _announce(ref, aa, inject)
    started = time.perf_counter()
    try:
        results = _measure_and_judge(ref, names, cases, inject, args)
    except NoReference as why:
        print(f"bench-check: SKIPPED, nothing judged: {why}")
        return 0
    _print_results(results, args, time.perf_counter() - started)
    if args.samples:
        args.samples.write_text(
            json.dumps({"reference": ref.commit, "inject": inject, "pairs": results}, indent=1)
        )
    if args.record:
        record(HISTORY, results, ref.commit, aa, inject, args)
    return _summary([r["verdict"] for r in results])


def _selection(args: argparse.Namespace) -> tuple[list[str], list[GateCase], dict[str, float]]:
    """The kernels, cases and injected slowdowns the command line asks for, checked."""
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
    if args.rounds < 3 or args.remeasure_rounds < 3:
        raise SystemExit("bench-check: --rounds and --remeasure-rounds need at least 3 rounds")
    return names, cases, inject


def _announce(ref: Reference, aa: bool, inject: dict[str, float]) -> None:
    print(
        f"bench-check: working tree ({provenance_commit()}) against {ref.commit[:12]}, {ref.why}"
        + (" — the same kernel code: an A/A run, it tests the gate itself" if aa else "")
    )
    for note in ref.notes:
        print(f"bench-check: note: {note}")
    if inject:
        print(f"bench-check: injecting slowdowns {inject} into the current side (a demonstration)")


def _measure_and_judge(ref: Reference, names, cases, inject, args) -> list[dict]:
    """Both sides measured in interleaved rounds, each pair judged (`compare`)."""
    with tempfile.TemporaryDirectory(prefix="ablate-gate-") as tmp:
        try:
            return compare(
                extract(ROOT, ref.commit, Path(tmp)),
                names,
                cases,
                inject,
                rounds=args.rounds,
                remeasure_rounds=args.remeasure_rounds,
                margin=args.margin,
                threads=args.threads,
            )
        except WorkerError as err:
            raise SystemExit(f"bench-check: {err}") from None


def _print_results(results: list[dict], args: argparse.Namespace, seconds: float) -> None:
    print(_table(results))
    print(
        f"({len(results)} kernel × case pairs × {args.rounds} interleaved rounds per side in {seconds:.0f} s, "
        f"{args.threads} thread(s), thread CPU time; margin {args.margin:.0%}, α = {ALPHA}, "
        f"re-measure {args.remeasure_rounds} rounds; load average {os.getloadavg()[0]:.1f})"
    )


def record(path: Path, results: list[dict], reference: str, aa: bool, inject: dict, args) -> None:
    """Append this run's rows, each saying where, how and against what it was measured."""
    where = provenance(torch.device("cpu"))
    stamp = {
        "run_id": uuid.uuid4().hex[:12],
        "commit": where["git_commit"],
        "reference": reference,
        "a_a": aa,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": where["host"],
        "device_name": where["device_name"],
        "torch_version": where["torch_version"],
        "threads": args.threads,
        "rounds": args.rounds,
        "margin": args.margin,
        "load_avg": os.getloadavg()[0],
        "injected": json.dumps(inject) if inject else None,
    }
    drop = {"current_samples", "reference_samples"}
    append_history(path, [{**stamp, **{k: v for k, v in r.items() if k not in drop}} for r in results])
    print(f"bench-check: recorded in {path}")


def _summary(verdicts: list[str]) -> int:
    if "NEW" in verdicts:
        print(f"bench-check: {verdicts.count('NEW')} pair(s) NEW: the reference lacks the kernel, not judged")
    if "NOISY" in verdicts:
        print(
            f"bench-check: WARNING: {verdicts.count('NOISY')} pair(s) inconclusive on this machine right now "
            "(passing them); rerun when it is quieter",
            file=sys.stderr,
        )
    if "REGRESSION" in verdicts:
        print(
            f"bench-check: FAILED: {verdicts.count('REGRESSION')} regression(s), confirmed by re-measuring; "
            "if the slowdown is meant, accept it with `make bench-check ARGS=--accept` and commit "
            f"{shown(ACCEPTED, ROOT)}",
            file=sys.stderr,
        )
        return 1
    print("bench-check: passed")
    return 0


def provenance_commit() -> str:
    return str(provenance(torch.device("cpu"))["git_commit"])[:12]


def accept(root: Path, path: Path) -> int:
    """Record HEAD as the accepted reference (to be committed): its kernels' speed is the new normal."""
    if git(root, "status", "--porcelain", "--", *KERNEL_PATHSPEC):
        raise SystemExit(f"bench-check: --accept: commit the changes in {KERNEL_SOURCES}/ first")
    head = commit_of(root, "HEAD")
    if head is None:
        raise SystemExit(f"bench-check: --accept: {root} is not a git checkout with a commit")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(
        "# The speed gate's accepted reference: its kernels are judged against this commit's\n"
        "# (written by `make bench-check ARGS=--accept`; README, the speed gate).\n"
        f"{head}\n"
    )
    os.replace(tmp, path)
    print(f"bench-check: accepted {head[:12]}; commit {shown(path, root)} to make it the reference")
    return 0


def append_history(path: Path, rows: list[dict]) -> None:
    """Append this run's rows; the file is replaced atomically, so a crash never corrupts it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = pd.DataFrame(rows)
    table = pd.concat([pd.read_parquet(path), new], ignore_index=True) if path.exists() else new
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    table.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _table(results: list[dict]) -> str:
    rows = [
        [
            r["kernel"],
            r["case"],
            _time(r["time_s"]),
            _time(r["ref_time_s"]) if r["ref_time_s"] else "–",
            f"{r['change']:.2f}×" if r["change"] is not None else "–",
            f"{r['spread']:.0%}" if r["spread"] is not None else "–",
            f"{r['p_value']:.1g}" if r["p_value"] is not None else "–",
            f"{r['pct_gemm']:.0f}%",
            r["verdict"] + (f" (re-measured: {r['remeasure_change']:.2f}×)" if r["remeasured"] else ""),
        ]
        for r in results
    ]
    headers = ["kernel", "case", "current", "reference", "current/ref", "spread", "p", "% GEMM", "verdict"]
    return tabulate(rows, headers=headers, tablefmt="github")


def _time(s: float) -> str:
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def _parse_inject(text: str) -> tuple[str, float]:
    name, _, factor = text.partition("=")
    try:
        value = float(factor)
    except ValueError:
        raise SystemExit(
            f"bench-check: --inject-slowdown wants KERNEL=FACTOR, e.g. chunked=1.3, got {text!r}"
        ) from None
    if name not in kernels.REGISTRY or value < 1:
        raise SystemExit(f"bench-check: --inject-slowdown {text!r}: need a known kernel and a factor ≥ 1")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench-check", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--against", metavar="REV", default=None, help="the reference commit (default: see README)"
    )
    p.add_argument(
        "--accept", action="store_true", help=f"record HEAD as the accepted reference in {ACCEPTED.name}"
    )
    p.add_argument(
        "--record", action="store_true", help="append this run to results/kernels/bench_history.parquet"
    )
    p.add_argument("--samples", type=Path, default=None, help="write every raw sample to this JSON file")
    p.add_argument(
        "--rounds", type=positive_int, default=ROUNDS, help=f"interleaved rounds (default {ROUNDS})"
    )
    p.add_argument(
        "--remeasure-rounds",
        type=positive_int,
        default=REMEASURE_ROUNDS,
        help=f"rounds when re-measuring a suspected regression (default {REMEASURE_ROUNDS})",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=MARGIN,
        help=f"rise of current/reference that counts (default {MARGIN})",
    )
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
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
        help="make the current side's calls of a kernel FACTOR× slower, to see the gate catch it",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
