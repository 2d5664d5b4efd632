import ast
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import training_dict
from torch import nn

from suite import identity, metrics, objective
from suite.study import TRAINING_BASELINE, TrainingSpec, _defaults
from suite.train import (
    One,
    Schedule,
    Selector,
    evaluate,
    evaluated_rows,
    lr_factor,
    make_optimizer,
    make_schedule,
    parameter_groups,
    stepper,
    train,
)

BASE = training_dict(epochs=3, batch_size=8)


def _splits(n=32, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, 0] > 0).long()
    return {"train": (x, y), "val": (x[:8], y[:8])}


def _manual(training: dict, optimizer_factory, clip=None, scheduler_factory=None):
    """The loop train() runs, written out with torch's own optimizer, clipping and scheduler."""
    torch.manual_seed(0)
    model = nn.Linear(5, 1)
    splits = _splits()
    x, y = splits["train"]
    schedule = Schedule.from_spec(training, len(x))
    opt = optimizer_factory(model.parameters())
    sched = scheduler_factory(opt, schedule.total_steps) if scheduler_factory else None
    g = torch.Generator().manual_seed(7)
    lrs = []
    for _ in range(training["epochs"]):
        order = torch.randperm(len(x), generator=g)
        for start in range(0, len(x), schedule.batch_size):
            idx = order[start : start + schedule.batch_size]
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(model(x[idx]).squeeze(-1), y[idx].float()).backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            if sched:
                sched.step()
    return model, lrs


def _ours(training: dict):
    torch.manual_seed(0)
    model = nn.Linear(5, 1)
    wrapped = nn.Sequential(model, nn.Flatten(0))
    train(wrapped, _splits(), {**training, "select": "final"}, torch.device("cpu"), seed=7)
    return model


def test_rmsprop_matches_torch_optim_rmsprop():
    training = {**BASE, "optimizer": "rmsprop", "lr": 0.01, "momentum": 0.5, "weight_decay": 0.01}
    ours = _ours(training)
    ref, _ = _manual(training, lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, weight_decay=0.01))
    assert torch.allclose(ours.weight, ref.weight, atol=1e-6)
    adam, _ = _manual(training, lambda p: torch.optim.Adam(p, lr=0.01))
    assert not torch.allclose(ours.weight, adam.weight, atol=1e-4)  # the test can tell them apart


def test_gradient_clipping_matches_clip_grad_norm():
    training = {**BASE, "optimizer": "sgd", "lr": 0.5, "grad_clip": 0.05}
    ours = _ours(training)
    ref, _ = _manual(training, lambda p: torch.optim.SGD(p, lr=0.5), clip=0.05)
    unclipped, _ = _manual(training, lambda p: torch.optim.SGD(p, lr=0.5))
    assert torch.allclose(ours.weight, ref.weight, atol=1e-6)
    assert not torch.allclose(ours.weight, unclipped.weight, atol=1e-3)


def test_warmup_cosine_matches_torch_schedulers():
    total, warmup = 20, 0.2  # 4 warm-up steps, then cosine over 16
    ours = [lr_factor(s, total, "cosine", warmup) for s in range(total)]
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    ref_sched = torch.optim.lr_scheduler.SequentialLR(
        opt,
        [
            torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=3),
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=16),
        ],
        milestones=[4],
    )
    ref = []
    for _ in range(total):
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        ref_sched.step()
    assert ours == pytest.approx(ref, abs=1e-9)


def test_linear_decay_matches_torch_linear_lr_and_train_applies_it():
    total = 12
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    ref_sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=total)
    ref = []
    for _ in range(total):
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        ref_sched.step()
    assert [lr_factor(s, total, "linear", 0.0) for s in range(total)] == pytest.approx(ref)
    training = {**BASE, "optimizer": "sgd", "lr": 0.3, "lr_schedule": "linear"}
    ours = _ours(training)
    ref_model, lrs = _manual(
        training,
        lambda p: torch.optim.SGD(p, lr=0.3),
        scheduler_factory=lambda o, n: torch.optim.lr_scheduler.LinearLR(o, 1.0, 0.0, total_iters=n),
    )
    assert lrs[0] == 0.3 and lrs[-1] < 0.03
    assert torch.allclose(ours.weight, ref_model.weight, atol=1e-6)


