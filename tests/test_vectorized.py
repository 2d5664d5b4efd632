import logging

import pytest
import torch
from conftest import training_dict
from torch import nn

from suite import models, objective
from suite.models.positional import LearnedPositions
from suite.study import load_study
from suite.train import make_optimizer
from suite.train_run import plan, run_trial, run_unit
from suite.vectorized import (
    CannotStack,
    FlatParameters,
    Stacked,
    probed,
    train_group,
    unstackable,
    why_alone,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; on a busy machine, waking a second one costs ms per op."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# Every variant family that takes the vectorized path (dropout 0 where the preset has dropout).
STACKABLE = [
    "mean",
    "positional",
    "attention",
    {"name": "attention", "label": "attention_no_pos", "positional": "none"},
    "multihead",
    {"name": "attention", "label": "rope", "positional": "rope", "heads": 2},
    {"name": "attention", "label": "norm_sinusoidal", "norm": True, "positional": "sinusoidal"},
    {"name": "transformer", "dropout": 0.0},
    {"name": "conv1d"},
    {"name": "bow_mlp", "dropout": 0.0},
    {"name": "embedding_mean"},
    {"name": "plain_self_attention"},
    {"name": "causal_attention"},
    {"name": "attention", "label": "unscaled_naive", "scale": "none", "kernel": "naive"},
    {"name": "prenorm_transformer", "dropout": 0.0},
]


def _max_curve_gap(a, b) -> float:
    assert [(h["step"], h["split"]) for h in a] == [(h["step"], h["split"]) for h in b]
    return max(abs(x["loss"] - y["loss"]) for x, y in zip(a, b, strict=True))


def _label(variant) -> str:
    return variant if isinstance(variant, str) else variant.get("label", variant["name"])


@pytest.mark.parametrize("variant", STACKABLE, ids=_label)
def test_every_seed_curve_equals_one_at_a_time(write_study, variant):
    """reversal (4 rows) and combined (8 rows) share one stacked step, the shorter padded."""
    study = load_study(
        write_study(
            variants=[variant],
            datasets=["reversal", "combined"],
            seeds=2,
            model={"dim": 4},
            measure={"throughput": False, "memory": False},
        )
    )
    units = plan(study.trials())
    assert [len(u) for u in units] == [4]
    results = run_unit(units[0])
    for trial, result in zip(units[0], results, strict=True):
        assert result.row["train_group_size"] == 4, result.row["error"]
        assert result.row["status"] == "ok", result.row["error"]
        alone = run_trial(trial)
        assert _max_curve_gap(result.history, alone.history) <= 1e-5
        for col in ("final_loss", "best_loss", "final_accuracy", "params", "steps"):
            assert result.row[col] == pytest.approx(alone.row[col], abs=1e-5), col


def test_minibatches_clipping_and_sgd_follow_each_seed(write_study):
    """Mini-batches come from each seed's own shuffle; clipping is per seed; SGD with momentum."""
    training = {
        "optimizer": "sgd",
        "lr": 0.05,
        "momentum": 0.9,
        "weight_decay": 0.01,
        "batch_size": 3,
        "grad_clip": 0.05,
        "epochs": 6,
        "history_every": 2,
    }
    study = load_study(
        write_study(
            variants=["attention"],
            datasets=["combined"],
            seeds=3,
            training=training,
            measure={"throughput": False, "memory": False},
        )
    )
    (unit,) = plan(study.trials())
    results = run_unit(unit)
    for trial, result in zip(unit, results, strict=True):
        assert result.row["train_group_size"] == 3
        alone = run_trial(trial)
        assert _max_curve_gap(result.history, alone.history) <= 1e-5
        assert result.history[-1]["step"] == 6 * 3  # 8 rows in batches of 3: 3 steps an epoch


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_one_flat_tensor_is_torch_optim_per_tensor_to_the_bit(name, weight_decay, momentum):
    """Moving the parameters into one flat buffer changes nothing in the arithmetic."""
    training = {"optimizer": name, "lr": 0.01, "weight_decay": weight_decay, "momentum": momentum}
    torch.manual_seed(0)
    ref = [nn.Parameter(torch.randn(3, 4)), nn.Parameter(torch.randn(5))]
    mine = [nn.Parameter(p.detach().clone()) for p in ref]
    reference, flat = make_optimizer(ref, training), FlatParameters(mine, training)
    for _ in range(30):
        grads = [torch.randn_like(p) for p in ref]
        for p, g in zip(ref, grads, strict=True):
            p.grad = g.clone()
        flat.zero_grad()
        for p, g in zip(mine, grads, strict=True):
            p.grad.add_(g)
        reference.step()
        flat.step()
    assert flat.grads_in_place()
    assert all(torch.equal(a, b) for a, b in zip(ref, mine, strict=True))


def test_rmsprop_seeds_follow_one_at_a_time(write_study):
    """The lecture's optimizer on the stacked path: each seed's curve is its one-at-a-time curve."""
    training = {"optimizer": "rmsprop", "lr": 0.01, "batch_size": 3, "epochs": 4, "history_every": 2}
    study = load_study(
        write_study(
            variants=["attention"],
            datasets=["combined"],
            seeds=2,
            training=training,
            measure={"throughput": False, "memory": False},
        )
    )
    (unit,) = plan(study.trials())
    results = run_unit(unit)
    for trial, result in zip(unit, results, strict=True):
        assert result.row["train_group_size"] == 2
        assert _max_curve_gap(result.history, run_trial(trial).history) <= 1e-5


def test_twins_reproduce_members_with_padding_tokens():
    """Embedding padding rows read as zero and get no gradient; conv, norm, positions stack."""
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(6, 4, padding_idx=0)
            self.positions = LearnedPositions(5, 4)
            self.norm = nn.LayerNorm(4)
            self.conv = nn.Conv1d(4, 3, 3, padding="same")
            self.head = nn.Linear(3, 2)

        def forward(self, tokens):
            x = self.norm(self.positions(self.embedding(tokens)))
            return self.head(torch.relu(self.conv(x.transpose(1, 2))).mean(dim=2))

    members = [Net() for _ in range(3)]
    stacked = Stacked(members)
    tokens = torch.randint(0, 6, (3, 7, 5))
    tokens[:, :, -1] = 0  # padding
    out = stacked.module(tokens.view(21, 5)).view(3, 7, 2)
    out.square().sum().backward()
    for g, member in enumerate(members):
        mine = member(tokens[g])
        mine.square().sum().backward()
        torch.testing.assert_close(out[g], mine)
        torch.testing.assert_close(stacked.module.embedding.weight.grad[g], member.embedding.weight.grad)
        assert not member.embedding.weight.grad[0].any()
        torch.testing.assert_close(stacked.module.conv.weight.grad[g], member.conv.weight.grad)
        torch.testing.assert_close(stacked.module.positions.table.grad[g], member.positions.table.weight.grad)


class _Tiny(nn.Module):
    """Embedding → mean over time → linear head; a subclass tampers with the pooled rows."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(5, 2)
        self.head = nn.Linear(2, 1)

    def tamper(self, h: torch.Tensor) -> torch.Tensor:
        return h

    def forward(self, tokens):
        return self.head(self.tamper(self.embedding(tokens).mean(dim=1))).squeeze(-1)


def _train_stack_of(model: type[nn.Module], size: int) -> None:
    x = torch.tensor([[0, 1, 2], [2, 1, 0], [1, 3, 4], [4, 3, 1]])
    y = torch.tensor([1, 0, 1, 0])
    members = [model() for _ in range(size)]
    training = training_dict(epochs=2)
    train_group(members, [{"train": (x, y)}] * size, training, torch.device("cpu"), list(range(size)))


def _evaluations(monkeypatch, model: type[nn.Module], splits: dict, epochs: int):
    """Train a stack of 3 on `splits` (full batch, a history point every epoch), counting the
    evaluation passes; the members' results and the count."""
    import suite.train as engine

    calls = []
    real = engine.evaluate
    monkeypatch.setattr(engine, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    torch.manual_seed(0)
    members = [model() for _ in range(3)]
    training = training_dict(epochs=epochs, history_every=1, select="final")
    results = train_group(members, [splits] * 3, training, torch.device("cpu"), [0, 1, 2])
    return results, len(calls)


def test_history_takes_the_training_split_from_the_next_steps_forward(monkeypatch):
    """Full batch: the training split is evaluated at the first point (to check the step's forward
    gives the same) and the last; every point of another split is evaluated."""
    x = torch.tensor([[0, 1, 2], [2, 1, 0], [1, 3, 4], [4, 3, 1]])
    y = torch.tensor([1, 0, 1, 0])
    results, calls = _evaluations(monkeypatch, _Tiny, {"train": (x, y)}, epochs=5)
    assert calls == 2 and [h["step"] for h in results[0].history] == list(range(6))
    _, calls = _evaluations(monkeypatch, _Tiny, {"train": (x, y), "val": (x[:2], y[:2])}, epochs=5)
    assert calls == 2 + 6

    class TrainModeShift(_Tiny):  # no parameters, buffers or dropout of its own, but not the same function
        def tamper(self, h):
            return h + 1.0 if self.training else h

    shifted, calls = _evaluations(monkeypatch, TrainModeShift, {"train": (x, y)}, epochs=5)
    assert calls == 6  # every point evaluated
    torch.manual_seed(0)
    first = TrainModeShift().eval()
    loss = objective.loss(first(x), y)
    assert shifted[0].history[0]["loss"] == loss.item()


def test_models_that_mix_rows_are_refused_before_training():
    """The probe compares the stacked losses and gradients with each member's own."""

    class MixesRows(_Tiny):
        def tamper(self, h):
            return h - h.mean(dim=0)  # couples every row of the batch

    with pytest.raises(CannotStack, match="differs"):
        _train_stack_of(MixesRows, 2)


def test_the_probe_checks_both_ends_and_catches_a_fault_in_the_last_member():
    assert probed(2) == [0, 1] and probed(30) == [0, 10, 19, 29] and probed(5) == [0, 1, 3, 4]

    class TouchesTheLastRows(_Tiny):
        """Shifts the last four rows of a batch of more than four: in a stack, only the last member's."""

        def tamper(self, h):
            shift = torch.zeros_like(h)
            shift[-4:] = 1.0
            return h + shift * (len(h) > 4)

    with pytest.raises(CannotStack, match="member 9"):
        _train_stack_of(TouchesTheLastRows, 10)


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ("lstm", "one weight set per call"),
        ({"name": "transformer"}, "dropout p=0.1"),
        ({"name": "bow_mlp"}, "dropout p=0.5"),
        ({"name": "attention", "attn_dropout": 0.1, "kernel": "naive"}, "on its attention weights"),
        ({"name": "embedding_mean", "freeze_embedding": True}, "embedding.weight is frozen"),
        ("gru", "one weight set per call"),
    ],
)
def test_unstackable_variants_run_alone_and_say_why_once(write_study, caplog, variant, reason):
    study = load_study(write_study(variants=[variant], seeds=3, model={"dim": 4}, training={"epochs": 2}))
    with caplog.at_level(logging.WARNING, logger="suite.vectorized"):
        units = plan(study.trials())
        plan(study.trials())
    assert [len(u) for u in units] == [1, 1, 1]
    messages = [r.getMessage() for r in caplog.records if reason in r.getMessage()]
    assert len(messages) <= 1  # once per process (an earlier test may have logged it already)
    trial = study.trials()[0]
    cfg = models.resolve(trial.variant_name, **{k: v for k, v in trial.model.items()})
    with torch.device("meta"):
        model = models.build(cfg, vocab_size=5, seq_len=3, num_classes=2)
    assert reason in unstackable(model)


