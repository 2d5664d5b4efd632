"""Checkpoints (measure.checkpoint) and their use: `ablate predict` on a tiny text study, `ablate
sample` on a tiny character decoder built through the registry, and the one-line refusals."""

from __future__ import annotations

import bz2
import csv

import pytest
import torch
from conftest import ablate, one_line

from suite import checkpoints, data, models, use
from suite.data.tinyshakespeare import TinyShakespeare
from suite.kinds import load_study
from suite.models import parse
from suite.models.config import register_encoder
from suite.models.decoder import DecoderLM
from suite.models.generate import generate
from suite.store import Store


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path / "cache"))


def write_reviews(path):
    """A tiny corpus in rotten_tomatoes' format: fresh snippets say 'delight', rotten ones 'mess'."""
    with bz2.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("category", "text", "movie_name", "has_plot_and_reviews"))
        for i in range(30):
            writer.writerow(("fresh", f"a witty delight, number {i}", f"m{i}", "False"))
            writer.writerow(("rotten", f"a tedious mess, number {i}", f"m{i}", "False"))
    return path


def text_study(write_study, tmp_path, **spec):
    corpus = write_reviews(tmp_path / "rt.csv.bz2")
    base = {
        "variants": ["embedding_mean"],
        "datasets": [{"name": "rotten_tomatoes", "data_path": str(corpus), "vocab_size": 50, "max_len": 6}],
        "seeds": 2,
        "model": {"dim": 4},
        "training": {"optimizer": "adam", "lr": 0.05, "epochs": 15, "history_every": 5},
        "measure": {"repeats": 1, "warmup": 0, "memory": False, "checkpoint": True},
    }
    return write_study(**{**base, **spec})


def test_the_knob_keeps_every_trial_key(write_study):
    plain = load_study(write_study("a", variants=["mean"], seeds=2)).trials()
    kept = load_study(
        write_study("b", variants=["mean"], seeds=2, measure={"repeats": 2, "warmup": 1, "checkpoint": True})
    ).trials()
    assert [t.key for t in plain] == [t.key for t in kept]
    assert [t.checkpoint for t in kept] == [True, True] and not plain[0].checkpoint


def test_stacked_and_single_seed_runs_keep_the_selected_weights_and_predict_reads_them(
    write_study, tmp_path, capsys
):
    path = text_study(write_study, tmp_path)
    for folder, extra in (("stacked", ()), ("alone", ("--no-vectorize",))):
        code, _, err = ablate(capsys, "run", path, "--results", tmp_path / folder, "--no-progress", *extra)
        assert code == 0, err
    stacked, alone = Store(tmp_path / "stacked" / "tiny"), Store(tmp_path / "alone" / "tiny")
    runs = stacked.runs().sort_values("seed")
    assert list(runs["train_group_size"]) == [2, 2]  # the seeds trained as one stacked model
    assert set(alone.runs()["train_group_size"]) == {1}
    for key in runs["key"]:
        a, meta = checkpoints.read(stacked.checkpoint_path(key))
        b, _ = checkpoints.read(alone.checkpoint_path(key))
        assert meta["key"] == key and meta["variant"] == "embedding_mean"
        assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    # the kept weights are the selected ones: they reproduce the stored test predictions
    preds = stacked.predictions()
    for key in runs["key"]:
        model, meta, dataset = use.load(stacked.checkpoint_path(key))
        x, _ = dataset.load()["test"]
        with torch.no_grad():
            got = (model(x) > 0).long().tolist()
        assert got == preds[preds["key"] == key].sort_values("index")["pred"].tolist()

    code, out, err = ablate(
        capsys,
        "predict",
        "tiny",
        "embedding_mean",
        "A witty delight!",
        "What a tedious mess.",
        "--seed",
        "1",
        "--results",
        tmp_path / "stacked",
    )
    assert code == 0, err
    lines = [line.split("\t") for line in out.strip().splitlines()]
    assert [line[0] for line in lines] == ["fresh", "rotten"]
    assert all(0.5 <= float(line[1]) <= 1 for line in lines)
    assert lines[0][2] == "A witty delight!"


