"""MR: tiny files in the real format (one Latin-1 snippet a line), folds, download code."""

import numpy as np
import pytest
import torch

from suite import data
from suite.data import mr
from suite.data.download import DataError, Remote


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("ABLATE_CACHE", str(directory))
    monkeypatch.delenv("ABLATE_DATA", raising=False)
    return directory


def word(i):
    return "z" + "abcdefghijklmnopqrstuvwxy"[i % 25] + "abcdefghijklmnopqrstuvwxy"[i // 25]


def write_corpus(folder, n=20):
    folder.mkdir(parents=True, exist_ok=True)
    # Latin-1, as published: 'é' is one byte 0xe9, which is not valid UTF-8.
    pos = [f"a charming , witty caf\xe9 film {word(i)} ." for i in range(n)]
    pos[0] += " \x85 well"  # a byte Latin-1 reads as NEL, which str.splitlines takes for a line break
    neg = [f"a dull , tedious mess {word(i + n)} ." for i in range(n)]
    (folder / "rt-polarity.pos").write_bytes("\n".join(pos).encode("latin-1") + b"\n")
    (folder / "rt-polarity.neg").write_bytes("\n".join(neg).encode("latin-1") + b"\n")
    return folder


def test_each_fold_is_a_test_split_once_and_the_folds_partition_the_corpus(tmp_path):
    folder = write_corpus(tmp_path / "mr")
    tests = []
    for fold in range(5):
        dataset = data.create("mr", data_path=str(folder), fold=fold, folds=5, vocab_size=200, max_len=12)
        assert dataset.unavailable() is None and dataset.splits == ("train", "val", "test")
        splits = dataset.load()
        sizes = [len(splits[s][1]) for s in dataset.splits]
        assert sum(sizes) == 40 and sizes[2] == 8
        assert splits["test"][1].sum().item() == 4  # stratified: half of each fold is positive
        texts = dataset.split(dataset.read(dataset.locate()))
        tests.append(set(texts["test"][0]))
        assert not tests[-1] & {*texts["train"][0], *texts["val"][0]}  # test rows never train or choose
    assert len(set().union(*tests)) == 40
    assert "café" in data.create("mr", data_path=str(folder), vocab_size=50).vocabulary()


def test_folds_are_stratified_even_and_seeded():
    labels = [1] * 33 + [0] * 30
    folds = mr.fold_of(labels, 10, seed=0)
    assert sorted(np.bincount(folds)) == [6, 6, 6, 6, 6, 6, 6, 7, 7, 7]
    for label in (0, 1):
        counts = np.bincount(folds[np.asarray(labels) == label], minlength=10)
        assert counts.max() - counts.min() <= 1
    assert np.array_equal(folds, mr.fold_of(labels, 10, seed=0))
    assert not np.array_equal(folds, mr.fold_of(labels, 10, seed=1))


def test_bad_settings_and_missing_files_are_one_clear_line(tmp_path):
    with pytest.raises(ValueError, match=r"fold must be an integer in 0..9 \(folds=10\), got 10"):
        data.create("mr", fold=10)
    with pytest.raises(ValueError, match="folds must be an integer ≥ 2"):
        data.create("mr", folds=1)
    empty = tmp_path / "empty"
    empty.mkdir()
    why = data.create("mr", data_path=str(empty)).unavailable()
    assert "has no rt-polarity.pos or rt-polarity.neg" in why
    blank = write_corpus(tmp_path / "blank")
    (blank / "rt-polarity.neg").write_bytes(b"\n\n")
    with pytest.raises(DataError, match="rt-polarity.neg: no snippets"):
        data.create("mr", data_path=str(blank), vocab_size=50).load()


def test_the_download_is_verified_and_a_damaged_copy_is_refused(tmp_path, cache, monkeypatch):
    source = write_corpus(tmp_path / "published")
    fake = {
        label: Remote(
            url=(source / remote.filename).as_uri(),
            filename=remote.filename,
            digest=__import__("hashlib").sha256((source / remote.filename).read_bytes()).hexdigest(),
        )
        for label, remote in mr.FILES.items()
    }
    monkeypatch.setattr(mr, "FILES", fake)
    splits = data.create("mr", vocab_size=50, max_len=12).load()
    assert sum(len(y) for _, y in splits.values()) == 40
    assert (cache / "mr" / "rt-polarity.pos").is_file()
    (cache / "mr" / "rt-polarity.pos").write_bytes(b"tampered\n")
    with pytest.raises(DataError, match="checksum mismatch"):
        data.create("mr", vocab_size=50).load()
    nothing = data.create("mr", download=False, cache_dir=str(tmp_path / "other")).unavailable()
    assert "not downloading" in nothing and "rt-polarity.pos" in nothing


def test_the_published_files_are_described_with_their_checksums():
    assert {r.filename for r in mr.FILES.values()} == {"rt-polarity.pos", "rt-polarity.neg"}
    assert all(r.algorithm == "sha256" and len(r.digest) == 64 for r in mr.FILES.values())
    assert torch.tensor(0).item() == 0  # torch imported lazily by load(); nothing else here needs it