def test_vectorize_off_by_study_key_or_cli_keeps_trial_keys(write_study):
    on = load_study(write_study(seeds=3))
    off = load_study(
        write_study(
            seeds=3,
            training={"optimizer": "adam", "lr": 0.01, "epochs": 20, "history_every": 5, "vectorize": False},
        )
    )
    forced = load_study(write_study(seeds=3), vectorize=False)
    assert [t.key for t in on.trials()] == [t.key for t in off.trials()] == [t.key for t in forced.trials()]
    assert [len(u) for u in plan(on.trials())] == [3, 3]
    assert [len(u) for u in plan(off.trials())] == [1] * 6
    assert [len(u) for u in plan(forced.trials())] == [1] * 6


def test_diverged_seeds_stop_where_one_at_a_time_stops(write_study):
    study = load_study(
        write_study(
            variants=["attention"],
            seeds=2,
            training={"optimizer": "sgd", "lr": 1e38, "epochs": 30, "history_every": 1},
        )
    )
    (unit,) = plan(study.trials())
    for trial, result in zip(unit, run_unit(unit), strict=True):
        alone = run_trial(trial)
        assert result.row["status"] == alone.row["status"] == "diverged"
        assert result.row["steps"] == alone.row["steps"]
        assert [h["step"] for h in result.history] == [h["step"] for h in alone.history]


