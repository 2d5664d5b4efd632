import pandas as pd
import pytest
from conftest import tuned

from suite import tune
from suite.runner import run
from suite.store import Store
from suite.study import StudyError, load_study


def test_every_variant_gets_the_same_number_of_configurations_at_fresh_seeds(write_study):
    study = tuned(write_study)
    groups = study.tuning.groups
    assert [len(g.points) for g in groups] == [2, 2]
    trials = study.trials()
    assert len(trials) == 4 and not study.tuning.groups[0].final  # only tuning trials until they ran
    assert {t.seed for t in trials} == {10_000}  # clear of the study's seeds 0 and 1
    assert {t.training["lr"] for t in trials if t.variant == "mean"} == {0.01, 0.03}
    assert {t.model["dropout"] for t in trials if t.variant == "ngram_linear"} == {0.0, 0.5}
    # `ablate check`'s count: the study's own trials (which the chosen ones will be), and tuning's
    assert (
        study.shape
        == " (4 tuning trials; then 2 variants × 1 datasets × 2 seeds × 1 device(s) once tuning has chosen)"
    )


def test_an_unequal_budget_is_refused(write_study):
    with pytest.raises(StudyError, match="equal budget"):
        tuned(write_study, variants=["mean", {"name": "ngram_linear", "tune": {"lr": [0.1, 0.2, 0.3]}}])


def test_tuning_seeds_must_not_overlap_the_studys_and_need_a_val_split(write_study):
    with pytest.raises(StudyError, match=r"tiny.yaml: tune.seeds: seed 1 .*fresh seeds"):
        tuned(write_study, tune={"grid": {"lr": [0.01]}, "seeds": [1, 10_000]})
    with pytest.raises(StudyError, match="no val split"):
        tuned(write_study, datasets=["reversal"])
    with pytest.raises(StudyError, match="tune.grid: learning_rate: unknown training or model knob"):
        tuned(write_study, tune={"grid": {"learning_rate": [0.01]}})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"variants": ["mean", {"name": "ngram_linear", "tune": {"lr": 0.3}}]},
            r"variants\[1\].tune: lr: a list of values, e.g. lr: \[0.3\]",
        ),
        (
            {"variants": ["mean", {"name": "ngram_linear", "tune": {"lr": []}}]},
            r"variants\[1\].tune: lr: list at least one value",
        ),
        (
            {"variants": ["mean", {"name": "ngram_linear", "tune": {"vectorize": [False]}}]},
            "vectorize: unknown training or model knob",
        ),
        ({"tune": {"grid": {"lr": [0.01]}, "seeds": [-1]}}, "out of range"),
        ({"tune": {"grid": {"encoder": ["mlp", "lstm"]}}}, "encoder cannot be tuned"),
        (
            {"grid": {"dropout": [0.1, 0.2]}, "tune": {"grid": {"dropout": [0.0, 0.3]}}},
            r"tune.grid.dropout: also an axis",
        ),
        (
            {"variants": ["mean", {"name": "ngram_linear", "dropout": 0.1, "tune": {"dropout": [0.0, 0.5]}}]},
            r"variants\[1\].tune.dropout: also set by variants\[1\] itself",
        ),
        (
            {
                "variants": [
                    "mean",
                    {"name": "ngram_linear", "training": {"lr": 0.1}, "tune": {"lr": [0.1, 0.5]}},
                ]
            },
            r"variants\[1\].tune.lr: also set by variants\[1\] itself",
        ),
        (  # the study's grid, against a variant's own model setting and its own training
            {"variants": [{"name": "attention", "heads": 2}], "tune": {"grid": {"heads": [1, 2]}}},
            r"tune.grid.heads: also set by variants\[0\] itself",
        ),
        (
            {"variants": ["mean", {"name": "mean", "label": "m", "training": {"lr": 0.5}}]},
            r"tune.grid.lr: also set by variants\[1\] itself",
        ),
        ({"tune": {"grid": {"lr": [0.01]}, "seeds": 2, "seed_base": 2**32 - 1}}, "below 2"),
        ({"tune": {"grid": {"patience": [2], "select": ["final"]}}}, r"tune.grid \(mean\): patience stops"),
    ],
)
def test_a_bad_tuning_grid_or_seed_is_one_line_at_load(write_study, spec, message):
    with pytest.raises(StudyError, match=message) as err:
        tuned(write_study, **spec)
    assert "\n" not in str(err.value)


def test_keys_follow_the_general_rule(write_study):
    plain = load_study(write_study(variants=["mean"], datasets=["order"], training={"lr": 0.01, "epochs": 2}))
    trial = plain.trials()[0]
    assert tune.configure(trial, {"lr": 0.01}, trial.seed).key == trial.key  # the default point: same key
    assert tune.configure(trial, {"label_smoothing": 0.0}, trial.seed).key == trial.key
    smoothed = tune.configure(trial, {"label_smoothing": 0.1}, trial.seed)
    assert smoothed.key != trial.key and smoothed.training["label_smoothing"] == 0.1
    assert plain.tuning is None and "tuning" not in plain.meta()


