import io
import tarfile
import urllib.error
import urllib.request

import pandas as pd
import pytest
import torch

from suite import data
from suite.data.download import DataError
from suite.data.yelp import read_csv

# Zhang et al.'s format: no header, every field quoted, "" for a quote, a literal \n for a line
# break; some files also hold a real line break inside a quoted field.
TRAIN_CSV = (
    '"5","Best tacos in town, ""hands down"".\\nWill be back!"\n'
    '"1","Cold food.\\n\\nRude staff, never again."\n'
    '"3","It was okay.\nNothing special, I guess."\n'
    '"4","Great service, good tacos."\n'
    '"2","Slow, cold and ""meh""."\n'
    '"5","Amazing! Best, best place."\n'
)
TEST_CSV = '"4","Good tacos, friendly staff."\n"1","Awful, cold, rude."\n'


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("ABLATE_CACHE", str(directory))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return directory


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "yelp_review_full_csv"
    root.mkdir()
    (root / "train.csv").write_text(TRAIN_CSV, encoding="utf-8")
    (root / "test.csv").write_text(TEST_CSV, encoding="utf-8")
    (root / "readme.txt").write_text("Yelp Review Full Dataset\n")
    return root


@pytest.fixture
def archive(folder, tmp_path):
    path = tmp_path / "downloads" / "yelp_review_full_csv.tgz"
    path.parent.mkdir()
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="yelp_review_full_csv")
    return path


def test_csv_quotes_escapes_and_line_breaks():
    texts, labels = read_csv(io.StringIO(TRAIN_CSV, newline=""), "train.csv")
    assert labels == [4, 0, 2, 3, 1, 4]
    assert texts[0] == 'Best tacos in town, "hands down".\nWill be back!'
    assert texts[1] == "Cold food.\n\nRude staff, never again."
    assert texts[2] == "It was okay.\nNothing special, I guess."


@pytest.mark.parametrize(
    "line, message",
    [
        ('"6","Six stars?"\n', 'line 1: expected "stars 1-5"'),
        ('"5"\n', 'line 1: expected "stars 1-5"'),
        ('"5","unterminated\n', "line 1: not valid CSV"),
    ],
)
def test_bad_csv_names_file_and_line(line, message):
    with pytest.raises(DataError, match=f"train.csv: {message}"):
        read_csv(io.StringIO(line, newline=""), "train.csv")


def test_folder_archive_and_parquet_layouts(folder, archive, tmp_path, cache):
    small = {"vocab_size": 40, "max_len": 8, "val_fraction": 0.2}
    a = data.create("yelp_full", data_path=str(folder.parent), **small).load()
    b = data.create("yelp_full", data_path=str(archive), **small).load()
    for split in ("train", "val", "test"):
        assert torch.equal(a[split][0], b[split][0]) and torch.equal(a[split][1], b[split][1])
    assert a["test"][1].tolist() == [3, 0]
    assert [len(a[s][1]) for s in a] == [5, 1, 2]
    shards = tmp_path / "hf" / "yelp_review_full"
    shards.mkdir(parents=True)
    for split, text in (("train", TRAIN_CSV), ("test", TEST_CSV)):
        texts, labels = read_csv(io.StringIO(text, newline=""), split)
        pd.DataFrame({"label": labels, "text": texts}).to_parquet(shards / f"{split}-00000-of-00001.parquet")
    c = data.create("yelp_full", data_path=str(tmp_path / "hf"), **small).load()
    for split in ("train", "val", "test"):
        assert torch.equal(a[split][0], c[split][0]) and torch.equal(a[split][1], c[split][1])
    dataset = data.create("yelp_full", data_path=str(folder), **small)
    assert (dataset.num_classes, dataset.pad_id) == (5, 0)


def test_train_rows_takes_a_seeded_sample(folder):
    def load(seed):
        return data.create(
            "yelp_full",
            data_path=str(folder),
            vocab_size=40,
            max_len=8,
            train_rows=4,
            val_fraction=0.25,
            split_seed=seed,
        ).load()

    a = load(0)
    assert len(a["train"][1]) + len(a["val"][1]) == 4 and len(a["test"][1]) == 2
    assert torch.equal(load(0)["train"][0], a["train"][0])
    with pytest.raises(ValueError, match="train_rows must be an integer ≥ 2 or null"):
        data.create("yelp_full", train_rows=0)


def test_truncated_archive_and_missing_file(archive, folder, tmp_path, cache):
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(DataError, match=f"{cut}: the archive is truncated or damaged"):
        data.create("yelp_full", data_path=str(cut)).load()
    assert not (cache / "tokens").exists() or not any((cache / "tokens").iterdir())
    (folder / "test.csv").unlink()
    reason = data.create("yelp_full", data_path=str(folder)).unavailable()
    assert "holds none of the Yelp layouts" in reason and "train.csv and test.csv" in reason
    reason = data.create("yelp_full").unavailable()
    assert reason.startswith(f"place yelp_review_full_csv.tgz in {cache / 'yelp_review_full'}")
    assert "md5 a4acce1892d0f927165488f62860cabe" in reason


def test_neuromatch_rows_are_the_first_of_each_split(folder, cache):
    yelp = data.create(
        "yelp_neuromatch",
        data_path=str(folder),
        vocab_size=40,
        max_len=30,
        train_rows=3,
        val_rows=2,
        test_rows=1,
    )
    splits = yelp.load()
    assert splits["train"][1].tolist() == [4, 0, 2]  # stars 5, 1, 3: file order, not a sample
    assert splits["val"][1].tolist() == [3, 1]
    assert splits["test"][1].tolist() == [3]
    assert (splits["train"][0][:, -1] == 0).any()  # padded at the end, as BERT's tokenizer pads
    too_many = data.create("yelp_neuromatch", data_path=str(folder), train_rows=6, val_rows=1)
    with pytest.raises(DataError, match="needs 7 training"):
        too_many.load()
    absent = data.create("yelp_neuromatch").unavailable()
    assert "yelp_review_full_csv.tgz" in absent and str(cache / "yelp_review_full") in absent