def test_a_resumed_run_writes_missing_and_damaged_checkpoints_again(write_study, tmp_path, capsys):
    path = text_study(write_study, tmp_path, seeds=3)
    results = tmp_path / "r"
    assert ablate(capsys, "run", path, "--results", results, "--no-progress")[0] == 0
    store = Store(results / "tiny")
    keys = sorted(store.runs()["key"])
    first = {k: store.checkpoint_path(k).read_bytes() for k in keys}
    store.checkpoint_path(keys[0]).unlink()
    store.checkpoint_path(keys[1]).write_bytes(first[keys[1]][:-7])  # truncated
    one_line(
        capsys,
        ["predict", "tiny", "embedding_mean", "x", "--results", results, "--seed", _seed(store, keys[1])],
        "damaged checkpoint",
    )
    code, out, _ = ablate(capsys, "doctor", "tiny", "--results", results)  # sees both, one line each
    damaged = [line for line in out.splitlines() if "damaged checkpoint" in line]
    missing = [line for line in out.splitlines() if "have no checkpoint" in line]
    assert code == 1 and len(damaged) == 1 and len(missing) == 1, out
    assert str(store.checkpoint_path(keys[1])) in damaged[0] and "ablate run tiny" in damaged[0]
    assert (
        "1 of 3 trials that keep their weights" in missing[0]
        and str(store.checkpoint_path(keys[0])) in missing[0]
    )
    code, out, _ = ablate(capsys, "run", path, "--results", results, "--no-progress")
    assert code == 0
    assert all(checkpoints.problem(store.checkpoint_path(k)) is None for k in keys)
    assert store.checkpoint_path(keys[2]).read_bytes() == first[keys[2]]  # untouched
    assert not list((results / "tiny" / "checkpoints").glob(".*.tmp"))
    assert ablate(capsys, "doctor", "tiny", "--results", results)[1].strip() == "tiny: ok"


def _seed(store, key) -> str:
    runs = store.runs()
    return str(int(runs.loc[runs["key"] == key, "seed"].iloc[0]))


def test_predict_refuses_in_one_line(write_study, tmp_path, capsys):
    path = text_study(write_study, tmp_path, measure={"repeats": 1, "warmup": 0, "memory": False})
    results = tmp_path / "r"
    assert ablate(capsys, "run", path, "--results", results, "--no-progress")[0] == 0
    r = ["--results", results]
    one_line(capsys, ["predict", "tiny", "embedding_mean", "good", *r], "measure.checkpoint=true")
    one_line(capsys, ["predict", "tiny", "mean", "good", *r], "valid: embedding_mean")
    one_line(capsys, ["predict", "tiny", "embedding_mean", "good", "--seed", "7", *r], "valid: 0, 1")
    one_line(
        capsys,
        ["predict", "tiny", "embedding_mean", "good", "--dataset", "imdb", *r],
        "valid: rotten_tomatoes",
    )
    one_line(
        capsys, ["predict", "nothing", "embedding_mean", "good", *r], "unknown study 'nothing'"
    )  # the one rule for STUDY (suite.locate)
    # the override keeps the study's folder (suite.overrides.UNNAMED): its trials run again, keeping weights
    code, out, err = ablate(capsys, "run", path, "measure.checkpoint=true", *r, "--no-progress")
    assert code == 0, err
    assert sorted(p.name for p in results.iterdir()) == ["tiny"]
    assert len(list((results / "tiny" / "checkpoints").glob("*.safetensors"))) == 2
    assert ablate(capsys, "predict", "tiny", "embedding_mean", "good", *r)[0] == 0
    written = {p: p.stat().st_mtime_ns for p in (results / "tiny" / "checkpoints").iterdir()}
    assert ablate(capsys, "run", path, "measure.checkpoint=true", *r, "--no-progress")[0] == 0
    assert written == {p: p.stat().st_mtime_ns for p in (results / "tiny" / "checkpoints").iterdir()}
    synthetic = write_study(
        "synth", variants=["mean"], seeds=1, measure={"repeats": 1, "warmup": 0, "checkpoint": True}
    )
    assert ablate(capsys, "run", synthetic, "--results", results, "--no-progress")[0] == 0
    one_line(capsys, ["predict", "synth", "mean", "good", *r], "is not a text corpus")
    one_line(capsys, ["sample", "synth", "mean", "--prompt", "a", *r], "not a character-level language model")


