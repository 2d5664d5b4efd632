import math

import pytest

from suite import metrics
from suite.registry import UnknownNameError


def test_columns_are_read_through_the_registry():
    c = metrics.column("selected_test_long_accuracy")
    assert (c.metric.name, c.stage, c.split) == ("accuracy", "selected", "test_long")
    assert metrics.column("final_loss").label("test") == "final loss on test"
    assert metrics.column("selected_accuracy").label("test") == "accuracy on test"
    assert metrics.column("peak_train_mem_bytes").metric.bytes
    assert not metrics.column("best_val_loss").metric.higher_is_better
    assert metrics.column("train_samples_per_s").metric.shared_by == "timing_group"
    assert metrics.column("peak_train_mem_bytes").metric.shared_by == "memory_group"
    assert metrics.column("infer_samples_per_s").metric.shared_by is None


def test_unknown_metrics_get_one_clear_line():
    with pytest.raises(UnknownNameError, match="did you mean 'accuracy'"):
        metrics.get("acuracy")
    with pytest.raises(UnknownNameError, match="not a metric column"):
        metrics.column("final_bleu")


def test_min_effect_defaults_and_overrides():
    loss, acc = metrics.get("loss"), metrics.get("accuracy")
    assert acc.min_effect(0.9) == 0.005 and acc.min_effect(0.9, override=0.02) == 0.02
    assert loss.min_effect(1.5e-5) == 0.01  # an absolute floor near zero loss
    assert loss.min_effect(2.0) == pytest.approx(0.1)  # 5% of a large loss
    assert acc.clip(-0.1, 1.2) == (0.0, 1.0) and math.isnan(acc.clip(math.nan, math.nan)[0])
    assert metrics.get("peak_train_mem_bytes").format(2048) == "2.0 KiB"


def test_study_min_effect_is_checked(write_study):
    from suite.study import StudyError, load_study

    study = load_study(write_study(min_effect={"accuracy": 0.01}))
    assert study.spec.min_effect == {"accuracy": 0.01}
    with pytest.raises(StudyError, match="did you mean 'accuracy'"):
        load_study(write_study(min_effect={"acuracy": 0.01}))
    with pytest.raises(StudyError, match="only quality metrics"):
        load_study(write_study(min_effect={"train_samples_per_s": 0.01}))
    plain = load_study(write_study())
    assert [t.key for t in plain.trials()] == [t.key for t in study.trials()]  # not in trial keys
