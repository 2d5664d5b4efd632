"""Contrasts found from configurations: pairs that differ in one knob, a grid's factorial effects,
and a study's own `compare:` pairs; knob-agnostic (a training knob works as a model knob does)."""

import json

import numpy as np
import pytest

from suite.report.contrasts import find, knobs
from suite.spec import StudyError
from suite.study import load_study

ABLATION = {  # ablation_positional's variants, as their stored configurations resolve them
    "mean": {"encoder": "mlp", "positional": "none", "training.epochs": 1000},
    "positional": {"encoder": "mlp", "positional": "learned", "training.epochs": 1000},
    "attention": {"encoder": "attention", "positional": "learned", "training.epochs": 1000},
    "attention_no_pos": {"encoder": "attention", "positional": "none", "training.epochs": 1000},
    "attention_500": {"encoder": "attention", "positional": "learned", "training.epochs": 500},
}


def _names(found):
    return {c.name: (c.a, c.b) for c in found}


def test_pairs_that_differ_in_one_knob_are_found_and_named_by_it():
    found = _names(find(ABLATION, baseline="attention"))
    assert found["positional: learned → none, in attention"] == ("attention", "attention_no_pos")
    # neither side is the baseline: the reference is the side closer to it
    assert found["positional: learned → none, in mlp"] == ("positional", "mean")
    assert found["training.epochs: 1000 → 500, in attention"] == ("attention", "attention_500")
    assert found["encoder: attention → mlp, in attention"] == ("attention", "positional")
    assert not any({a, b} == {"attention", "mean"} for a, b in found.values())  # two knobs: no contrast


def test_compare_restricts_and_auto_adds_the_found_pairs():
    only = find(ABLATION, baseline="attention", compare=[["attention", "mean"]])
    assert (
        len(only) == 1 and only[0].knob == "variant" and "2 knobs differ: encoder, positional" in only[0].name
    )
    more = find(ABLATION, baseline="attention", compare=["auto", ["attention", "mean"]])
    assert len(more) == len(find(ABLATION, baseline="attention")) + 1


def test_a_variant_in_no_contrast_is_set_against_the_baseline():
    configs = {"linear": {"encoder": "bow", "hidden": 1}, "lstm": {"encoder": "lstm", "hidden": 64}}
    (c,) = find(configs, baseline="linear")
    assert (c.a, c.b) == ("linear", "lstm") and c.name.startswith("linear → lstm (2 knobs differ")


def test_a_knob_left_at_its_default_reads_default():
    (c,) = find({"plain": {"encoder": "attention"}, "scaled": {"encoder": "attention", "scale": "none"}})
    assert c.name == "scale: default → none, in attention"


def _cells(axis_a: str, levels_a, axis_b: str, levels_b):
    return {
        f"attention[{axis_a}={x}, {axis_b}={y}]": {"encoder": "attention", axis_a: x, axis_b: y}
        for x in levels_a
        for y in levels_b
    }


def test_a_two_knob_grid_is_a_factorial_of_main_effects_and_interactions():
    configs = _cells("dropout", [0.0, 0.1, 0.3], "norm", [False, True])
    grid = {"dropout": [0.0, 0.1, 0.3], "norm": [False, True]}
    found = find(configs, baseline="attention[dropout=0.0, norm=False]", grid=grid)
    kinds = [c.kind for c in found]
    assert kinds.count("main effect") == 3 and kinds.count("interaction") == 2 and "pair" not in kinds
    main = next(c for c in found if c.name.startswith("norm: False → True, main effect"))
    weights = dict(main.weights)
    assert weights["attention[dropout=0.1, norm=True]"] == pytest.approx(1 / 3)
    assert weights["attention[dropout=0.3, norm=False]"] == pytest.approx(-1 / 3)
    inter = next(c for c in found if c.kind == "interaction" and "dropout=0.3" in c.name)
    assert dict(inter.weights) == {
        "attention[dropout=0.3, norm=True]": 1.0,
        "attention[dropout=0.3, norm=False]": -1.0,
        "attention[dropout=0.0, norm=True]": -1.0,
        "attention[dropout=0.0, norm=False]": 1.0,
    }
    # the weights give the textbook estimates on a table of cell means
    means = {label: i * 0.1 + (0.5 if c["norm"] else 0.0) for i, (label, c) in enumerate(configs.items())}
    effect = sum(w * means[label] for label, w in main.weights)
    on = np.mean([m for label, m in means.items() if configs[label]["norm"]])
    off = np.mean([m for label, m in means.items() if not configs[label]["norm"]])
    assert effect == pytest.approx(on - off)


def test_a_grid_over_a_training_knob_is_read_like_any_other():
    configs = _cells("training.lr", [0.01, 0.001], "norm", [False, True])
    found = find(configs, grid={"training.lr": [0.01, 0.001], "norm": [False, True]})
    assert {c.knob for c in found} == {"training.lr", "norm", "training.lr × norm"}
    assert any(c.name.startswith("training.lr: 0.01 → 0.001, main effect (mean over norm)") for c in found)


def test_knobs_flatten_model_and_training_and_leave_bookkeeping_out():
    config = {"model": {"dim": 2}, "training": {"lr": 0.1, "history_every": 10}, "seed": 3, "dataset": "x"}
    assert knobs(json.dumps(config)) == {"dim": 2, "training.lr": 0.1}


def test_the_study_keys_compare_and_primary_are_checked(write_study):
    study = load_study(write_study(compare=[["mean", "attention"]], primary="loss"))
    assert study.spec.compare == [["mean", "attention"]] and study.spec.primary == "loss"
    with pytest.raises(StudyError, match="compare: 'nope' is not one of the study's variants"):
        load_study(write_study(compare=[["mean", "nope"]]))
    with pytest.raises(StudyError, match="a cost, not a quality metric"):
        load_study(write_study(primary="train_seconds"))
