"""Seaborn figures of a study's results."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def curves(history: pd.DataFrame, metric: str, path: Path, title: str) -> Path:
    """`metric` vs epoch per variant with a 95% CI band over seeds, a panel per dataset."""
    sns.set_theme(style="whitegrid", context="paper")
    grid = sns.relplot(
        data=history,
        x="epoch",
        y=metric,
        hue="variant",
        col="dataset",
        kind="line",
        errorbar=("ci", 95),
        height=3.2,
        aspect=1.2,
        facet_kws={"sharey": True},
    )
    grid.set_axis_labels(
        "epoch", f"{metric} ({'binary cross-entropy, nats' if metric == 'loss' else 'fraction correct'})"
    )
    grid.set_titles("{col_name}")
    grid.figure.suptitle(title, y=1.03)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(grid.figure)
    return path
