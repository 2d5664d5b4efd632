"""Tiny Shakespeare at the character level, as nanoGPT's `data/shakespeare_char/prepare.py` makes it.

The vocabulary is the corpus' distinct characters in sorted order (65 for the published file), so
ids are comparable with nanoGPT's; the first 90% of the characters (by position, not shuffled) are
trained on and the last 10% are `val`. Training batches are nanoGPT's `get_batch`: `batch_size`
windows of `block_size` characters starting at uniformly random offsets, target = the window moved
one character on. `load()` instead tiles each split into non-overlapping windows, the same ones on
every call, so a validation loss is computed on fixed text rather than a random estimate.

Where the file comes from: `data_path` (any UTF-8 text in this format: a corpus of one's own,
not checked against the published md5), else $ABLATE_DATA/tinyshakespeare/input.txt, else the
cache, else a download from char-rnn's repository; the last three are checked against the md5.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from suite.data.download import (
    DATA_ENV,
    CacheDir,
    DataError,
    DataPath,
    DataUnavailable,
    Remote,
    cache_dir,
    data_root,
    fetch,
    verify,
    why_unavailable,
)
from suite.data.registry import register_dataset
from suite.data.sequence import SequenceDataset, generator
from suite.lazy import lazy_import

torch = lazy_import("torch")  # imported on first use: loading a study declares datasets, never loads them

REMOTE = Remote(
    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    filename="input.txt",
    digest="6fb458f1232090904fb40fe944165e91",
    algorithm="md5",
    size=1_115_394,
)
SUBDIR = "tinyshakespeare"
# The published file's sorted characters: the vocabulary is declared before anything is read.
PUBLISHED_CHARS = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
STREAM_TRAIN = 0  # derived-seed stream id of training windows


def split_point(n: int, train_fraction: float) -> int:
    """nanoGPT's `int(n * 0.9)`: characters [0, split) are trained on, [split, n) are val."""
    return int(n * train_fraction)


def tile(ids: torch.Tensor, length: int, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows of `length` over a 1-D id tensor: x[i] = ids[i·L : (i+1)·L],
    y[i] = ids[i·L + 1 : (i+1)·L + 1] (so the last character only ever is a target). `limit`
    keeps that many windows evenly spaced over the split (all when None)."""
    count = (len(ids) - 1) // length
    if count < 1:
        raise DataError(f"a split of {len(ids):,} characters holds no window of {length} (+1 for the target)")
    starts = torch.arange(count) * length
    if limit is not None and limit < count:
        starts = starts[torch.linspace(0, count - 1, limit).round().long()]
    offsets = torch.arange(length)
    return ids[starts[:, None] + offsets], ids[starts[:, None] + offsets + 1]


def random_windows(
    ids: torch.Tensor, length: int, batch_size: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """nanoGPT's get_batch: `batch_size` windows at offsets uniform in [0, len − length)."""
    if len(ids) <= length:
        raise DataError(f"a split of {len(ids):,} characters is too short for windows of {length}")
    starts = torch.randint(len(ids) - length, (batch_size,), generator=gen)
    offsets = torch.arange(length)
    return ids[starts[:, None] + offsets], ids[starts[:, None] + offsets + 1]


class TinyShakespeare(SequenceDataset):
    def __init__(
        self,
        *,
        block_size: int,
        train_fraction: float,
        data_path: str | None,
        cache_dir: str | None,
        download: bool,
    ):
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"block_size must be an integer ≥ 1, got {block_size!r}")
        if isinstance(train_fraction, bool) or not 0 < train_fraction < 1:
            raise ValueError(
                f"train_fraction must be a number strictly between 0 and 1, got {train_fraction!r}"
            )
        self.data_path, self.cache_root, self.download = data_path, cache_dir, download
        self.train_fraction = train_fraction
        chars = PUBLISHED_CHARS if data_path is None else self._own_chars()
        super().__init__(
            name="tinyshakespeare",
            vocab_size=len(chars),
            seq_len=block_size,
            num_classes=len(chars),
            splits=("train", "val"),
            note=(
                f"character level; val = the last {1 - train_fraction:.0%} of the text by position "
                f"(nanoGPT's split); val loss over its non-overlapping {block_size}-character windows"
            ),
        )
        self.chars = chars
        self.task = "lm"
        self.streaming = True

    def _own_chars(self) -> str:
        path = Path(self.data_path).expanduser()
        if not path.is_file():
            return ""  # `unavailable` says why; nothing can be built until the file is there
        return "".join(sorted(set(self._read(path))))

    # --- where the text is ----------------------------------------------------------------------
    def locate(self) -> Path:
        """data_path, else $ABLATE_DATA/tinyshakespeare/input.txt, else the cache (downloading)."""
        if self.data_path is not None:
            path = Path(self.data_path).expanduser()
            if not path.is_file():
                raise DataUnavailable(f"data_path {path} is not a file; point it at a UTF-8 text file")
            return path
        local = data_root(SUBDIR)
        if local is not None and (local / REMOTE.filename).is_file():
            path = local / REMOTE.filename
            verify(path, REMOTE)
            return path
        if local is not None:
            raise DataUnavailable(f"${DATA_ENV}/{SUBDIR} has no {REMOTE.filename}; place {REMOTE.describe()}")
        return fetch(REMOTE, cache_dir(self.cache_root) / SUBDIR, download=self.download)

    def unavailable(self) -> str | None:
        return why_unavailable(self.locate)

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(f"{path}: not UTF-8 text ({err}); the corpus is one plain text file") from err

    # --- the ids -----------------------------------------------------------------------------
    @cached_property
    def ids(self) -> dict[str, torch.Tensor]:
        """Split → the split's character ids, one long 1-D tensor each."""
        path = self.locate()
        text = self._read(path)
        chars = "".join(sorted(set(text)))
        if chars != self.chars:
            raise DataError(
                f"{path}: its characters changed since the dataset was declared; declare it again"
            )
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32)  # sorted code points
        ids = torch.from_numpy(np.searchsorted(table, points).astype(np.int64))
        cut = split_point(len(ids), self.train_fraction)
        return {"train": ids[:cut], "val": ids[cut:]}

    def encode(self, text: str) -> torch.Tensor:
        """Character ids of `text` (1-D int64); a character outside the vocabulary is refused."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            raise ValueError(f"characters {''.join(unknown)!r} are not in the {self.name} vocabulary")
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def windows(self, split: str, length: int | None = None, limit: int | None = None):
        """The split tiled into non-overlapping windows of `length` (default block_size)."""
        return tile(self.ids[split], length or self.seq_len, limit)

    def load(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {split: self.windows(split) for split in self.splits}

    def batch(self, step: int, batch_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        return random_windows(
            self.ids["train"], self.seq_len, batch_size, generator(seed, STREAM_TRAIN, step)
        )


@register_dataset("tinyshakespeare")
def tinyshakespeare(
    block_size: int = 64,
    train_fraction: float = 0.9,
    data_path: DataPath = None,
    cache_dir: CacheDir = None,
    download: bool = True,
) -> TinyShakespeare:
    """Tiny Shakespeare (char-rnn), character level, nanoGPT's 90/10 split by position; next-character targets."""
    return TinyShakespeare(
        block_size=block_size,
        train_fraction=train_fraction,
        data_path=data_path,
        cache_dir=cache_dir,
        download=download,
    )
