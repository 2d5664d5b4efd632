"""MR, the sentence polarity data v1.0 of Pang & Lee (2005), evaluated by k-fold cross-validation.

5,331 positive and 5,331 negative one-line snippets, lower-cased and tokenised by the authors,
Latin-1 encoded. The corpus has no test split: the literature (Kim 2014, Wang & Manning 2012)
reports accuracy under 10-fold cross-validation, so a fold is a dataset parameter here. Fold `k`
of `folds` is the test split; val is carved from the other folds' rows, so a fold's test rows never
choose an epoch or a configuration. The folds are one seeded, label-stratified partition
(`split_seed`), the same for every variant and seed, so results pair by fold as they pair by seed.

The two files are downloaded from the copy that accompanies Kim's CNN_sentence code (the official
archive, rt-polaritydata.tar.gz on the authors' Cornell page, publishes no checksum); each is
verified by its SHA-256. `$ABLATE_DATA/mr` or `data_path` (a folder holding both) is read first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from suite.data import tokenize
from suite.data.download import (
    DATA_ENV,
    CacheDir,
    DataError,
    DataPath,
    DataUnavailable,
    Remote,
    data_root,
    fetch,
)
from suite.data.registry import Dataset, register_dataset
from suite.data.text import TextCorpus, Texts, carve
from suite.data.tokenize import TokenizerSpec

BASE_URL = "https://raw.githubusercontent.com/yoonkim/CNN_sentence/master/"
FILES = {  # label → the published file (sizes and SHA-256 as in ../shared/data/mr/README.md)
    1: Remote(
        url=BASE_URL + "rt-polarity.pos",
        filename="rt-polarity.pos",
        digest="2da124ec187a9d5a29c9f04e91c540e02baed5af8868f550a26bd6fd4dbf8bf0",
        size=626_139,
    ),
    0: Remote(
        url=BASE_URL + "rt-polarity.neg",
        filename="rt-polarity.neg",
        digest="4ace77d558c3714723843f1d65b60c01e3417b208180f0728808d76ad0eeeaca",
        size=612_256,
    ),
}
CACHE_SUBDIR = "mr"
LONGEST = 61  # tokens in v1.0's longest snippet (suite.data.tokenize.words): max_len ≥ this cuts none


def fold_of(labels: list[int], folds: int, seed: int) -> np.ndarray:
    """Each row's fold: a seeded permutation within each label, dealt round-robin, so every fold
    holds (to one row) the same share of each class."""
    labels_arr = np.asarray(labels)
    out = np.empty(len(labels_arr), dtype=np.int64)
    rng = np.random.default_rng(seed)
    start = 0
    for label in np.unique(labels_arr):
        rows = rng.permutation(np.flatnonzero(labels_arr == label))
        out[rows] = (np.arange(len(rows)) + start) % folds
        start += len(rows)  # continue the deal where the last class stopped: folds stay even in size
    return out


class MR(TextCorpus):
    def __init__(
        self, *, fold: int, folds: int, clean_str: bool, data_path: str | None, download: bool, **kwargs
    ):
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
            raise ValueError(f"folds must be an integer ≥ 2, got {folds!r}")
        if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < folds:
            raise ValueError(f"fold must be an integer in 0..{folds - 1} (folds={folds}), got {fold!r}")
        super().__init__("mr", num_classes=2, **kwargs)
        if not isinstance(clean_str, bool):
            raise ValueError(f"clean_str must be true or false, got {clean_str!r}")
        self.fold, self.folds, self.clean_str = fold, folds, clean_str
        self.data_path = data_path
        self.download = download

    def locate(self) -> list[Path]:
        """data_path, else $ABLATE_DATA/mr, else the cache (downloading what is missing)."""
        if self.data_path is not None:
            folder, where = Path(self.data_path).expanduser(), "data_path"
        else:
            folder, where = data_root(CACHE_SUBDIR), f"${DATA_ENV}/{CACHE_SUBDIR}"
        if folder is None:
            return [fetch(FILES[y], self.cache / CACHE_SUBDIR, download=self.download) for y in (1, 0)]
        missing = [r.filename for r in FILES.values() if not (folder / r.filename).is_file()]
        if missing:
            raise DataUnavailable(
                f"{where} {folder} has no {' or '.join(missing)}; point it at a folder holding "
                f"rt-polarity.pos and rt-polarity.neg (Pang & Lee's sentence polarity data v1.0)"
            )
        return [folder / FILES[y].filename for y in (1, 0)]

    def read(self, files: list[Path]) -> dict[str, Texts]:
        texts: list[str] = []
        labels: list[int] = []
        for path, label in zip(files, (1, 0), strict=True):
            try:
                # split on newlines only: str.splitlines would also break at Latin-1's 0x85 (NEL)
                lines = path.read_bytes().decode("latin-1").split("\n")
            except OSError as err:
                raise DataError(f"{path}: not readable ({err})") from err
            lines = [line.strip() for line in lines if line.strip()]
            if not lines:
                raise DataError(f"{path}: no snippets (expected one snippet a line, Latin-1)")
            texts += lines
            labels += [label] * len(lines)
        return {"all": (texts, labels)}

    def words(self, text: str) -> list[str]:
        """clean_str: Kim's (2014) rules (suite.data.tokenize.clean_str), else the suite's."""
        return tokenize.clean_str(text) if self.clean_str else super().words(text)

    def split_settings(self) -> dict:
        settings = {**super().split_settings(), "fold": self.fold, "folds": self.folds}
        return settings | {"clean_str": True} if self.clean_str else settings  # today's caches stay valid

    def split(self, raw: dict[str, Texts]) -> dict[str, Texts]:
        """test = fold `fold`; val carved (seeded) from the other folds; the rest is train."""
        texts, labels = raw["all"]
        where = fold_of(labels, self.folds, self.split_seed)

        def pick(mask: np.ndarray) -> Texts:
            rows = np.flatnonzero(mask)
            return [texts[i] for i in rows], [labels[i] for i in rows]

        train, val = carve(pick(where != self.fold), self.val_fraction, self.split_seed + 1)
        return {"train": train, "val": val, "test": pick(where == self.fold)}


@register_dataset("mr")
def mr(
    fold: int = 0,
    folds: int = 10,
    vocab_size: int = 20_000,
    max_len: int = 64,
    padding: str = "post",
    truncating: str = "post",
    start_token: bool = False,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    clean_str: bool = False,
    download: bool = True,
    data_path: DataPath = None,
    cache_dir: CacheDir = None,
) -> Dataset:
    """MR sentence polarity (Pang & Lee 2005), fold `fold` of a `folds`-fold cross-validation;
    `clean_str`: split words by Kim's (2014) rules, as his CNN results were (suite.data.tokenize)."""
    return MR(
        fold=fold,
        folds=folds,
        clean_str=clean_str,
        tokenizer=TokenizerSpec(vocab_size, max_len, padding, truncating, start_token),
        val_fraction=val_fraction,
        split_seed=split_seed,
        cache_dir=cache_dir,
        data_path=data_path,
        download=download,
        protocol={  # the evaluation facet is the study's: every fold, or some (suite.report.anchors)
            "corpus": "MR v1.0",
            "evaluation": f"{folds}-fold CV",
            "training": f"the other {folds - 1} folds less a {val_fraction:.0%} validation carve",
            "retrained": f"the other {folds - 1} folds",
            "input": "whole snippets"
            if max_len >= LONGEST
            else f"{'first' if truncating == 'post' else 'last'} {max_len} tokens",
        },
        note=(
            f"MR (Pang & Lee 2005 sentence polarity), {folds}-fold cross-validation: each fold the test "
            f"split once (stratified, seed {split_seed}); val {val_fraction:.0%} of the other folds"
        ),
    )