def test_constant_without_warmup_needs_no_schedule():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    assert make_schedule(opt, BASE, 10) is None
    assert make_schedule(opt, {**BASE, "warmup": 0.1}, 10) is not None
    assert [lr_factor(s, 10, "constant", 0.3) for s in range(5)] == pytest.approx([1 / 3, 2 / 3, 1, 1, 1])


def test_label_smoothing_one_logit_equals_two_class_cross_entropy():
    z = torch.tensor([2.0, -1.0, 0.3, 4.0])
    y = torch.tensor([1, 0, 0, 1])
    ours = objective.loss(z, y, label_smoothing=0.2)
    two_class = torch.stack([torch.zeros_like(z), z], dim=1)
    ref = F.cross_entropy(two_class, y, label_smoothing=0.2)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    assert objective.member_correct(z[None], y[None]).tolist() == [3]
    plain = objective.loss(z, y)
    assert plain.item() != pytest.approx(ours.item())
    multi = objective.member_loss(two_class[None], y[None], label_smoothing=0.2)
    assert multi.item() == pytest.approx(ref.item())


def test_new_knobs_stay_out_of_keys_at_their_defaults():
    def keyed(training):
        return identity.section(training, _defaults(TrainingSpec), TRAINING_BASELINE)

    assert not {"lr_schedule", "warmup", "label_smoothing"} & set(keyed(BASE))
    changed = keyed({**BASE, "lr_schedule": "cosine", "label_smoothing": 0.1})
    assert changed["lr_schedule"] == "cosine" and changed["label_smoothing"] == 0.1


def test_selector_keeps_the_best_val_point_and_stops_with_patience():
    s = Selector("val_accuracy", ["train", "val", "test"])

    def val(loss, accuracy):
        return {"loss": loss, "accuracy": accuracy}

    assert s.offer(0, val(0.7, 0.5))
    assert s.offer(1, val(0.6, 0.8))
    assert s.offer(2, val(0.5, 0.8))  # same accuracy, lower loss: the later point wins the tie
    assert s.best_step == 2
    assert not s.offer(3, val(0.4, 0.7))
    assert not s.exhausted(2) and not s.offer(4, val(math.nan, math.nan)) and s.exhausted(2)
    assert s.best_step == 2
    loss = Selector("val_loss", ["train", "val"])
    loss.offer(0, val(1.0, 0.9))
    loss.offer(1, val(0.5, 0.1))
    assert not loss.offer(2, val(0.5, 1.0))  # a tie on the loss keeps the earlier point
    assert loss.best_step == 1
    assert Selector("val_accuracy", ["train", "test"]).reason == "final epoch (no val split)"


def _counted_run(model: nn.Module, splits: dict, training: dict, **kwargs):
    """train() on a copy of `model`, counting its forward passes."""
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    result = train(model, splits, training, torch.device("cpu"), seed=3, **kwargs)
    return result, len(calls)


def _linear(dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(5, 1), nn.Flatten(0))


def test_full_batch_history_takes_the_training_split_from_the_next_steps_forward():
    """At a history point the next step's forward sees the evaluation's weights and rows: one forward
    a step, plus the first point's check and the last point, and the values evaluation gives."""
    training = training_dict(epochs=12, history_every=3, select="final")
    splits = {"train": _splits()["train"]}
    ahead, forwards = _counted_run(_linear(), splits, training)
    assert ahead.steps == 12 and forwards == 12 + 2
    # one row short of the split: evaluated in two passes, so nothing is taken from the step
    evaluated, forwards = _counted_run(_linear(), splits, training, eval_batch=31)
    assert forwards == 12 + 2 * 5
    assert [(h["step"], h["accuracy"]) for h in ahead.history] == [
        (h["step"], h["accuracy"]) for h in evaluated.history
    ]
    assert (
        max(abs(a["loss"] - b["loss"]) for a, b in zip(ahead.history, evaluated.history, strict=True)) < 1e-6
    )
    assert ahead.timed_samples == evaluated.timed_samples == 9 * 32  # the segments after the first


def test_a_model_that_differs_in_train_mode_is_evaluated_at_every_point():
    """Dropout makes the training forward another function: the first point's check sees it."""
    training = training_dict(epochs=6, history_every=3, select="final")
    splits = {"train": _splits()["train"]}
    result, forwards = _counted_run(_linear(dropout=0.5), splits, training)
    assert forwards == 6 + 3  # each step, and every point evaluated (the first point's forward still trains)
    first = evaluate(One(_linear(dropout=0.5), splits), "train", batch_size=64)
    assert result.history[0]["loss"] == first["loss"].item()


