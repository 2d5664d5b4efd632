"""What every real text corpus shares: splits, tokenization and the token cache.

A corpus subclass says where its text is (`locate`, which raises DataUnavailable
with what to place where) and how to read it (`read`, split name → texts and
labels). This class carves the held-out splits deterministically, builds the
vocabulary on the training split only, and caches the token ids as one .npz file
(loaded with allow_pickle=False, so the cache is never unpickled), keyed by the
content of the source files and every setting that changes the ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from suite.data.download import (
    DATA_ENV,
    DataError,
    DataUnavailable,
    Remote,
    atomic_path,
    cache_dir,
    data_root,
    fetch,
    file_digest,
    why_unavailable,
)
from suite.data.registry import Dataset
from suite.data.tokenize import PAD, TokenizerSpec, build_vocabulary, encode, words
from suite.lazy import lazy_import

torch = lazy_import("torch")  # imported on first use: loading a study declares datasets, never loads them

# disable=None: a bar on a terminal only, so logs and pipes get no carriage-return floods
PROGRESS = {"unit": "doc", "leave": False, "dynamic_ncols": True, "disable": None}
CACHE_VERSION = 1  # bump when tokenization or splitting changes, so old caches are not reused
SPLITS = ("train", "val", "test")

Texts = tuple[list[str], list[int]]


def check_fraction(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")


def carve(texts: Texts, fraction: float, seed: int) -> tuple[Texts, Texts]:
    """Split off a seeded random `fraction` of the rows: (kept, carved), each in source order."""
    n = len(texts[0])
    order = np.random.default_rng(seed).permutation(n)
    carved = np.zeros(n, dtype=bool)
    carved[order[: round(n * fraction)]] = True

    def pick(mask: np.ndarray) -> Texts:
        rows = np.flatnonzero(mask)
        return [texts[0][i] for i in rows], [texts[1][i] for i in rows]

    return pick(~carved), pick(carved)


class TextCorpus(Dataset):
    """A labelled text corpus with splits train / val / test; test is the eval split."""

    class_names: tuple[str, ...] = ()  # each label's name, in label order (`ablate predict` prints it)

    def __init__(
        self,
        name: str,
        *,
        num_classes: int,
        tokenizer: TokenizerSpec,
        val_fraction: float,
        split_seed: int,
        cache_dir: str | None,
        note: str = "",
        protocol: dict[str, str] | None = None,
    ):
        check_fraction("val_fraction", val_fraction)
        if isinstance(split_seed, bool) or not isinstance(split_seed, int) or split_seed < 0:
            raise ValueError(f"split_seed must be an integer ≥ 0, got {split_seed!r}")
        super().__init__(
            name=name,
            vocab_size=tokenizer.vocab_size,
            seq_len=tokenizer.max_len,
            num_classes=num_classes,
            splits=SPLITS,
            pad_id=PAD,
            note=note,
            protocol=protocol or {},
        )
        self.tokenizer = tokenizer
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.cache_root = cache_dir

    # --- what a corpus provides -------------------------------------------------------------
    def locate(self) -> list[Path]:
        """The files the text is read from; raise DataUnavailable saying what to place where."""
        raise NotImplementedError

    def read(self, files: list[Path]) -> dict[str, Texts]:
        """Split name → (texts, labels), in a fixed order: "train" and "test", or "all"."""
        raise NotImplementedError

    def words(self, text: str) -> list[str]:
        """One text's words (suite.data.tokenize.words; a corpus may split as its literature did)."""
        return words(text)

    def split_settings(self) -> dict:
        """Settings beyond the tokenizer's that change which rows land in which split."""
        return {"val_fraction": self.val_fraction, "split_seed": self.split_seed}

    def split(self, raw: dict[str, Texts]) -> dict[str, Texts]:
        """train / val / test from what `read` returned: val carved from train."""
        train, val = carve(raw["train"], self.val_fraction, self.split_seed)
        return {"train": train, "val": val, "test": raw["test"]}

    # --- shared machinery ---------------------------------------------------------------------
    @property
    def cache(self) -> Path:
        return cache_dir(self.cache_root)

    def unavailable(self) -> str | None:
        """Why the text cannot be had (absent and not downloadable, or a damaged copy), or None."""
        return why_unavailable(self.locate)

    def cache_path(self, files: list[Path]) -> Path:
        """The token cache file for these source files and settings."""
        root = Path(os.path.commonpath(files)) if len(files) > 1 else files[0].parent
        key = {
            "version": CACHE_VERSION,
            "corpus": self.name,
            "sources": [[f.relative_to(root).as_posix(), file_digest(f)] for f in files],
            "tokenizer": self.tokenizer.to_dict(),
            "split": self.split_settings(),
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        return self.cache / "tokens" / f"{self.name}-{digest}.npz"

    def load(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        files = self.locate()
        path = self.cache_path(files)
        arrays = _read_cache(path)
        if arrays is None:
            arrays = self.tokenize(files)
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as handle:
                    np.savez(handle, **arrays)
        return {
            split: (
                torch.from_numpy(arrays[f"{split}_x"].astype(np.int64)),
                torch.from_numpy(arrays[f"{split}_y"].astype(np.int64)),
            )
            for split in self.splits
        }

    def tokenize(self, files: list[Path]) -> dict[str, np.ndarray]:
        splits = self.split(self.read(files))
        for split in self.splits:
            texts, labels = splits[split]
            if not texts:
                raise DataError(f"{self.name}: split {split!r} is empty after reading {files[0]}")
            bad = sorted({y for y in labels if not 0 <= y < self.num_classes})
            if bad:
                raise DataError(f"{files[0]}: labels {bad[:5]} outside 0..{self.num_classes - 1}")
        tokens = {
            split: [
                self.words(t) for t in tqdm(splits[split][0], f"{self.name} {split}: split words", **PROGRESS)
            ]
            for split in self.splits
        }
        vocabulary = build_vocabulary(tokens["train"], self.tokenizer)
        arrays: dict[str, np.ndarray] = {"vocabulary": np.array(vocabulary, dtype=str)}
        for split in self.splits:
            arrays[f"{split}_x"] = encode(
                tokens[split], vocabulary, self.tokenizer, f"{self.name} {split}: ids"
            )
            arrays[f"{split}_y"] = np.asarray(splits[split][1], dtype=np.int64)
        return arrays

    def vocabulary(self) -> list[str]:
        """The vocabulary of the cached tokens (after `load`), id order."""
        path = self.cache_path(self.locate())
        if _read_cache(path) is None:
            self.load()
        return [str(w) for w in _read_cache(path)["vocabulary"]]


class DownloadableCorpus(TextCorpus):
    """A corpus with an official archive: downloaded into the cache, or found where `data_path`
    points (the archive itself, a folder holding it, the corpus's own folder layout, or
    Hugging Face parquet shards train-*/test-*)."""

    archive: Remote  # the official download
    cache_subdir: str  # its folder in the cache
    title: str  # the corpus's name in messages
    layouts: str  # where data_path may point, for the error message

    def __init__(self, name: str, *, data_path: str | None, download: bool, **kwargs):
        super().__init__(name, **kwargs)
        self.data_path = data_path
        self.download = download

    def locate_folder(self, path: Path) -> list[Path] | None:
        """The corpus's own extracted layout under `path`, if it is there."""
        raise NotImplementedError

    def locate(self) -> list[Path]:
        """`data_path` if given; else $ABLATE_DATA/<cache_subdir>, then the cache, then a download."""
        if self.data_path is None:
            local = data_root(self.cache_subdir)
            if local is None:
                return [fetch(self.archive, self.cache / self.cache_subdir, download=self.download)]
            return self.locate_path(local, f"${DATA_ENV}/{self.cache_subdir}")
        return self.locate_path(Path(self.data_path).expanduser(), "data_path")

    def locate_path(self, path: Path, where: str) -> list[Path]:
        """The corpus's files at `path` (from `where`: data_path or $ABLATE_DATA)."""
        if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
            return [path]
        if path.is_dir():
            if (path / self.archive.filename).is_file():
                return [path / self.archive.filename]
            files = self.locate_folder(path)
            if files:
                return files
            shards = find_parquet(path)
            if set(shards) == {"train", "test"}:
                return shards["train"] + shards["test"]
        state = "does not exist" if not path.exists() else f"holds none of the {self.title} layouts"
        raise DataUnavailable(f"{where} {path} {state}; point it at {self.layouts}")


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None if there is no usable cache file (never unpickles)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None  # unreadable: tokenize again and replace it


# --- the Hugging Face parquet layout, shared by corpora published there -----------------------


def find_parquet(directory: Path) -> dict[str, list[Path]]:
    """Split → parquet shards under `directory` (train-00000-of-00001.parquet, test.parquet, …)."""
    found: dict[str, list[Path]] = {}
    for split in ("train", "test"):
        shards = sorted({*directory.rglob(f"{split}-*.parquet"), *directory.rglob(f"{split}.parquet")})
        if shards:
            found[split] = shards
    return found


def read_parquet(shards: list[Path], label_offset: int = 0) -> Texts:
    """(texts, labels) from parquet shards with columns `text` and `label` (any order)."""
    import pyarrow.parquet as pq

    texts: list[str] = []
    labels: list[int] = []
    for shard in shards:
        try:
            table = pq.read_table(shard)
        except Exception as err:  # pyarrow raises several types for a damaged file
            raise DataError(f"{shard}: not a readable parquet file ({err})") from err
        missing = {"text", "label"} - set(table.column_names)
        if missing:
            raise DataError(
                f"{shard}: no column {sorted(missing)[0]!r}; a Hugging Face parquet shard has columns "
                f"'text' and 'label' (found {', '.join(table.column_names)})"
            )
        texts += [str(t) for t in table.column("text").to_pylist()]
        labels += [int(y) - label_offset for y in table.column("label").to_pylist()]
    return texts, labels