def test_rows_have_the_one_at_a_time_columns_and_share_group_time(write_study):
    study = load_study(write_study(variants=["mean"], seeds=3))
    (unit,) = plan(study.trials())
    rows = [r.row for r in run_unit(unit)]
    alone = run_trial(unit[0]).row
    assert set(rows[0]) == set(alone)
    for col in ("train_samples_per_s", "infer_samples_per_s", "peak_train_mem_bytes", "peak_infer_mem_bytes"):
        assert all(r[col] > 0 for r in rows), col
    assert len({r["train_seconds"] for r in rows}) == 1  # each is charged the group's time / 3
    assert all(r["train_group_size"] == 3 for r in rows) and alone["train_group_size"] == 1


def test_study_threads_apply_while_a_unit_runs_and_stay_out_of_keys(write_study):
    plain = load_study(write_study(variants=["mean"], seeds=2))
    one = load_study(write_study(variants=["mean"], seeds=2, threads=1))
    assert [t.key for t in plain.trials()] == [t.key for t in one.trials()]
    torch.set_num_threads(2)
    rows = [r.row for r in run_unit(plan(one.trials())[0])]
    assert all(r["threads"] == 1 for r in rows)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize(
    "training",
    [
        {},
        {"patience": 1},
        {"select": "val_loss", "patience": 2},
        {"patience": 1, "history_splits": "val"},  # test evaluated once, at each member's selected weights
        {"history_splits": "held_out"},
    ],
)
def test_val_selection_and_early_stopping_match_one_at_a_time(write_study, training):
    """Stacked seeds pick the same val-chosen epoch, stop at the same point and keep the same
    weights (so the same predictions) as each seed trained alone."""
    study = load_study(
        write_study(
            variants=["attention"],
            datasets=[{"name": "order", "V": 4, "T": 6, "n": 60}],
            seeds=3,
            training={"optimizer": "adam", "lr": 0.05, "epochs": 12, "history_every": 1, **training},
            measure={"throughput": False, "memory": False},
        )
    )
    (unit,) = plan(study.trials())
    results = run_unit(unit)
    for trial, result in zip(unit, results, strict=True):
        assert result.row["timing_group"] is not None and result.row["status"] == "ok"
        alone = run_trial(trial)
        assert alone.row["timing_group"] is None
        for col in ("selected_epoch", "steps", "stopped_early", "selection"):
            assert result.row[col] == alone.row[col], col
        for col in ("selected_test_accuracy", "selected_val_loss", "selected_loss"):
            assert result.row[col] == pytest.approx(alone.row[col], abs=1e-5), col
        assert [p["pred"] for p in result.predictions] == [p["pred"] for p in alone.predictions]
    assert len({r.row["timing_group"] for r in results}) == 1