def test_the_first_point_is_evaluated_before_a_training_forward_updates_buffers():
    """Batch norm's train-mode forward moves its running statistics: the first point's check must
    evaluate the untrained model before that forward, as the loop did before it took one ahead."""

    def model():
        torch.manual_seed(0)
        return nn.Sequential(nn.BatchNorm1d(5), nn.Linear(5, 1), nn.Flatten(0))

    training = training_dict(epochs=6, history_every=3, select="final")
    splits = _splits()
    result, forwards = _counted_run(model(), splits, training)
    assert forwards == 6 + 3 * 2  # buffers: every point evaluated, each split
    for split in ("train", "val"):
        first = evaluate(One(model(), splits), split, batch_size=64)
        assert [h["loss"] for h in result.history if h["split"] == split][0] == first["loss"].item()


def test_dropout_the_first_point_cannot_see_is_still_known_by_its_module():
    """A zero head makes dropout invisible at initialisation, so the bitwise check alone would pass:
    the model's dropout layer already rules the shortcut out."""

    def model():
        torch.manual_seed(0)
        head = nn.Linear(5, 1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return nn.Sequential(nn.Dropout(0.5), head, nn.Flatten(0))

    training = training_dict(epochs=6, history_every=3, select="final")
    result, forwards = _counted_run(model(), {"train": _splits()["train"]}, training)
    assert forwards == 6 + 3  # each step, and every point evaluated


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "adam", "weight_decay": 0.0, "momentum": 0.0},
        {"optimizer": "adamw", "weight_decay": 0.1, "momentum": 0.0},
        {"optimizer": "sgd", "weight_decay": 0.01, "momentum": 0.9},
        {"optimizer": "rmsprop", "weight_decay": 0.0, "momentum": 0.5},
    ],
)
def test_stepper_is_the_optimizers_own_update_to_the_bit(options):
    training = {"lr": 0.01, **options}
    torch.manual_seed(0)
    ours = torch.randn(40, requires_grad=True)
    ref = ours.detach().clone().requires_grad_()
    plain = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    extra = {"momentum": options["momentum"]} if options["optimizer"] in ("sgd", "rmsprop") else {}
    ref_optimizer = plain.get(options["optimizer"], torch.optim.RMSprop)(
        [ref], lr=0.01, weight_decay=options["weight_decay"], **extra
    )
    step = stepper(make_optimizer([ours], training))
    for _ in range(25):
        grad = torch.randn(40)
        ours.grad, ref.grad = grad.clone(), grad.clone()
        step()
        ref_optimizer.step()
    assert torch.equal(ours, ref)
    assert not torch.equal(ours, torch.zeros_like(ours))  # it moved


def test_stepper_keeps_step_where_something_observes_it():
    param = torch.zeros(3, requires_grad=True)
    hooked = make_optimizer([param], {**BASE, "lr": 0.1})
    hooked.register_step_post_hook(lambda *args: None)
    assert stepper(hooked) == hooked.step
    scheduled = make_optimizer([param], {**BASE, "lr": 0.1})
    torch.optim.lr_scheduler.LambdaLR(scheduled, lambda step: 1.0)  # patches step to count its calls
    assert stepper(scheduled) == scheduled.step
    plain = make_optimizer([param], {**BASE, "lr": 0.1})
    assert stepper(plain) != plain.step


