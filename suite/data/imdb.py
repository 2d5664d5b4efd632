"""IMDB movie reviews (Maas et al. 2011): 25,000 train and 25,000 test reviews, positive or negative.

Read from the official archive (downloaded into the cache, or placed there by
hand), or from what `data_path` points at: an extracted `aclImdb` folder, the
archive anywhere, or a folder of Hugging Face parquet shards (columns text, label).
The archive is read in place, member by member; nothing is extracted.
"""

from __future__ import annotations

import re
import tarfile
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from suite.data.download import CacheDir, DataError, DataPath, Remote
from suite.data.registry import Dataset, register_dataset
from suite.data.text import DownloadableCorpus, Texts, read_parquet
from suite.data.tokenize import TokenizerSpec

ARCHIVE = Remote(
    url="http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
    filename="aclImdb_v1.tar.gz",
    digest="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    size=84_125_825,
)
LABELS = {"neg": 0, "pos": 1}
# aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt; the unsup/ reviews have no label
REVIEW = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
LAYOUTS = (
    "an extracted aclImdb folder (aclImdb/{train,test}/{pos,neg}/*.txt), aclImdb_v1.tar.gz, "
    "or a folder of Hugging Face parquet shards (train-*.parquet, test-*.parquet with columns text, label)"
)


class Imdb(DownloadableCorpus):
    class_names = ("negative", "positive")  # labels 0 and 1 (neg/, pos/)
    archive = ARCHIVE
    cache_subdir = "imdb"
    title = "IMDB"
    layouts = LAYOUTS

    def __init__(self, name: str = "imdb", val_rows: int | None = None, **kwargs):
        super().__init__(name, num_classes=2, **kwargs)
        self.val_rows = val_rows

    def split_settings(self) -> dict:
        if self.val_rows is None:
            return super().split_settings()
        return {"val_rows": self.val_rows, "split_seed": self.split_seed}

    def split(self, raw: dict[str, Texts]) -> dict[str, Texts]:
        """With `val_rows`, as Keras' imdb.load_data and the lecture: shuffle the training reviews
        (seeded), then validation = the first `val_rows` of them and training = the rest."""
        if self.val_rows is None:
            return super().split(raw)
        texts, labels = raw["train"]
        if not 0 < self.val_rows < len(texts):
            raise DataError(f"val_rows={self.val_rows} must leave training rows (train has {len(texts)})")
        order = np.random.default_rng(self.split_seed).permutation(len(texts))
        pick = lambda rows: ([texts[i] for i in rows], [labels[i] for i in rows])  # noqa: E731
        return {
            "train": pick(order[self.val_rows :]),
            "val": pick(order[: self.val_rows]),
            "test": raw["test"],
        }

    def locate_folder(self, path: Path) -> list[Path] | None:
        tree = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        return sorted(
            f
            for split in ("train", "test")
            for label in LABELS
            for f in (tree / split / label).glob("*_*.txt")
            if REVIEW.search(f"aclImdb/{split}/{label}/{f.name}")
        )

    def read(self, files: list[Path]) -> dict[str, Texts]:
        if files[0].suffix == ".parquet":
            return {
                split: read_parquet([f for f in files if f.name.startswith(split)])
                for split in ("train", "test")
            }
        if files[0].suffix == ".txt":
            reviews = [
                ("aclImdb/" + "/".join(f.parts[-3:]), f.read_text("utf-8"))
                for f in tqdm(
                    files, "read aclImdb", unit="file", leave=False, dynamic_ncols=True, disable=None
                )
            ]
        else:
            reviews = read_archive(files[0])
        return by_split(reviews, files[0])


def read_archive(path: Path) -> list[tuple[str, str]]:
    """(member name, text) of every labelled review in an aclImdb tarball, read in place."""
    reviews = []
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in tqdm(
                archive, f"read {path.name}", unit="file", leave=False, dynamic_ncols=True, disable=None
            ):
                if member.isfile() and REVIEW.search(member.name):
                    reviews.append((member.name, archive.extractfile(member).read().decode("utf-8")))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise DataError(
            f"{path}: the archive is truncated or damaged ({err}); "
            f"delete it and place a complete copy of {ARCHIVE.describe()}"
        ) from err
    return reviews


