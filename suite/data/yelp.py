"""Yelp review full (Zhang, Zhao & LeCun 2015): reviews rated 1–5 stars, 650,000 train and 50,000 test.

Read from `yelp_review_full_csv.tgz` (downloaded into the cache, or placed there
by hand), or from what `data_path` points at: the archive anywhere, the extracted
folder with train.csv and test.csv, or a folder of Hugging Face parquet shards
(columns label 0–4, text). The CSV files have no header; every field is
double-quoted with "" for a quote inside, and line breaks inside a review are
written as a literal backslash-n. Stars 1–5 become classes 0–4.
"""

from __future__ import annotations

import csv
import io
import sys
import tarfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from suite.data.download import CacheDir, DataError, DataPath, Remote
from suite.data.registry import Dataset, register_dataset
from suite.data.text import DownloadableCorpus, Texts, carve, read_parquet
from suite.data.tokenize import TokenizerSpec

ARCHIVE = Remote(  # the fast.ai mirror of Zhang et al.'s file; md5 as torchtext and fast.ai check it
    url="https://s3.amazonaws.com/fast-ai-nlp/yelp_review_full_csv.tgz",
    filename="yelp_review_full_csv.tgz",
    digest="a4acce1892d0f927165488f62860cabe",
    algorithm="md5",
)
CSV_FILES = {"train": "train.csv", "test": "test.csv"}
LAYOUTS = (
    "yelp_review_full_csv.tgz, its extracted folder (train.csv and test.csv), "
    "or a folder of Hugging Face parquet shards (train-*.parquet, test-*.parquet with columns label, text)"
)


class YelpFull(DownloadableCorpus):
    class_names = ("1 star", "2 stars", "3 stars", "4 stars", "5 stars")  # labels 0 … 4
    archive = ARCHIVE
    cache_subdir = "yelp_review_full"
    title = "Yelp"
    layouts = LAYOUTS

    def __init__(self, *, train_rows: int | None, **kwargs):
        if train_rows is not None and (
            isinstance(train_rows, bool) or not isinstance(train_rows, int) or train_rows < 2
        ):
            raise ValueError(f"train_rows must be an integer ≥ 2 or null (all 650,000), got {train_rows!r}")
        super().__init__("yelp_full", num_classes=5, **kwargs)
        self.train_rows = train_rows

    def locate_folder(self, path: Path) -> list[Path] | None:
        for folder in (path, path / "yelp_review_full_csv"):
            if all((folder / name).is_file() for name in CSV_FILES.values()):
                return [folder / CSV_FILES["train"], folder / CSV_FILES["test"]]
        return None

    def read(self, files: list[Path]) -> dict[str, Texts]:
        if files[0].suffix == ".parquet":
            return {s: read_parquet([f for f in files if f.name.startswith(s)]) for s in CSV_FILES}
        if files[0].suffix == ".csv":
            out = {}
            for split, path in zip(CSV_FILES, files, strict=True):
                with open(path, encoding="utf-8", newline="") as handle:
                    out[split] = read_csv(handle, path)
            return out
        return read_archive(files[0])

    def split_settings(self) -> dict:
        return {**super().split_settings(), "train_rows": self.train_rows}

    def split(self, raw: dict[str, Texts]) -> dict[str, Texts]:
        """A seeded sample of `train_rows` training reviews (all if null), then val carved from it."""
        train = raw["train"]
        if self.train_rows is not None and self.train_rows < len(train[0]):
            _, train = carve(train, self.train_rows / len(train[0]), self.split_seed + 1)
        return super().split({"train": train, "test": raw["test"]})


def read_csv(lines: Iterable[str], source: Path | str) -> Texts:
    """(texts, labels 0–4) from Zhang et al.'s CSV: "stars","review" with "" and \\n escapes."""
    csv.field_size_limit(sys.maxsize)
    texts, labels = [], []
    reader = csv.reader(lines, strict=True)
    try:
        for row in reader:
            if not row:
                continue
            if len(row) < 2 or row[0] not in ("1", "2", "3", "4", "5"):
                raise DataError(
                    f'{source}: line {reader.line_num}: expected "stars 1-5","review text", got {row[:2]!r}'
                )
            labels.append(int(row[0]) - 1)
            texts.append(" ".join(row[1:]).replace("\\n", "\n"))
    except csv.Error as err:
        raise DataError(f"{source}: line {reader.line_num}: not valid CSV ({err})") from err
    return texts, labels


