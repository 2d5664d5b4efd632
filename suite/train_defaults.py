"""Training defaults that the study schema (suite.study) and the training loops (suite.train,
suite.vectorized) both read, kept apart so that loading a study imports no torch."""

from __future__ import annotations

EVAL_BATCH_SIZE = 4096  # rows per evaluation pass (training.eval_batch_size): bounds memory, not results
SELECT_DEFAULT = "val_accuracy"  # the history point reported (training.select)
# Knobs only suite.train implements (suite.vectorized does not): a trial with any of them away
# from its default trains one at a time. Their defaults, which study.TrainingSpec uses too.
ONE_AT_A_TIME_KNOBS = {"lr_schedule": "constant", "warmup": 0.0, "label_smoothing": 0.0, "retrain": False}
