import re

import pytest

from suite.study import StudyError, load_study


def test_expands_variants_datasets_seeds_and_grid(write_study):
    path = write_study(
        variants=["mean", {"name": "attention", "label": "att_nopos", "positional": "none"}],
        datasets=["reversal", "relative"],
        seeds=[3, 7],
        grid={"residual": [True, False]},
    )
    study = load_study(path)
    trials = study.trials()
    assert len(trials) == 2 * 2 * 2 * 2
    labels = {t.variant for t in trials}
    assert "att_nopos[residual=False]" in labels
    att = next(t for t in trials if t.variant.startswith("att_nopos"))
    assert att.model["positional"] == "none" and att.model["dim"] == 2
    assert {t.seed for t in trials} == {3, 7}
    assert len({t.key for t in trials}) == len(trials)


def test_trial_key_is_stable_and_depends_on_config(write_study):
    a = load_study(write_study()).trials()
    b = load_study(write_study()).trials()
    assert [t.key for t in a] == [t.key for t in b]
    c = load_study(write_study(training={"lr": 0.5})).trials()
    assert a[0].key != c[0].key


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"trainig": {}}, r"trainig: unknown key; allowed keys: description"),
        ({"training": {"optimiser": "adam"}}, r"training.optimiser: unknown key; allowed keys: optimizer"),
        ({"training": {"lr": "fast"}}, r"training.lr: .*number.*'fast'"),
        ({"training": {"optimizer": "lion"}}, r"training.optimizer: .*'adam'.*'lion'"),
        ({"seeds": 0}, r"seeds"),
        ({"devices": ["gpu"]}, r"devices.*'gpu' is not one of cpu, cuda"),
        ({"devices": ["cpu", "cpu"]}, r"devices: device 'cpu' is listed twice"),
        (  # a check of the whole mapping names where the mapping is, and no "(top level)"
            {"variants": [{"name": "mean", "training": {"patience": 2, "select": "final"}}]},
            r"yaml: variants\[0\]\.training: patience stops on the val metric",
        ),
        (
            {"variants": [{"name": "mean", "training": {"lrr": 0.1}}]},
            r"variants\[0\]\.training\.lrr: unknown key; allowed keys: optimizer.*did you mean 'lr'",
        ),
        ({"variants": ["atention"]}, r"variants\[0\]: unknown variant 'atention'; did you mean 'attention'"),
        ({"datasets": ["reversl"]}, r"datasets\[0\]: unknown dataset 'reversl'"),
        (
            {"variants": [{"name": "lstm", "positional": "rope"}]},
            r"variants\[0\]: positional='rope' rotates attention queries and keys; encoder='lstm' has none",
        ),
        ({"variants": [{"name": "multihead", "heads": 3}]}, r"heads=3 must divide dim=2"),
        (
            {"variants": [{"name": "mean", "positionl": "none"}]},
            r"variants\[0\]: unknown model parameter 'positionl'",
        ),
        ({"grid": {"colour": [1]}}, r"grid.colour: unknown model parameter"),
        ({"grid": {"encoder": ["mlp"]}}, r"grid.*encoder cannot be a grid: axis"),
        ({"variants": ["mean", "mean"]}, r"label 'mean' is used twice.*variants\[1\]: label: 'mean_2'"),
        (
            {"variants": ["attention", {"name": "attention", "kernel": "naive"}]},
            r"label 'attention' is used twice; give each entry its own label, e.g. variants\[0\]: "
            r"label: 'attention', variants\[1\]: label: 'attention\(kernel=naive\)'",
        ),
    ],
)
def test_bad_studies_name_file_key_and_value(write_study, spec, message):
    path = write_study(**spec)
    with pytest.raises(StudyError, match=message) as err:
        load_study(path)
    assert str(path) in str(err.value)


def test_non_mapping_and_invalid_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(StudyError, match="must be a YAML mapping"):
        load_study(bad)
    bad.write_text("description: [unclosed\n")
    with pytest.raises(StudyError, match="not valid YAML"):
        load_study(bad)


def test_committed_studies_are_valid():
    from pathlib import Path

    directory = Path(__file__).resolve().parent.parent / "studies"
    for path in directory.glob("*.yaml"):
        assert load_study(path).trials(), path


def test_baseline_must_name_a_variant_and_leaves_keys_alone(write_study):

    plain = load_study(write_study())
    with_baseline = load_study(write_study(baseline="attention"))
    assert [t.key for t in plain.trials()] == [t.key for t in with_baseline.trials()]
    with pytest.raises(StudyError, match=r"baseline: 'atention' is not one of .*valid: mean, attention"):
        load_study(write_study(baseline="atention"))
    grid = load_study(
        write_study(variants=["attention"], grid={"heads": [1, 2]}, baseline="attention[heads=2]")
    )
    assert grid.spec.baseline == "attention[heads=2]"


