"""Training defaults that the study schema (suite.study) and the training loops (suite.train,
suite.vectorized) both read, kept apart so that loading a study imports no torch."""

from __future__ import annotations

EVAL_BATCH_SIZE = 4096  # rows per evaluation pass (training.eval_batch_size): bounds memory, not results
SELECT_DEFAULT = "val_accuracy"  # the history point reported (training.select)
# Knobs only suite.train implements (suite.vectorized does not): a trial with any of them away
# from its default trains one at a time. Their defaults, which study.TrainingSpec uses too.
# `weight_decay_on: matrices` needs parameter groups, which the stacked flat buffer has not.
ONE_AT_A_TIME_KNOBS = {
    "lr_schedule": "constant",
    "warmup": 0.0,
    "label_smoothing": 0.0,
    "weight_decay_on": "all",
    "retrain": False,
    "bucket_pool": None,  # length bucketing (suite.train.bucketed): batches per length-sorted pool
}
# Knobs added for language models (nanoGPT's configuration), each at torch's or the suite's earlier
# behaviour by default, so trials that do not set them train, and are keyed, as before.
LM_KNOBS = {
    "beta1": 0.9,  # Adam/AdamW's β₁ (torch's default)
    "beta2": 0.999,  # Adam/AdamW's β₂ (torch's default; nanoGPT's small models use 0.99)
    "min_lr": 0.0,  # where a cosine or linear decay ends (nanoGPT: lr / 10)
    # The decay of the running average of squared gradients, Keras' `rho` for both optimizers that
    # keep one: Adadelta's rho, RMSprop's alpha; None: torch's own (Adadelta 0.9, RMSprop 0.99).
    # Kim 2014: Adadelta 0.95; Keras' RMSprop (Chollet's IMDB MLP): 0.9.
    "rho": None,
    # The term added to the update's denominator (Adam, AdamW, RMSprop, Adadelta); None: torch's
    # own (1e-8; Adadelta 1e-6). Keras 2's RMSprop and Adam: 1e-7 (K.epsilon()).
    "eps": None,
    "eval_rows": None,  # rows of each split evaluated at history points (evenly spaced, fixed); None: all
}
# What a history point evaluates (training.history_splits): "all" splits by default, as always;
# "held_out" leaves the training split out (val and the eval split); "val" evaluates val alone and
# the eval split once, at the selected weights (suite.train_run), for studies that read neither the
# training split's curve nor the eval split's, and whose splits are large (real corpora, where a
# pass over the splits costs as much as the epoch's training).
EVAL_KNOBS = {"history_splits": "all"}
HISTORY_SPLITS = ("all", "held_out", "val")
