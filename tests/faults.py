"""Faults for the executor tests, injected through a dataset whose `load()` misbehaves.

Workers import this module through ABLATE_PLUGINS=faults (the product's plugin
hook), so no product code knows about faults. Every `load()` appends a line to
`marker` first, so a test can count how often a unit was attempted; with
`wait_for`, it then waits until that file exists before it misbehaves.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import torch

from suite.data import Dataset, register_dataset

MODES = ("none", "raise", "exit", "sigkill", "exit_once", "hang", "print", "deaf_once")


class FaultDataset(Dataset):
    def __init__(self, mode: str, marker: str, wait_for: str = ""):
        super().__init__(name="fault", vocab_size=5, seq_len=3, num_classes=2, splits=("train",))
        self.mode, self.marker, self.wait_for = mode, marker, wait_for

    def load(self):
        attempts = 0
        if self.marker:
            path = Path(self.marker)
            with path.open("a") as f:
                f.write(f"{os.getpid()}\n")
            attempts = len(path.read_text().splitlines())
        deadline = time.monotonic() + 60
        while self.wait_for and not Path(self.wait_for).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.mode == "deaf_once" and attempts == 1:
            # As a worker stuck in C code is: no signal handler runs, so no SIGTERM stops it.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(60)
        if self.mode == "raise":
            raise RuntimeError("injected fault")
        if self.mode == "exit" or (self.mode == "exit_once" and attempts == 1):
            os._exit(3)
        if self.mode == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.mode == "hang":
            time.sleep(600)
        if self.mode == "print":
            print("python stdout line")
            print("python stderr line", file=sys.stderr)
            sys.stdout.flush()
            os.write(2, b"C-level stderr line\n")
        x = torch.tensor([[0, 1, 2], [2, 1, 0], [1, 3, 4], [4, 3, 1]])
        return {"train": (x, torch.tensor([1, 0, 1, 0]))}


@register_dataset("fault")
def fault(mode: str = "none", marker: str = "", wait_for: str = "") -> Dataset:
    """Test only: the reversal rows, with a fault injected when loaded."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    return FaultDataset(mode, marker, wait_for)