def test_history_on_val_alone_reports_the_selected_test_metrics_of_a_full_history(write_study):
    """`history_splits: val` evaluates the test split once, at the selected weights: the row's
    selected test metrics, epoch and predictions are those a run evaluating every split reports."""

    def rows(history_splits):
        study = load_study(
            write_study(
                variants=["attention"],
                datasets=[{"name": "order", "V": 4, "T": 6, "n": 60}],
                seeds=1,
                training={"optimizer": "adam", "lr": 0.05, "epochs": 12, "history_every": 1, "patience": 2,
                          "history_splits": history_splits},
                measure={"throughput": False, "memory": False},
            )
        )  # fmt: skip
        return run_trial(study.trials()[0])

    every, val = rows("all"), rows("val")
    assert val.row["eval_split"] == every.row["eval_split"] == "test"
    assert val.row["selected_epoch"] == every.row["selected_epoch"]
    for col in ("selected_test_accuracy", "selected_test_loss", "selected_accuracy", "selected_loss"):
        assert val.row[col] == pytest.approx(every.row[col], abs=1e-6), col
    assert [p["pred"] for p in val.predictions] == [p["pred"] for p in every.predictions]
    assert "final_test_accuracy" not in val.row and {h["split"] for h in val.history} == {"val"}


def test_group_members_share_one_memory_measurement_counted_once(write_study):
    """Peak memory is measured once per shape (suite.measure.peak_memory's key); the report
    treats the rows that share it as one measurement, not as independent samples."""
    import pandas as pd

    from suite.report.stats import independent

    study = load_study(write_study(variants=["mean"], seeds=3, model={"dim": 3}))
    (unit,) = plan(study.trials())
    rows = [r.row for r in run_unit(unit)]
    assert len({r["memory_group"] for r in rows}) == 1 and rows[0]["memory_group"]
    assert len({r["peak_train_mem_bytes"] for r in rows}) == 1 and rows[0]["peak_train_mem_bytes"] > 0
    values, per = independent(pd.DataFrame(rows), "peak_train_mem_bytes")
    assert len(values) == 1 and per == 3


