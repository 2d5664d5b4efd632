"""The course's toy datasets (vocabulary 5, length 3, binary labels), exactly.

The course trains and evaluates on the same rows; so do these, and reports say so.
"""

from __future__ import annotations

from suite.data.registry import Dataset, register_dataset
from suite.lazy import lazy_import

torch = lazy_import("torch")  # imported on first use: loading a study declares datasets, never loads them

SAME_ROWS = "trained and evaluated on the same rows, as in the course"

REVERSAL_X = [[0, 1, 2], [2, 1, 0], [1, 3, 4], [4, 3, 1]]
REVERSAL_Y = [1, 0, 1, 0]
RELATIVE_X = [[0, 1, 2], [0, 3, 2], [4, 3, 2], [4, 1, 2]]
RELATIVE_Y = [1, 0, 1, 0]


class ToyDataset(Dataset):
    def __init__(self, name: str, x: list[list[int]], y: list[int], note: str):
        super().__init__(name=name, vocab_size=5, seq_len=3, num_classes=2, splits=("train",), note=note)
        self.x, self.y = x, y

    def load(self):
        return {"train": (torch.tensor(self.x), torch.tensor(self.y))}


@register_dataset("reversal")
def reversal() -> Dataset:
    """A sequence and its reversal have opposite labels: word order matters."""
    return ToyDataset("reversal", REVERSAL_X, REVERSAL_Y, SAME_ROWS)


@register_dataset("relative")
def relative() -> Dataset:
    """The label depends on which token stands between 0/4 and 2: relative order matters."""
    return ToyDataset("relative", RELATIVE_X, RELATIVE_Y, SAME_ROWS)


@register_dataset("combined")
def combined() -> Dataset:
    """The 8 rows of relative and reversal together."""
    return ToyDataset("combined", RELATIVE_X + REVERSAL_X, RELATIVE_Y + REVERSAL_Y, SAME_ROWS)
