"""One side of the speed gate's A/B: times the kernels of one checkout, on request.

Run as a script, never imported by the suite: `python gate_worker.py SIDE_ROOT`.
SIDE_ROOT goes first on sys.path, so `suite.kernels` (and whatever part of
`suite` the kernels import) comes from that checkout: the working tree for the
current side, an extracted reference commit for the other. The harness — this
file and `suite/kernels/cases.py`, loaded by path — is the working tree's on both sides, so
the only thing that differs between the sides is the kernels' code.

Requests are JSON lines on stdin, answers JSON lines on the original stdout
(print() goes to stderr, so a chatty kernel cannot break the protocol):

    {"op": "setup", "kernels": [...], "cases": [[B, H, T, D, mode], ...], "inject": {k: f}, "threads": 1}
    {"op": "once", "pair": [kernel, case]}        -> seconds of one call, after a warm-up call
    {"op": "sample", "pair": [kernel, case], "n": calls}  -> thread CPU seconds per call
    {"op": "gemm", "case": i, "n": calls}          -> the same for the case's matching GEMM
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import sys
import time
import traceback
from pathlib import Path

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


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


def per_call(fn, n: int) -> float:
    """CPU seconds of this thread per call: on one torch thread that is all the work, and
    unlike wall time it does not count the moments other processes hold the core."""
    start = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - start) / n


def slowed(fn, factor: float):
    """fn made `factor` times slower by spinning after it: an injected regression."""

    def slow():
        start = time.thread_time()
        fn()
        until = start + (time.thread_time() - start) * factor
        while time.thread_time() < until:
            pass

    return slow


class Side:
    def __init__(self, root: Path):
        sys.path.insert(0, str(root))
        import torch

        from suite import kernels

        origin = Path(kernels.__file__).resolve()
        if not origin.is_relative_to(root.resolve()):
            raise RuntimeError(f"suite.kernels came from {origin}, not from {root}")
        spec = importlib.util.spec_from_file_location(
            "_gate_cases", Path(__file__).parents[1] / "kernels" / "cases.py"
        )
        self.cases_module = sys.modules["_gate_cases"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.cases_module)
        self.torch, self.kernels = torch, kernels
        self.calls, self.gemms = {}, []

    def available(self, name: str) -> str | None:
        """None if the kernel runs on the CPU here; tolerant of older kernel registries."""
        if name not in self.kernels.list():
            return "absent"
        check = getattr(self.kernels, "unavailable", None)
        return check(name, "cpu") if check else None

    def setup(self, kernels: list[str], cases: list, inject: dict, threads: int) -> dict:
        self.torch.set_num_threads(threads)
        cpu, f32 = self.torch.device("cpu"), self.torch.float32
        shapes = [(self.cases_module.Shape(b, h, t, d), mode) for b, h, t, d, mode in cases]
        self.gemms = [self.cases_module.matching_gemm(shape, cpu, f32)[0] for shape, _ in shapes]
        missing = {}
        for name in kernels:
            reason = self.available(name)
            if reason:
                missing[name] = reason
                continue
            for i, (shape, mode) in enumerate(shapes):
                call = self.cases_module.attention_call(name, shape, mode, cpu, f32)
                self.calls[(name, i)] = slowed(call, inject[name]) if name in inject else call
        return {
            "missing": missing,
            "torch": self.torch.__version__,
            "kernels_file": self.kernels.__file__,
            "threads": self.torch.get_num_threads(),
        }

    def handle(self, request: dict):
        op = request["op"]
        if op == "setup":
            return self.setup(request["kernels"], request["cases"], request["inject"], request["threads"])
        if op == "once":
            call = self.calls[tuple(request["pair"])]
            call()  # warm-up
            return per_call(call, 1)
        if op == "sample":
            return per_call(self.calls[tuple(request["pair"])], request["n"])
        if op == "gemm":
            return per_call(self.gemms[request["case"]], request["n"])
        raise ValueError(f"unknown request {op!r}")


def main() -> int:
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]  # this folder's modules (run.py, spec.py, …) must not shadow anything
    keep_freed_memory()
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # prints from the kernels must not mix with the answers
    try:
        side = Side(Path(sys.argv[1]))
    except Exception as err:  # the checkout's kernels do not import: say so, the parent decides
        answers.write(json.dumps({"error": f"{type(err).__name__}: {err}"}) + "\n")
        return 1
    answers.write(json.dumps({"ok": "ready"}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "exit":
            break
        try:
            answers.write(json.dumps({"ok": side.handle(request)}) + "\n")
        except Exception as err:
            last = traceback.format_exc().strip().splitlines()[-1]
            answers.write(json.dumps({"error": f"{type(err).__name__}: {err} ({last})"}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
