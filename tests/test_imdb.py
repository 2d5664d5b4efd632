import tarfile
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
import torch

from suite import data
from suite.data.download import DataError, DataUnavailable
from suite.study import load_study
from suite.train_run import run_trial

REVIEWS = {
    ("train", "pos"): ["A great film.<br /><br />Loved it!", "Wonderful, great acting.", "great great fun"],
    ("train", "neg"): ["A dull film.<br />Awful.", "Boring, awful plot.", "dull and boring"],
    ("test", "pos"): ["Great fun, unseenword!", "Loved the acting."],
    ("test", "neg"): ["Awful and dull.", "Boring film."],
}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Keep every test's cache in its own folder, and the network out of reach."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("ABLATE_CACHE", str(directory))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return directory


@pytest.fixture
def tree(tmp_path):
    """A tiny aclImdb folder in the real layout, with the parts a loader must ignore."""
    root = tmp_path / "aclImdb"
    for (split, label), texts in REVIEWS.items():
        folder = root / split / label
        folder.mkdir(parents=True)
        for i, text in enumerate(texts):
            (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(text)
    (root / "train" / "unsup").mkdir()
    (root / "train" / "unsup" / "0_0.txt").write_text("unlabelled review")
    (root / "imdb.vocab").write_text("the\n")
    (root / "train" / "urls_pos.txt").write_text("http://\n")
    return root


@pytest.fixture
def archive(tree, tmp_path):
    path = tmp_path / "downloads" / "aclImdb_v1.tar.gz"
    path.parent.mkdir()
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tree, arcname="aclImdb")
    return path


def tokens_in(cache):
    folder = cache / "tokens"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_folder_and_archive_give_the_same_rows(tree, archive, cache):
    small = {"vocab_size": 30, "max_len": 6, "val_fraction": 0.34}
    from_tree = data.create("imdb", data_path=str(tree.parent), **small)  # the folder holding aclImdb/
    assert from_tree.unavailable() is None
    a = from_tree.load()
    b = data.create("imdb", data_path=str(archive), **small).load()
    assert list(a) == ["train", "val", "test"]
    for split in a:
        assert torch.equal(a[split][0], b[split][0]) and torch.equal(a[split][1], b[split][1])
    assert [len(a[s][1]) for s in a] == [4, 2, 4]
    assert sorted(a["train"][1].tolist() + a["val"][1].tolist()) == [0, 0, 0, 1, 1, 1]
    assert a["test"][1].tolist() == [0, 0, 1, 1]  # ordered by label, then review id
    assert a["test"][0].dtype == torch.int64 and a["test"][0].shape == (4, 6)
    vocab = from_tree.vocabulary()
    assert "<br" not in vocab and "br" not in vocab and "unlabelled" not in vocab
    assert "unseenword" not in vocab  # the vocabulary comes from training text only
    assert len(tokens_in(cache)) == 2  # content-keyed: a folder and an archive are two sources


def test_hugging_face_parquet_layout(tmp_path):
    folder = tmp_path / "imdb" / "plain_text"
    folder.mkdir(parents=True)
    for split in ("train", "test", "unsupervised"):
        rows = [(t, int(label == "pos")) for (s, label), ts in REVIEWS.items() if s == split for t in ts]
        rows = rows or [("no label", -1)]
        frame = pd.DataFrame(rows, columns=["text", "label"])
        frame.to_parquet(folder / f"{split}-00000-of-00001.parquet")
    splits = data.create("imdb", data_path=str(tmp_path / "imdb"), vocab_size=30, max_len=6).load()
    assert sorted(splits["test"][1].tolist()) == [0, 0, 1, 1]
    assert len(splits["train"][1]) + len(splits["val"][1]) == 6


def test_cache_is_keyed_by_content_and_settings_and_survives_a_bad_file(tree, cache):
    def load(**kw):
        return data.create("imdb", data_path=str(tree), **({"vocab_size": 30, "max_len": 6} | kw)).load()

    first = load()
    (cache_file,) = (cache / "tokens").iterdir()
    with np.load(cache_file, allow_pickle=False) as npz:  # plain arrays: loads without pickle
        assert set(npz.files) == {"vocabulary", *(f"{s}_{a}" for s in ("train", "val", "test") for a in "xy")}
    cache_file.write_bytes(b"not an npz")  # an unreadable cache file is replaced, never trusted
    again = load()
    assert torch.equal(again["test"][0], first["test"][0]) and torch.equal(again["val"][1], first["val"][1])
    assert np.load(cache_file, allow_pickle=False)["test_x"].shape == (4, 6)
    load(max_len=8)
    load(padding="post")
    assert len(tokens_in(cache)) == 3
    (tree / "test" / "pos" / "0_8.txt").write_text("A changed review.")
    changed = load()
    assert len(tokens_in(cache)) == 4
    assert not torch.equal(changed["test"][0], first["test"][0])


