"""GloVe vectors in their real text format (and inside the real zip's layout), made by the tests."""

import urllib.error
import urllib.request
import zipfile

import pytest
import torch

from suite import models
from suite.data import glove
from suite.data.download import DataError

LINES = [
    "the 0.418 0.24968 -0.41242",
    "film -0.1 0.2 0.3",
    ", 0.013441 0.23682 -0.16899",
    "great 1.5 -2.0 0.25",
]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path / "cache"))

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(glove, "NAME", __import__("re").compile(r"^glove\.6B\.(3|50|100|200|300)d$"))


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "glove.6B.3d.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def test_vectors_land_in_vocabulary_order_with_zeros_for_missing_words(text_file):
    vocabulary = ["<pad>", "<unk>", "great", "the", "unseenword"]
    vectors, missing = glove.read_vectors(text_file, "glove.6B.3d", vocabulary)
    assert vectors.shape == (5, 3)
    assert torch.allclose(vectors[2], torch.tensor([1.5, -2.0, 0.25]))
    assert torch.allclose(vectors[3], torch.tensor([0.418, 0.24968, -0.41242]))
    assert torch.equal(vectors[4], torch.zeros(3)) and missing == 3  # <pad>, <unk>, unseenword


def test_the_zip_is_read_in_place_from_the_data_folder(text_file, tmp_path, monkeypatch):
    folder = tmp_path / "data" / "glove"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "glove.6B.zip", "w") as archive:
        archive.write(text_file, "glove.6B.3d.txt")
    monkeypatch.setenv("ABLATE_DATA", str(tmp_path / "data"))
    assert glove.unavailable("glove.6B.3d") is None
    embedding = torch.nn.Embedding(3, 3)
    assert glove.load_into(embedding, "glove.6B.3d", ["film", "great", "nothing"]) == 1
    assert torch.allclose(embedding.weight[0], torch.tensor([-0.1, 0.2, 0.3]))


def test_absent_vectors_name_the_file_and_checksum(tmp_path):
    reason = glove.unavailable("glove.6B.300d")
    assert "glove.6B.zip" in reason and "056ea991adb4740ac6bf1b6d9b50408b" in reason
    assert str(tmp_path / "cache" / "glove") in reason and "no network in tests" in reason


def test_a_short_line_is_a_clear_error(tmp_path):
    path = tmp_path / "glove.6B.3d.txt"
    path.write_text("the 0.1 0.2\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1 \\('the'\\) has 2 values"):
        glove.read_vectors(path, "glove.6B.3d", ["the"])


def test_runner_loads_frozen_vectors_or_skips_with_the_reason(text_file, tmp_path, monkeypatch, write_study):
    from suite.study import load_study
    from suite.train_run import run_trial

    study = load_study(
        write_study(
            variants=[{"name": "glove_frozen", "dim": 3, "pretrained": "glove.6B.3d"}],
            datasets=["reversal"],
            seeds=1,
            model={},
            training={"epochs": 3},
        )
    )
    (trial,) = study.trials()
    skipped = run_trial(trial).row
    assert skipped["status"] == "skipped" and "glove.6B.zip" in skipped["error"]
    (tmp_path / "data" / "glove").mkdir(parents=True)
    text_file.rename(tmp_path / "data" / "glove" / "glove.6B.3d.txt")
    monkeypatch.setenv("ABLATE_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(
        "suite.data.toy.ToyDataset.vocabulary", lambda self: ["the", "film", ",", "great", "x"], raising=False
    )
    row = run_trial(trial).row
    assert row["status"] == "ok", row["error"]
    trainable = row["params"] - 5 * 3
    assert trainable == 3 + 1  # only the linear head learns


def test_frozen_vectors_are_pinned_by_the_model_config():
    with pytest.raises(models.ConfigError, match="bag of words"):
        models.create("bow_mlp", vocab_size=9, seq_len=4, freeze_embedding=True)