def test_run_tunes_then_runs_the_chosen_configuration_and_resumes(write_study, tmp_path):
    study = tuned(write_study)
    store = Store(tmp_path / "results")
    counts = run(study, store, progress=False)
    assert counts["ok"] == 4 + 4 and counts["cached"] == 0  # 4 tuning trials, 2 variants × 2 seeds
    meta = store.meta()
    for group in study.tuning.groups:
        chosen = group.points[group.chosen]
        assert [t.seed for t in group.final] == [0, 1]
        for t in group.final:
            assert all(t.training.get(k, t.model.get(k)) == v for k, v in chosen.items())
    assert set(meta["keys"]) == {t.key for t in study.trials()}
    assert set(meta["tuning"]["keys"]) < set(meta["keys"])
    assert all(g["chosen"] is not None for g in meta["tuning"]["groups"])
    again = run(tuned(write_study), store, progress=False)
    assert again["ok"] == 0 and again["cached"] == 8


class FakeStore:
    def __init__(self, rows):
        self.rows = pd.DataFrame(rows)

    def runs(self):
        return self.rows


def test_the_choice_reads_val_never_test(write_study):
    study = tuned(write_study, variants=["mean"])
    (group,) = study.tuning.groups
    (a,), (b,) = group.tuning
    rows = [  # a is better on val, b on test
        {"key": a.key, "status": "ok", "selected_val_accuracy": 0.8, "selected_accuracy": 0.5},
        {"key": b.key, "status": "ok", "selected_val_accuracy": 0.7, "selected_accuracy": 0.99},
    ]
    tune.resolve(study, FakeStore(rows))
    assert group.chosen == 0 and group.scores == [0.8, 0.7]
    assert [t.training["lr"] for t in group.final] == [0.01, 0.01]


def test_no_choice_until_every_tuning_trial_finished_and_a_diverged_one_never_wins(write_study):
    study = tuned(write_study, variants=["mean"])
    (group,) = study.tuning.groups
    (a,), (b,) = group.tuning
    tune.resolve(study, FakeStore([{"key": a.key, "status": "ok", "selected_val_accuracy": 0.8}]))
    assert group.chosen is None and len(study.trials()) == 2
    assert "1 of 1 variant × dataset groups still tuning; each adds 2 trial(s)" in tune.pending_note(study)
    rows = [
        {"key": a.key, "status": "diverged", "selected_val_accuracy": 0.9},
        {"key": b.key, "status": "ok", "selected_val_accuracy": 0.6},
    ]
    tune.resolve(study, FakeStore(rows))
    assert group.chosen == 1 and len(study.trials()) == 4 and tune.pending_note(study) == ""


def test_a_failed_tuning_trial_is_retried_before_a_choice_and_the_choice_follows_the_store(write_study):
    study = tuned(write_study, variants=["mean"])
    (group,) = study.tuning.groups
    (a,), (b,) = group.tuning
    failed = [
        {"key": a.key, "status": "failed", "selected_val_accuracy": None},
        {"key": b.key, "status": "ok", "selected_val_accuracy": 0.6},
    ]
    tune.resolve(study, FakeStore(failed), before_a_run=True)  # the run will try `a` again
    assert group.chosen is None and group.final == [] and len(study.trials()) == 2
    tune.resolve(study, FakeStore(failed))  # it failed again: it scores −∞ and b is chosen
    assert group.chosen == 1 and len(study.trials()) == 4
    retried = [{**failed[0], "status": "ok", "selected_val_accuracy": 0.9}, failed[1]]
    tune.resolve(study, FakeStore(retried))  # the store changed: so does the choice
    assert group.chosen == 0 and {t.training["lr"] for t in group.final} == {0.01}


def test_skipped_tuning_waits_before_a_run_and_a_changed_choice_runs_its_finals(write_study):
    """Skipped trials run again, as failed ones do: their group chooses after the run, and a choice
    that differs with the same number of trials still gets its own final trials."""
    study = tuned(write_study, variants=["mean"])
    (group,) = study.tuning.groups
    (a,), (b,) = group.tuning
    store = FakeStore([{"key": t.key, "status": "skipped", "selected_val_accuracy": None} for t in (a, b)])
    passes = []

    def run_once(force=True):
        passes.append({t.key for t in study.trials()})
        store.rows = pd.DataFrame(  # the data is there now: both tuning trials run, and b wins
            [
                {"key": a.key, "status": "ok", "selected_val_accuracy": 0.6},
                {"key": b.key, "status": "ok", "selected_val_accuracy": 0.9},
            ]
        )
        return {"ok": len(passes[-1]), "diverged": 0, "failed": 0, "skipped": 0, "cached": 0}

    tune.run(study, store, run_once)
    assert passes[0] == {a.key, b.key}  # no final trials at a configuration not yet chosen
    assert len(passes) == 2 and group.chosen == 1
    assert {t.training["lr"] for t in group.final} == {group.points[1]["lr"]}
    assert {t.key for t in group.final} <= passes[1]
    still_skipped = FakeStore(
        [{"key": t.key, "status": "skipped", "selected_val_accuracy": None} for t in (a, b)]
    )
    tune.resolve(study, still_skipped)  # after a run that skipped them again: the first configuration
    assert group.chosen == 0 and len(group.final) == 2