def test_a_metric_registered_in_one_function_reaches_history_and_rows(write_study):
    """A quality metric is one compute function over (logits, targets, mask): the evaluator fills
    its history column and its final/best/selected columns on every split, for one model and for
    seeds trained together, and `best` follows its direction (lower error is better)."""
    from suite.study import load_study
    from suite.train_run import plan, run_trial, run_unit

    @metrics.quality_metric("toy_error", "error", "fraction wrong", higher_is_better=False, bounds=(0.0, 1.0))
    def toy_error(logits, targets, mask):  # (G,) sums: the wrong predictions of each member
        return targets[0].numel() - objective.member_correct(logits, targets, mask)

    try:
        study = load_study(
            write_study(
                variants=["attention"],
                datasets=[{"name": "order", "V": 4, "T": 6, "n": 60}],
                seeds=2,
                training={"optimizer": "adam", "lr": 0.05, "epochs": 4, "history_every": 1},
                measure={"throughput": False, "memory": False},
            )
        )
        (unit,) = plan(study.trials())
        together = run_unit(unit)
        for result in [*together, run_trial(unit[0])]:
            row = result.row
            assert row["status"] == "ok", row["error"]
            assert {"train", "val", "test"} == {h["split"] for h in result.history}
            for h in result.history:
                assert h["toy_error"] == pytest.approx(1 - h["accuracy"], abs=1e-6)
            for split in ("train", "val", "test"):
                for stage in ("final", "selected"):
                    assert row[f"{stage}_{split}_toy_error"] == pytest.approx(
                        1 - row[f"{stage}_{split}_accuracy"]
                    )
                assert row[f"best_{split}_toy_error"] == pytest.approx(1 - row[f"best_{split}_accuracy"])
            assert row["selected_toy_error"] == row["selected_test_toy_error"]
        assert together[0].row["train_group_size"] == 2
    finally:
        metrics.unregister("toy_error")
    assert "toy_error" not in [m.name for m in metrics.computed()]


def _functions_calling(predicate) -> dict[str, list[ast.AST]]:
    """module.function (innermost def) → the calls in it for which predicate(call, in_loop) holds,
    over suite/ without suite/bench (the speed gate's reference loops are hand-written on purpose)."""
    package = Path(__file__).resolve().parents[1] / "suite"
    found: dict[str, list[ast.AST]] = {}

    def visit(node, where: str, in_loop: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                name = getattr(child, "name", "<lambda>")
                visit(child, f"{where.split(':')[0]}:{name}", False)
                continue
            loop = in_loop or isinstance(child, ast.For | ast.While | ast.comprehension)
            if isinstance(child, ast.Call) and predicate(child, loop):
                found.setdefault(where, []).append(child)
            visit(child, where, loop)

    for path in package.rglob("*.py"):
        if "bench" in path.relative_to(package).parts:
            continue
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        visit(ast.parse(path.read_text()), f"{module}:<module>", False)
    return found


def test_there_is_one_training_loop():
    """One model and seeds trained together go through one loop (`fit`) and one update: a function
    that calls `.backward(` besides `suite.train.update`, or a loop besides `fit`'s that calls
    `update`, is a second training loop."""

    def backward(call, _):
        return isinstance(call.func, ast.Attribute) and call.func.attr == "backward"

    def update_in_a_loop(call, in_loop):
        return in_loop and isinstance(call.func, ast.Name) and call.func.id == "update"

    assert list(_functions_calling(backward)) == ["suite.train:update"]
    assert list(_functions_calling(update_in_a_loop)) == ["suite.train:fit"]


def test_cosine_decays_to_min_lr_as_nanogpt():
    """nanoGPT's get_lr after warm-up: min_lr + ½(1 + cos(π·progress))·(lr − min_lr)."""
    lr, min_lr, total, warm = 1e-3, 1e-4, 2000, 100
    for step in (100, 500, 1000, 1999):
        progress = (step - warm) / (total - warm)
        expected = min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)
        assert lr * lr_factor(step, total, "cosine", 0.05, min_lr / lr) == pytest.approx(expected)
    assert lr_factor(99, total, "cosine", 0.05, 0.1) == pytest.approx(1.0)  # the end of warm-up
    with pytest.raises(ValueError, match="min_lr=0.01 must not exceed lr=0.001"):
        TrainingSpec(lr=1e-3, min_lr=1e-2, lr_schedule="cosine")


def test_adamw_betas_and_weight_decay_on_matrices_only():
    model = nn.Sequential(nn.Embedding(5, 4), nn.LayerNorm(4), nn.Linear(4, 3))
    training = training_dict(optimizer="adamw", weight_decay=0.1, beta2=0.99, weight_decay_on="matrices")
    optimizer = make_optimizer(parameter_groups(model, training), training)
    decayed, plain = optimizer.param_groups
    assert optimizer.defaults["betas"] == (0.9, 0.99)
    assert decayed["weight_decay"] == 0.1 and all(p.dim() == 2 for p in decayed["params"])
    assert (
        plain["weight_decay"] == 0.0 and len(plain["params"]) == 3
    )  # LayerNorm gain, bias; the linear's bias
    default = training_dict(optimizer="adam")
    assert make_optimizer(parameter_groups(model, default), default).defaults["betas"] == (0.9, 0.999)