def read_archive(path: Path) -> dict[str, Texts]:
    """train and test (texts, labels) from the tarball, read in place."""
    out: dict[str, Texts] = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                for split, name in CSV_FILES.items():
                    if member.isfile() and member.name.endswith(f"yelp_review_full_csv/{name}"):
                        handle = io.TextIOWrapper(archive.extractfile(member), encoding="utf-8", newline="")
                        out[split] = read_csv(handle, f"{path}:{member.name}")
    except (tarfile.TarError, EOFError, zlib.error, OSError, UnicodeDecodeError) as err:
        raise DataError(
            f"{path}: the archive is truncated or damaged ({err}); delete it and place a complete copy of "
            f"{ARCHIVE.describe()}"
        ) from err
    missing = [name for split, name in CSV_FILES.items() if split not in out]
    if missing:
        raise DataError(f"{path}: no yelp_review_full_csv/{missing[0]} in the archive; expected {LAYOUTS}")
    return out


@register_dataset("yelp_full")
def yelp_full(
    vocab_size: int = 20_000,
    max_len: int = 256,
    padding: str = "pre",
    truncating: str = "pre",
    start_token: bool = False,
    val_fraction: float = 0.05,
    split_seed: int = 0,
    train_rows: int | None = None,
    data_path: DataPath = None,
    cache_dir: CacheDir = None,
    download: bool = True,
) -> Dataset:
    """Yelp review full, 1–5 stars as 5 classes: 650k train (val carved from it), the 50k test reviews."""
    sample = "all 650,000" if train_rows is None else f"a seeded sample of {train_rows:,} of the 650,000"
    return YelpFull(
        tokenizer=TokenizerSpec(vocab_size, max_len, padding, truncating, start_token),
        val_fraction=val_fraction,
        split_seed=split_seed,
        cache_dir=cache_dir,
        train_rows=train_rows,
        data_path=data_path,
        download=download,
        note=(
            f"test = the official 50,000 test reviews; trained on {sample} training reviews "
            f"less {val_fraction:.0%} held out as val (seed {split_seed})"
        ),
        protocol={
            "corpus": "Yelp review full (Zhang et al. 2015)",
            "evaluation": "the official 50,000 test reviews",
            "training": f"{sample} training reviews less {val_fraction:.0%} for validation",
            "retrained": f"{sample} training reviews",
            "input": f"{'last' if truncating == 'pre' else 'first'} {max_len} tokens",
        },
    )


class YelpFirstRows(YelpFull):
    """The first rows of each official split, as the Neuromatch tutorial's `select(range(n))`."""

    def __init__(self, *, train_rows: int, test_rows: int, val_rows: int, **kwargs):
        for name, value in (("train_rows", train_rows), ("test_rows", test_rows), ("val_rows", val_rows)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")
        super().__init__(train_rows=train_rows, **kwargs)
        self.name = "yelp_neuromatch"
        self.test_rows, self.val_rows = test_rows, val_rows

    def split_settings(self) -> dict:
        return {"first_rows": [self.train_rows, self.val_rows, self.test_rows]}

    def split(self, raw: dict[str, Texts]) -> dict[str, Texts]:
        """train = the first `train_rows` training reviews, test = the first `test_rows` test reviews;
        val (which the tutorial has not) = the `val_rows` training reviews after those."""
        (texts, labels), (test_texts, test_labels) = raw["train"], raw["test"]
        n, v = self.train_rows, self.val_rows
        if len(texts) < n + v or len(test_texts) < self.test_rows:
            raise DataError(
                f"yelp_neuromatch needs {n + v:,} training and {self.test_rows:,} test reviews, "
                f"the files hold {len(texts):,} and {len(test_texts):,}"
            )
        return {
            "train": (texts[:n], labels[:n]),
            "val": (texts[n : n + v], labels[n : n + v]),
            "test": (test_texts[: self.test_rows], test_labels[: self.test_rows]),
        }


@register_dataset("yelp_neuromatch")
def yelp_neuromatch(
    vocab_size: int = 28_996,
    max_len: int = 512,
    padding: str = "post",
    truncating: str = "post",
    train_rows: int = 10_000,
    test_rows: int = 5_000,
    val_rows: int = 1_000,
    data_path: DataPath = None,
    cache_dir: CacheDir = None,
    download: bool = True,
) -> Dataset:
    """Yelp review full as the Neuromatch tutorial loads it: the first 10,000 train and 5,000 test reviews, padded at the end to 512."""
    return YelpFirstRows(
        tokenizer=TokenizerSpec(vocab_size, max_len, padding, truncating, False),
        val_fraction=0.5,  # unused: the rows are taken in file order
        split_seed=0,
        cache_dir=cache_dir,
        train_rows=train_rows,
        test_rows=test_rows,
        val_rows=val_rows,
        data_path=data_path,
        download=download,
        note=(
            f"train = the first {train_rows:,} training reviews, test = the first {test_rows:,} test reviews "
            f"(the tutorial's select(range(n))); val = the next {val_rows:,} training reviews (the tutorial has "
            f"none); word-level ids, {vocab_size:,} of them as bert-base-cased has, where the tutorial uses "
            "BERT's WordPiece tokenizer"
        ),
    )
