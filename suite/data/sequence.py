"""What per-position datasets (language modelling, recall) add to `Dataset`.

Their labels are per position: `load()` gives split → (x (N, T) int64, y (N, T) int64), y[n, t]
the token that should follow x[n, :t+1], or IGNORE where nothing is asked (cross-entropy's
`ignore_index`). `task` (suite.data.registry.TASKS) says which kind of target it is: `lm` (the
next token) or `tokens` (a target at some positions); the head is a linear at every position, and
bits per character are reported for `lm` only.

A dataset that is `streaming` is trained on batches drawn per step (`batch(step, batch_size,
seed)`) instead of passes over its fixed train rows: nanoGPT's random windows, zoology's fresh
examples. A batch is a pure function of (dataset, seed, step), so a run resumed or repeated at a
step sees the same data, and several seeds trained together can each draw their own.
"""

from __future__ import annotations

import numpy as np

from suite.data.registry import Dataset
from suite.lazy import lazy_import

torch = lazy_import("torch")  # imported on first use: loading a study declares datasets, never loads them

# A target that is not scored: suite.objective.IGNORE (torch's cross-entropy ignore_index), spelled
# here too because datasets are declared without importing torch (tests/test_tasks.py: they agree).
IGNORE = -100


def derived_seed(*parts: int) -> int:
    """A 63-bit seed for one stream (e.g. (dataset seed, stream id, trial seed, step)): distinct
    part tuples give independent streams (numpy's SeedSequence hashes them), never overlapping
    counters of one generator."""
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def generator(*parts: int) -> torch.Generator:
    """A CPU torch.Generator seeded with `derived_seed(*parts)`."""
    return torch.Generator().manual_seed(derived_seed(*parts))


class SequenceDataset(Dataset):
    """A dataset with a target at each position. Subclasses set `task` (`lm` or `tokens`) and
    `streaming` in `__init__`; the training engine (suite.train) draws a streaming dataset's
    training batches from `batch` instead of passing over its fixed train rows."""

    streaming: bool = False

    def batch(self, step: int, batch_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Training batch number `step` for a trial seeded `seed`: (x (B, T), y (B, T)) int64."""
        raise NotImplementedError