def test_an_inline_override_keeps_the_variants_name(write_study):
    """`{name: lstm, dim: 32}` is still `lstm`: the baseline and the report use the name written."""
    study = load_study(
        write_study(variants=[{"name": "lstm", "dim": 4}, "mean"], baseline="lstm", datasets=["reversal"])
    )
    assert [t.variant for t in study.trials()][:1] == ["lstm"]
    assert study.trials()[0].model["dim"] == 4
    assert study.meta()["variants"] == ["lstm", "mean"]


def test_artifacts_off_keeps_earlier_keys_and_on_changes_them(write_study):

    plain = load_study(write_study())
    off = load_study(write_study(measure={"repeats": 2, "warmup": 1, "artifacts": False}))
    on = load_study(write_study(measure={"repeats": 2, "warmup": 1, "artifacts": True}))
    assert [t.key for t in plain.trials()] == [t.key for t in off.trials()]
    assert on.trials()[0].measure["artifacts"] is True
    assert on.trials()[0].key != plain.trials()[0].key


def test_a_variant_may_bring_its_own_training_and_dataset_parameters(write_study):
    plain = load_study(write_study(variants=["mean", "attention"], datasets=["reversal"]))
    own = load_study(
        write_study(
            variants=[
                "mean",
                {"name": "attention", "training": {"optimizer": "sgd", "lr": 0.5}},
            ],
            datasets=["reversal"],
        )
    )
    by_variant = {t.variant: t for t in own.trials()}
    assert (
        by_variant["attention"].training["optimizer"] == "sgd"
        and by_variant["attention"].training["lr"] == 0.5
    )
    same = {t.variant: t.key for t in plain.trials() if t.variant == "mean"}
    assert {t.variant: t.key for t in own.trials() if t.variant == "mean"} == same  # untouched keys


def test_a_variants_dataset_parameters_apply_to_it_alone(write_study):
    study = load_study(
        write_study(
            variants=["mean", {"name": "mean", "label": "longer", "dataset": {"T": 12}}],
            datasets=[{"name": "order", "T": 8}],
        )
    )
    lengths = {t.variant: t.dataset_params["T"] for t in study.trials()}
    assert lengths == {"mean": 8, "longer": 12}
    assert {t.dataset for t in study.trials()} == {"order"}


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"name": "mean", "training": {"optimizer": "lbfgs"}}, "variants[0].training"),
        ({"name": "mean", "training": ["sgd"]}, "variants[0].training: must be a mapping"),
        (
            {"name": "mean", "dataset": {"colour": 1}},
            "variants[0].dataset: dataset 'reversal' has no parameter 'colour'",
        ),
    ],
)
def test_bad_variant_overrides_name_the_key(write_study, entry, message):
    with pytest.raises(StudyError, match=re.escape(message)):
        load_study(write_study(variants=[entry], datasets=["reversal"]))


def test_a_data_path_that_is_not_a_path_is_one_line(write_study):
    message = "datasets[0]: dataset 'imdb': data_path must be a path (a string) or null, got 3"
    with pytest.raises(StudyError, match=re.escape(message)):
        load_study(write_study(datasets=[{"name": "imdb", "data_path": 3}]))


def test_patience_needs_a_val_metric_to_stop_on(write_study):
    with pytest.raises(StudyError, match=r"yaml: training: patience stops .* select: final has none") as err:
        load_study(write_study(datasets=["order"], training={"patience": 2, "select": "final"}))
    assert "Value error" not in str(err.value)
    with pytest.raises(StudyError, match=r"on dataset 'reversal': patience stops on the val split"):
        load_study(write_study(datasets=["reversal"], training={"patience": 2}))
    assert load_study(write_study(datasets=["order"], training={"patience": 2})).trials()


def test_grid_sweeps_any_section_as_a_labelled_axis(write_study):
    """Training, measurement and dataset knobs are grid axes like model ones: each value a label."""
    study = load_study(
        write_study(
            variants=["mean"],
            datasets=[{"name": "order", "V": 4, "T": 8, "n": 40}],
            grid={"training.lr": [0.001, 0.01], "measure": {"repeats": [1]}, "dataset.T": [4, 6], "dim": [2]},
        )
    )
    trials = study.trials()
    assert len(trials) == 2 * 2 * 2  # lr × T × seeds
    assert len({t.variant for t in trials}) == 4
    by_label = {t.variant: t for t in trials}
    lr = by_label["mean[lr=0.01, repeats=1, T=6, dim=2]"]
    assert lr.training["lr"] == 0.01 and lr.measure["repeats"] == 1 and lr.dataset_params["T"] == 6
    assert '"lr": 0.01' in lr.base_row()["config"]  # the resolved training is in the stored row
    meta = study.meta()
    assert meta["grid"]["training.lr"] == [0.001, 0.01]
    assert meta["factors"]["mean[lr=0.01, repeats=1, T=6, dim=2]"] == {
        "variant": "mean",
        "training.lr": 0.01,
        "measure.repeats": 1,
        "dataset.T": 6,
        "dim": 2,
    }