@pytest.mark.parametrize("knob", [{"label_smoothing": 0.1}, {"lr_schedule": "cosine"}, {"warmup": 0.2}])
def test_a_knob_only_the_loop_implements_trains_alone(write_study, knob):
    """The stacked step does not implement these: such trials run one at a time, and say why."""
    training = {"optimizer": "adam", "lr": 0.01, "epochs": 2, "history_every": 1}
    plain = load_study(write_study(variants=["mean"], seeds=3, training=training))
    assert [len(u) for u in plan(plain.trials())] == [3]  # at their defaults the seeds stack
    tuned = load_study(write_study(variants=["mean"], seeds=3, training={**training, **knob}))
    assert [len(u) for u in plan(tuned.trials())] == [1, 1, 1]
    assert "only suite.train implements" in why_alone(tuned.trials()[0])


def test_weight_decay_gets_its_own_memory_measurement(write_study):
    """Weight decay adds a tensor to the optimizer step, so trials that differ only in it are
    measured apart, not handed the first one's number."""
    training = {"optimizer": "sgd", "momentum": 0.9, "lr": 0.01, "epochs": 1, "history_every": 1}
    variants = ["mean", {"name": "mean", "label": "mean_wd", "training": {"weight_decay": 0.01}}]
    from suite import measure

    study = load_study(write_study(variants=variants, seeds=1, model={"dim": 512}, training=training))
    before = set(measure._PEAKS)
    rows = {r.row["variant"]: r.row for unit in plan(study.trials()) for r in run_unit(unit)}
    assert rows["mean"]["memory_group"] != rows["mean_wd"]["memory_group"]
    measured = {key for _, key in set(measure._PEAKS) - before if key[0] == "train"}
    assert measured == {("train", rows[v]["memory_group"]) for v in ("mean", "mean_wd")}  # each its own step