def test_truncated_archive_is_a_clear_error_and_caches_nothing(archive, tmp_path, cache):
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    dataset = data.create("imdb", data_path=str(cut), vocab_size=30, max_len=6)
    with pytest.raises(DataError, match=f"{cut}: the archive is truncated or damaged"):
        dataset.load()
    assert tokens_in(cache) == []


def test_missing_data_is_a_reason_naming_what_to_place_where(tmp_path, cache):
    missing = data.create("imdb", data_path=str(tmp_path / "nowhere"))
    assert "does not exist" in missing.unavailable() and "aclImdb" in missing.unavailable()
    with pytest.raises(DataUnavailable):
        missing.load()
    official = data.create("imdb")
    reason = official.unavailable()
    assert reason.startswith(f"place aclImdb_v1.tar.gz in {cache / 'imdb'}")
    assert "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe" in reason
    assert "no network in tests" in reason
    (cache / "imdb" / "aclImdb_v1.tar.gz").write_bytes(b"not the archive")
    assert "bytes where aclImdb_v1.tar.gz has 84,125,825" in official.unavailable()
    assert tokens_in(cache) == []


def test_runner_trains_on_imdb_files_and_skips_without_them(tree, tmp_path, write_study):
    study = load_study(
        write_study(
            variants=["bow_mlp", "lstm"],
            datasets=[
                {"name": "imdb", "data_path": str(tree), "vocab_size": 30, "max_len": 6},
                {"name": "imdb", "data_path": str(tmp_path / "absent")},
            ],
            seeds=1,
            model={"dim": 4},
            training={"epochs": 2, "batch_size": 2, "eval_batch_size": 3},
        )
    )
    rows = [run_trial(t).row for t in study.trials()]
    assert [r["status"] for r in rows] == ["ok", "ok", "skipped", "skipped"], [r["error"] for r in rows]
    assert rows[0]["eval_split"] == "test" and 0 <= rows[0]["final_accuracy"] <= 1
    assert "absent does not exist" in rows[2]["error"]


def test_ablate_data_folder_comes_before_the_cache_and_download(tree, tmp_path, monkeypatch, cache):
    root = tmp_path / "shared"
    (root / "imdb").mkdir(parents=True)
    tree.rename(root / "imdb" / "aclImdb")
    assert "place aclImdb_v1.tar.gz" in data.create("imdb").unavailable()  # no $ABLATE_DATA: cache, download
    monkeypatch.setenv("ABLATE_DATA", str(root))
    found = data.create("imdb", vocab_size=30, max_len=6)
    assert found.unavailable() is None
    assert sum(len(y) for _, y in found.load().values()) == 10
    monkeypatch.setenv("ABLATE_DATA", str(tmp_path / "empty"))  # no imdb/ there: the cache again
    assert "place aclImdb_v1.tar.gz" in data.create("imdb").unavailable()
    (tmp_path / "broken" / "imdb").mkdir(parents=True)
    monkeypatch.setenv("ABLATE_DATA", str(tmp_path / "broken"))
    assert "$ABLATE_DATA/imdb" in data.create("imdb").unavailable()


def test_imdb_keras_validation_is_the_first_rows_of_a_seeded_shuffle(tree):
    small = {"data_path": str(tree), "vocab_size": 30, "max_len": 8, "val_rows": 2}
    a = data.create("imdb_keras", **small).load()
    assert [len(a[s][1]) for s in ("train", "val", "test")] == [4, 2, 4]
    again = data.create("imdb_keras", **small).load()
    assert torch.equal(a["val"][0], again["val"][0])
    assert (a["train"][0][:, -8:] != 0).any() and (a["train"][0] == 2).any()  # START before every row
    other = data.create("imdb_keras", **{**small, "split_seed": 1}).load()
    assert not torch.equal(a["val"][0], other["val"][0]) or not torch.equal(a["train"][0], other["train"][0])
    with pytest.raises(ValueError, match="val_rows"):
        data.create("imdb_keras", val_rows=0)
    with pytest.raises(DataError, match="val_rows=6 must leave training rows"):
        data.create("imdb_keras", **{**small, "val_rows": 6}).load()