def test_a_grid_axis_keeps_the_keys_of_the_same_trials_written_by_hand(write_study):
    """A training axis gives the trials a variant with that training would have: the same keys."""
    swept = load_study(write_study(variants=["mean"], grid={"lr": [0.5]}, datasets=["reversal"]))
    by_hand = load_study(
        write_study(variants=["mean"], training={**swept.spec.training.model_dump(), "lr": 0.5})
    )
    assert [t.training for t in swept.trials()] == [t.training for t in by_hand.trials()]
    assert [t.variant for t in swept.trials()] == ["mean[lr=0.5]"] * 2


@pytest.mark.parametrize(
    "grid, message",
    [
        ({"lrr": [1]}, r"grid.lrr: unknown model parameter or training knob; did you mean 'lr'\?"),
        ({"training.lrr": [1]}, r"grid.training.lrr: unknown training knob; did you mean 'lr'\?"),
        ({"training.lr": ["fast"]}, r"grid.training.lr: .*number.*\(got 'fast'\)"),
        ({"training.vectorize": [True]}, r"grid.training.vectorize: unknown training knob"),
        ({"optim.lr": [1]}, r"grid.optim.lr: 'optim' is not a section a grid: axis may vary; valid: model"),
        ({"dataset.TT": [1]}, r"grid.dataset: dataset 'reversal' has no parameter 'TT'"),
        ({"training.lr": 0.1}, r"grid.training.lr: a list of values"),
    ],
)
def test_bad_grid_axes_are_named(write_study, grid, message):
    with pytest.raises(StudyError, match=message):
        load_study(write_study(grid=grid))


def test_a_grid_axis_may_not_be_set_by_a_variant_too(write_study):
    with pytest.raises(StudyError, match=r"variants\[0\].training.lr: also a grid axis"):
        load_study(
            write_study(variants=[{"name": "mean", "training": {"lr": 0.1}}], grid={"training.lr": [1]})
        )
    with pytest.raises(StudyError, match=r"tune.grid.lr: also an axis of grid:"):
        load_study(write_study(grid={"training.lr": [1]}, tune={"grid": {"lr": [0.1, 0.2]}}))


def test_with_a_grid_the_baseline_may_name_the_variant(write_study):
    """`baseline: mean` with a grid is mean at the grid's first point; the report pairs each other
    label with the baseline at its own point."""
    study = load_study(write_study(grid={"training.lr": [0.1, 0.2]}, baseline="mean"))
    assert study.baseline == "mean[lr=0.1]" and study.meta()["baseline"] == "mean[lr=0.1]"
    with pytest.raises(
        StudyError, match=r"baseline: 'lstm' is not one of the study's variants; valid: mean\[lr=0.1\]"
    ):
        load_study(write_study(grid={"training.lr": [0.1, 0.2]}, baseline="lstm"))


def test_select_names_any_computed_quality_metric_on_val(write_study):
    """`training.select: val_<metric>` for every quality metric the evaluator computes; anything else,
    or a metric the dataset's task does not compute, is one line naming the valid choices."""
    with pytest.raises(
        StudyError, match=r"yaml: training\.select: not a point to select; valid: final, val_loss, "
    ):
        load_study(write_study(datasets=["order"], training={"select": "val_bitz"}))
    with pytest.raises(StudyError) as err:
        load_study(write_study(datasets=["order"], training={"select": "test_accuracy"}))
    assert "\n" not in str(err.value) and "val_accuracy" in str(err.value)
    with pytest.raises(
        StudyError,
        match=r"training\.select: val_bits is not computed on a 'classify' dataset; valid: final, val_loss, val_accuracy$",
    ):
        load_study(write_study(datasets=["order"], training={"select": "val_bits"}))
    recall = {"name": "mqar", "V": 64, "T": 16, "num_kv_pairs": 2, "n_train": 8, "n_test": 8}
    study = load_study(
        write_study(
            variants=[{"name": "decoder_lm", "depth": 1}],
            datasets=[recall],
            model={"dim": 8},
            training={"epochs": 1, "select": "val_bits"},
        )
    )
    assert {t.training["select"] for t in study.trials()} == {"val_bits"}