# ── streaming data: each stacked member draws its solo run's batches ───────────────────────────

SPEECH = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"


def _tiny_decoder(seed: int, vocab: int):
    from suite.models.decoder import DecoderLM

    torch.manual_seed(seed)
    return DecoderLM(vocab, 8, dim=16, depth=1, heads=2, tie_weights=False)


def test_stacked_members_on_streaming_data_equal_their_solo_runs(tmp_path):
    """Each member's batch at step s is `batch(s, B, its seed)`, as alone; losses and weights follow."""
    from suite.data.tinyshakespeare import tinyshakespeare
    from suite.train import One, fit

    path = tmp_path / "input.txt"
    path.write_text(SPEECH * 10)
    dataset = tinyshakespeare(block_size=8, data_path=str(path))
    splits = dataset.load()
    training = training_dict(
        optimizer="adamw", lr=3e-3, weight_decay=0.1, steps=6, batch_size=4, history_every=3,
        grad_clip=1.0, select="final",
    )  # fmt: skip
    seeds, drawn = [0, 1, 2], []

    def draw_at(seed):
        def draw(step, batch_size):
            drawn.append((seed, step))
            return dataset.batch(step, batch_size, seed)

        return draw

    cpu = torch.device("cpu")
    stacked = [_tiny_decoder(s, dataset.vocab_size) for s in seeds]
    together = train_group(
        stacked, [splits] * 3, training, cpu, seeds, 64, "lm", draws=[draw_at(s) for s in seeds]
    )
    assert drawn[:3] == [(0, 0), (1, 0), (2, 0)] and sorted(drawn) == [
        (s, k) for s in seeds for k in range(6)
    ]
    for seed, member, result in zip(seeds, stacked, together, strict=True):
        alone = _tiny_decoder(seed, dataset.vocab_size)
        (solo,) = fit(One(alone, splits, training, seed, "lm", draw_at(seed)), training, cpu, 64)
        assert _max_curve_gap(result.history, solo.history) <= 1e-5
        for (name, a), b in zip(member.named_parameters(), alone.parameters(), strict=True):
            assert torch.allclose(a, b, atol=1e-5), name
        assert not torch.equal(member.head.weight, _tiny_decoder(seed, dataset.vocab_size).head.weight)


def test_a_streaming_study_stacks_its_seeds_through_the_runner(write_study, tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(SPEECH * 10)
    study = load_study(
        write_study(
            variants=[{"name": "decoder_lm", "tie_embeddings": False}],
            datasets=[{"name": "tinyshakespeare", "block_size": 8, "data_path": str(path)}],
            seeds=2,
            model={"dim": 16, "depth": 1, "heads": 2},
            training={"optimizer": "adamw", "lr": 3e-3, "steps": 6, "batch_size": 4, "history_every": 3,
                      "eval_rows": 20, "select": "final"},
            measure={"throughput": False, "memory": False, "predictions": False},
        )
    )  # fmt: skip
    assert why_alone(study.trials()[0]) is None
    (unit,) = plan(study.trials())
    assert len(unit) == 2
    for trial, result in zip(unit, run_unit(unit), strict=True):
        assert result.row["status"] == "ok" and result.row["train_group_size"] == 2, result.row["error"]
        alone = run_trial(trial)
        assert _max_curve_gap(result.history, alone.history) <= 1e-5
        assert result.row["selected_val_loss"] == pytest.approx(alone.row["selected_val_loss"], abs=1e-5)
        # stacked, the run counts steps as a solo streaming run does: no epochs, the selected step
        assert result.row["selected_step"] == alone.row["selected_step"] == 6
        assert all(h["epoch"] is None for h in result.history)