# ── sample: a character decoder, built through the registry from the stored configuration ─────────


@register_encoder("test_char_decoder", whole_model=True)
class TinyCharDecoder(DecoderLM):
    """A test plugin: DecoderLM as a whole model of the registry, block size = max_len, the head
    tied to the embedding with tie_embeddings (what an LM variant of the registry will be)."""

    def __init__(self, cfg, vocab_size, num_classes, pad_id):
        super().__init__(
            vocab_size,
            cfg.max_len,
            dim=cfg.dim,
            depth=cfg.depth,
            heads=2,
            positional="rotary",
            tie_weights=cfg.tie_embeddings,
        )


@pytest.fixture
def char_data(tmp_path, monkeypatch):
    corpus = tmp_path / "input.txt"
    corpus.write_text("to be or not to be, that is the question.\n" * 20)

    def test_chars(block_size: int = 16, data_path: str | None = None):
        """tinyshakespeare's format, under another name, with next-character targets (task lm)."""
        dataset = TinyShakespeare(
            block_size=block_size, train_fraction=0.9, data_path=data_path, cache_dir=None, download=False
        )
        dataset.name, dataset.task = "test_chars", "lm"
        return dataset

    monkeypatch.setitem(data.REGISTRY._entries, "test_chars", test_chars)
    return corpus


def keep_decoder(results, corpus, seed=0):
    """Build the decoder through the registry, train it a little, keep it as a run would."""
    torch.manual_seed(seed)
    dataset = data.create("test_chars", data_path=str(corpus))
    cfg = parse(
        {"encoder": "test_char_decoder", "dim": 16, "depth": 1, "max_len": 16, "tie_embeddings": True}
    )
    model = models.build(
        cfg, vocab_size=dataset.vocab_size, seq_len=16, num_classes=dataset.vocab_size, task="lm"
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-2)
    for step in range(60):
        x, y = dataset.batch(step, 8, seed)
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    key = f"k{seed}"
    meta = {
        "key": key,
        "study": "chars",
        "variant": "decoder",
        "variant_name": "decoder",
        "seed": seed,
        "model": cfg.as_dict(),
        "dataset": "test_chars",
        "dataset_params": dataset.params,
        "data": {
            "vocab_size": dataset.vocab_size,
            "seq_len": 16,
            "num_classes": dataset.vocab_size,
            "pad_id": None,
            "task": "lm",
        },
    }
    store = Store(results / "chars")
    with store.lock():
        store.write_checkpoint(key, checkpoints.encode(model, meta))
        store.write(
            {"key": key, "variant": "decoder", "dataset": "test_chars", "seed": seed, "status": "ok"}, []
        )
    return model, store.checkpoint_path(key)


def test_sample_rebuilds_the_decoder_and_draws_reproducibly(tmp_path, char_data, capsys):
    results = tmp_path / "r"
    model, path = keep_decoder(results, char_data)
    tensors, meta = checkpoints.read(path)
    assert "head.weight" not in tensors and meta["tied"] == {"head.weight": "embedding.weight"}  # stored once
    rebuilt, _, dataset = use.load(path)
    assert torch.equal(rebuilt.head.weight, model.head.weight)

    args = ["sample", "chars", "decoder", "--prompt", "to be", "--tokens", "30", "--results", results]
    code, first, err = ablate(capsys, *args, "--temperature", "0.8", "--top-k", "5", "--sample-seed", "3")
    assert code == 0, err
    again = ablate(capsys, *args, "--temperature", "0.8", "--top-k", "5", "--sample-seed", "3")[1]
    other = ablate(capsys, *args, "--temperature", "2.0", "--sample-seed", "4")[1]
    assert first == again and first != other
    text = first.rstrip("\n")
    assert text.startswith("to be") and len(text) == len("to be") + 30
    assert set(text) <= set(dataset.chars)
    greedy = ablate(capsys, *args, "--temperature", "0")[1].rstrip("\n")
    expected = dataset.decode(generate(model, dataset.encode("to be")[None], 30, temperature=0)[0].tolist())
    assert greedy == expected

    one_line(capsys, ["sample", "chars", "decoder", "--prompt", "ZZZ", "--results", results], "not in the")
    one_line(capsys, ["predict", "chars", "decoder", "hello", "--results", results], "is not a text corpus")