def test_a_streaming_dataset_gives_each_step_its_own_batch():
    """`draw(step, batch_size)` feeds each step (a fresh batch per step, reproducible from the seed),
    the fixed splits are only evaluated, and `eval_rows` keeps the same evenly spaced rows."""
    steps = []

    def draw(step, batch_size):
        steps.append(step)
        g = torch.Generator().manual_seed(step)
        x = torch.randn(batch_size, 5, generator=g)
        return x, (x[:, 0] > 0).long()

    splits = evaluated_rows(_splits(n=40), 10)
    assert len(splits["train"][0]) == 10 and len(splits["val"][0]) == 8
    assert torch.equal(splits["train"][0][-1], _splits(n=40)["train"][0][-1])  # evenly spaced, ends kept
    training = training_dict(steps=6, batch_size=4, history_every=3, select="final")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 1), nn.Flatten(0))
    result = train(model, splits, training, torch.device("cpu"), seed=0, draw=draw)
    assert steps == [0, 1, 2, 3, 4, 5] and result.steps == 6
    assert {h["step"] for h in result.history} == {0, 3, 6}


def test_selector_selects_on_any_registered_metric_in_its_direction():
    """`val_bits` keeps the lowest val bits, `val_perplexity` the lowest perplexity: the direction is
    the metric's own (suite.metrics), not a rule per name."""
    bits = Selector("val_bits", ["train", "val"])
    for step, (loss, b) in enumerate([(2.0, 2.9), (1.0, 1.4), (1.5, 2.2)]):
        bits.offer(step, {"loss": loss, "accuracy": 0.0, "bits": b})
    assert bits.best_step == 1 and bits.reason == "best val bits"
    perplexity = Selector("val_perplexity", ["train", "val", "test"])
    for step, p in enumerate([9.0, 3.0, 4.0, 2.5]):
        perplexity.offer(step, {"loss": math.log(p), "perplexity": p})
    assert perplexity.best_step == 3


def _three_splits():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(48, 5, generator=g)
    y = (x[:, 0] > 0).long()
    return {"train": (x[:32], y[:32]), "val": (x[32:40], y[32:40]), "test": (x[40:], y[40:])}


@pytest.mark.parametrize("which, kept", [("held_out", {"val", "test"}), ("val", {"val"})])
def test_history_splits_leave_splits_out_and_train_the_same(which, kept):
    """`history_splits` drops splits from every history point, and nothing else: the weights, the
    kept splits' values and the selected point are those of a run that evaluates every split."""
    splits = _three_splits()
    training = training_dict(epochs=4, batch_size=8, patience=2)
    runs = {}
    for flag in ("all", which):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 1), nn.Flatten(0))
        runs[flag] = (
            model,
            train(model, splits, {**training, "history_splits": flag}, torch.device("cpu"), seed=3),
        )
    (every_model, every), (fewer_model, fewer) = runs["all"], runs[which]
    assert {h["split"] for h in every.history} == {"train", "val", "test"}
    assert {h["split"] for h in fewer.history} == kept
    assert [h for h in every.history if h["split"] in kept] == fewer.history
    assert fewer.selected_step == every.selected_step and fewer.steps == every.steps
    assert all(
        torch.equal(a, b) for a, b in zip(every_model.parameters(), fewer_model.parameters(), strict=True)
    )


def test_history_splits_val_still_stops_a_diverged_run_from_the_val_loss():
    model = nn.Sequential(nn.Linear(5, 1), nn.Flatten(0))
    with torch.no_grad():
        model[0].weight.fill_(float("nan"))
    training = training_dict(epochs=3, batch_size=8, history_splits="val")
    result = train(model, _three_splits(), training, torch.device("cpu"), seed=0)
    assert result.diverged and {h["split"] for h in result.history} == {"val"}


def test_history_splits_are_keyed_only_away_from_all():
    def keyed(training):
        return identity.section(training, _defaults(TrainingSpec), TRAINING_BASELINE)

    assert "history_splits" not in keyed({**BASE, "history_splits": "all"})
    assert keyed({**BASE, "history_splits": "val"})["history_splits"] == "val"