def by_split(reviews: list[tuple[str, str]], source: Path) -> dict[str, Texts]:
    """Reviews keyed by their path → train and test (texts, labels), ordered by label then id,
    so the folder and the archive give the same rows in the same order."""
    rows: dict[str, list[tuple[int, int, str]]] = {"train": [], "test": []}
    for name, text in reviews:
        split, label, review_id, _rating = REVIEW.search(name).groups()
        rows[split].append((LABELS[label], int(review_id), text))
    for split, items in rows.items():
        if not items:
            raise DataError(f"{source}: no {split} reviews found; expected {LAYOUTS}")
        items.sort()
    return {split: ([t for _, _, t in items], [y for y, _, _ in items]) for split, items in rows.items()}


LONGEST = 2_739  # tokens in the longest review, train and test (suite.data.tokenize.words; test: 2,588)
TRAIN_REVIEWS = 25_000


def imdb_protocol(max_len: int, truncating: str, val_fraction: float) -> dict[str, str]:
    """The facets a published IMDB result is matched on (suite.data.PROTOCOL_FACETS): at a
    max_len of LONGEST or more no review is cut, so a model reads whole reviews."""
    kept = round(TRAIN_REVIEWS * (1 - val_fraction))
    return {
        "corpus": "IMDB (Maas et al. 2011)",
        "evaluation": "the official 25,000 test reviews",
        "training": f"{kept:,} of the 25,000 training reviews (the rest validates)",
        # training.retrain: the reported model trained again on train + val (suite.report.anchors)
        "retrained": "all 25,000 training reviews",
        "input": "whole reviews"
        if max_len >= LONGEST
        else f"{'last' if truncating == 'pre' else 'first'} {max_len} tokens",
    }


@register_dataset("imdb")
def imdb(
    vocab_size: int = 10_000,
    max_len: int = 256,
    padding: str = "pre",
    truncating: str = "pre",
    start_token: bool = False,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    data_path: DataPath = None,
    cache_dir: CacheDir = None,
    download: bool = True,
) -> Dataset:
    """IMDB reviews, positive vs negative: 25k train (val carved from it) and the 25k test reviews."""
    return Imdb(
        tokenizer=TokenizerSpec(vocab_size, max_len, padding, truncating, start_token),
        val_fraction=val_fraction,
        split_seed=split_seed,
        cache_dir=cache_dir,
        data_path=data_path,
        download=download,
        note=f"test = the official 25,000 test reviews; val = {val_fraction:.0%} of train (seed {split_seed})",
        protocol=imdb_protocol(max_len, truncating, val_fraction),
    )


@register_dataset("imdb_keras")
def imdb_keras(
    vocab_size: int = 10_000,
    max_len: int = 100,
    padding: str = "pre",
    truncating: str = "pre",
    start_token: bool = True,
    val_rows: int = 10_000,
    split_seed: int = 113,
    data_path: DataPath = None,
    cache_dir: CacheDir = None,
    download: bool = True,
) -> Dataset:
    """IMDB as the lecture loads it (Keras imdb.load_data(num_words=10000)): shuffled train, val = its first 10,000."""
    if isinstance(val_rows, bool) or not isinstance(val_rows, int) or val_rows < 1:
        raise ValueError(f"val_rows must be an integer ≥ 1, got {val_rows!r}")
    return Imdb(
        name="imdb_keras",
        val_rows=val_rows,
        tokenizer=TokenizerSpec(vocab_size, max_len, padding, truncating, start_token),
        val_fraction=0.5,  # unused: val_rows decides the split
        split_seed=split_seed,
        cache_dir=cache_dir,
        data_path=data_path,
        download=download,
        note=(
            f"test = the official 25,000 test reviews; val = the first {val_rows:,} training reviews after a "
            f"seeded shuffle (seed {split_seed}), train = the other {25_000 - val_rows:,}; "
            f"vocabulary = the {vocab_size:,} most frequent ids (specials included) of the training rows"
        ),
    )