def test_a_damaged_or_foreign_checkpoint_is_one_line(tmp_path, char_data, capsys):
    results = tmp_path / "r"
    _, path = keep_decoder(results, char_data)
    payload = path.read_bytes()
    args = ["sample", "chars", "decoder", "--prompt", "to", "--results", results]
    path.write_bytes(b"\x00" * 5)
    one_line(capsys, args, "damaged checkpoint", str(path))
    path.write_bytes(payload[:8] + b"{not json" + payload[17:])
    one_line(capsys, args, "damaged checkpoint")
    from safetensors.torch import save

    path.write_bytes(save({"w": torch.zeros(2)}))
    one_line(capsys, args, "not an ablate checkpoint")
    assert checkpoints.problem(tmp_path / "absent.safetensors").endswith("no checkpoint")


def test_an_lm_study_trained_by_the_engine_keeps_checkpoints_that_sample_reads(
    write_study, tmp_path, char_data, capsys
):
    """The whole path an LM variant of the registry will take: a study on a character corpus, its
    seeds (trained stacked: each member draws the streaming batch it would draw alone) each in its own
    file, sampled from the CLI."""
    variant = {"name": "embedding_mean", "label": "decoder", "encoder": "test_char_decoder", "max_len": 16}
    path = write_study(
        "chars",
        variants=[variant],
        datasets=[{"name": "test_chars", "data_path": str(char_data)}],
        seeds=2,
        model={"dim": 16},
        training={"optimizer": "adamw", "lr": 0.01, "steps": 40, "batch_size": 16, "history_every": 20},
        measure={"repeats": 1, "warmup": 0, "memory": False, "checkpoint": True},
    )
    results = tmp_path / "r"
    code, _, err = ablate(capsys, "run", path, "--results", results, "--no-progress")
    assert code == 0, err
    store = Store(results / "chars")
    runs = store.runs()
    # the two seeds train stacked (each member draws the streaming batch it would draw alone), and
    # each member still keeps its own file
    assert list(runs["status"]) == ["ok", "ok"] and list(runs["train_group_size"]) == [2, 2]
    files = [checkpoints.read(store.checkpoint_path(k)) for k in runs["key"]]
    assert [meta["seed"] for _, meta in files] == list(runs["seed"])
    assert not torch.equal(files[0][0]["head.weight"], files[1][0]["head.weight"])  # one file per seed
    args = ["sample", "chars", "decoder", "--prompt", "to be", "--tokens", "20", "--results", results]
    seed0 = ablate(capsys, *args, "--seed", "0", "--sample-seed", "1")
    again = ablate(capsys, *args, "--sample-seed", "1")  # the lowest seed by default
    seed1 = ablate(capsys, *args, "--seed", "1", "--sample-seed", "1")
    assert seed0[0] == 0 and seed0 == again and seed1[0] == 0
    for seed, (_, out, _) in ((0, seed0), (1, seed1)):  # each from its own seed's weights
        key = runs.loc[runs["seed"] == seed, "key"].iloc[0]
        model, meta, dataset = use.load(store.checkpoint_path(key))
        assert out.rstrip("\n") == use.sample(model, meta, dataset, "to be", 20, 1.0, None, 1)
    assert seed0[1].startswith("to be") and len(seed0[1].rstrip("\n")) == 25
