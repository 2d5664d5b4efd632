import hashlib
import urllib.error
import urllib.request

import pytest
import torch

from suite.data import tinyshakespeare as ts
from suite.data.download import DataError, DataUnavailable, Remote

URLOPEN = urllib.request.urlopen  # the real opener, kept before the fixture takes the network away

# The corpus' format: plays' lines, speaker names in capitals followed by a colon, blank lines between.
TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n"
) * 3


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """Each test has its own cache and no $ABLATE_DATA; the network is out of reach."""
    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ABLATE_DATA", raising=False)

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def published_as(monkeypatch, path):
    """Make `path` the published file: its md5 and size, and its characters as the vocabulary."""
    data = path.read_bytes()
    remote = Remote(
        url=path.as_uri(),
        filename="input.txt",
        digest=hashlib.md5(data).hexdigest(),
        algorithm="md5",
        size=len(data),
    )
    monkeypatch.setattr(ts, "REMOTE", remote)
    monkeypatch.setattr(ts, "PUBLISHED_CHARS", "".join(sorted(set(data.decode()))))


def test_vocabulary_is_the_sorted_characters_and_ids_round_trip(corpus):
    data = ts.tinyshakespeare(block_size=8, data_path=str(corpus))
    assert data.chars == "".join(sorted(set(TEXT)))
    assert data.vocab_size == data.num_classes == len(set(TEXT))
    assert data.task == "lm" and data.streaming and data.splits == ("train", "val")
    whole = torch.cat([data.ids["train"], data.ids["val"]])
    assert data.decode(whole) == TEXT
    assert data.encode("Speak").tolist() == [data.chars.index(c) for c in "Speak"]
    with pytest.raises(ValueError, match="not in the tinyshakespeare vocabulary"):
        data.encode("Zebra")


def test_split_is_ninety_ten_by_position_as_nanogpt(corpus):
    data = ts.tinyshakespeare(block_size=8, data_path=str(corpus))
    n = len(TEXT)
    assert len(data.ids["train"]) == int(n * 0.9) and len(data.ids["val"]) == n - int(n * 0.9)
    assert data.decode(data.ids["val"]) == TEXT[int(n * 0.9) :]  # the end of the text, not a shuffle


def test_eval_windows_tile_the_split_and_targets_are_shifted(corpus):
    data = ts.tinyshakespeare(block_size=8, data_path=str(corpus))
    x, y = data.load()["val"]
    val = data.ids["val"]
    assert x.shape == y.shape == ((len(val) - 1) // 8, 8) and x.dtype == torch.long
    assert torch.equal(x.flatten(), val[: x.numel()])  # non-overlapping, in order
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y.flatten(), val[1 : x.numel() + 1])
    again = data.load()["val"]
    assert torch.equal(again[0], x)  # the same windows every call
    xs, _ = data.windows("val", 16)
    assert xs.shape[1] == 16
    few, _ = data.windows("train", 8, limit=3)
    assert few.shape == (3, 8) and torch.equal(few[0], data.ids["train"][:8])


def test_training_batches_are_random_windows_reproducible_per_seed_and_step(corpus):
    data = ts.tinyshakespeare(block_size=8, data_path=str(corpus))
    x, y = data.batch(step=0, batch_size=5, seed=1)
    assert x.shape == y.shape == (5, 8)
    assert torch.equal(y[:, :-1], x[:, 1:])
    train = data.decode(data.ids["train"])
    for row_x, row_y in zip(x, y, strict=True):  # each window is a stretch of the training text
        assert data.decode(row_x) + data.decode(row_y[-1:]) in train
    assert torch.equal(data.batch(0, 5, seed=1)[0], x)
    assert not torch.equal(data.batch(1, 5, seed=1)[0], x)
    assert not torch.equal(data.batch(0, 5, seed=2)[0], x)


def test_local_copy_is_found_through_ablate_data_and_checked(tmp_path, corpus, monkeypatch):
    root = tmp_path / "shared"
    (root / "tinyshakespeare").mkdir(parents=True)
    (root / "tinyshakespeare" / "input.txt").write_bytes(corpus.read_bytes())
    monkeypatch.setenv("ABLATE_DATA", str(root))
    published_as(monkeypatch, corpus)
    data = ts.tinyshakespeare(block_size=8)
    assert data.unavailable() is None
    assert data.decode(data.ids["train"]) == TEXT[: int(len(TEXT) * 0.9)]


def test_a_copy_with_the_wrong_checksum_is_refused(tmp_path, corpus, monkeypatch):
    root = tmp_path / "shared"
    (root / "tinyshakespeare").mkdir(parents=True)
    (root / "tinyshakespeare" / "input.txt").write_text(TEXT.replace("speak", "spake"))
    monkeypatch.setenv("ABLATE_DATA", str(root))
    published_as(monkeypatch, corpus)
    data = ts.tinyshakespeare(block_size=8)
    assert "md5 checksum mismatch" in data.unavailable()
    with pytest.raises(DataError, match="md5 checksum mismatch"):
        data.load()


def test_the_published_checksum_is_the_real_one():
    assert ts.REMOTE.algorithm == "md5" and ts.REMOTE.digest == "6fb458f1232090904fb40fe944165e91"
    assert ts.REMOTE.url.endswith("karpathy/char-rnn/master/data/tinyshakespeare/input.txt")
    assert len(ts.PUBLISHED_CHARS) == 65 and ts.PUBLISHED_CHARS == "".join(sorted(set(ts.PUBLISHED_CHARS)))


def test_download_into_the_cache_then_reuse(tmp_path, corpus, monkeypatch):
    published_as(monkeypatch, corpus)
    monkeypatch.setattr(urllib.request, "urlopen", URLOPEN)  # a file:// URL: the download code, no network
    data = ts.tinyshakespeare(block_size=8, cache_dir=str(tmp_path / "c"))
    assert data.locate() == tmp_path / "c" / "tinyshakespeare" / "input.txt"
    assert data.decode(data.ids["val"]) == TEXT[int(len(TEXT) * 0.9) :]


def test_absent_and_not_downloadable_says_where_to_place_it():
    data = ts.tinyshakespeare(download=False)
    message = data.unavailable()
    assert "input.txt" in message and "6fb458f1232090904fb40fe944165e91" in message
    with pytest.raises(DataUnavailable):
        data.load()


def test_bad_parameters_are_refused_in_one_line():
    with pytest.raises(ValueError, match="block_size must be an integer ≥ 1, got 0"):
        ts.tinyshakespeare(block_size=0)
    with pytest.raises(ValueError, match="train_fraction"):
        ts.tinyshakespeare(train_fraction=1.0)
