"""Seaborn/matplotlib figures of a study's results. Each returns the path it wrote.

Every figure has a title and axes labelled with units; intervals drawn are the
report's own (Student-t over seeds, `suite.report.stats`), never a method of their own.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from suite import metrics  # noqa: E402
from suite.report.stats import MIN_SEEDS, mean_intervals, summarize  # noqa: E402
from suite.report.tables import metric_label  # noqa: E402


def sinusoidal_table(length: int, dim: int) -> np.ndarray:
    """The fixed sin/cos table of suite.models.positional, in numpy (the report runs no model
    code; tests/test_report.py checks the two agree): (T, D)."""
    position = np.arange(length, dtype=np.float32)[:, None]
    div = np.exp(np.arange(0, dim, 2, dtype=np.float32) * (-math.log(10000.0) / dim))
    table = np.zeros((length, dim + dim % 2), dtype=np.float32)
    table[:, 0::2], table[:, 1::2] = np.sin(position * div), np.cos(position * div)
    return table[:, :dim]


def rope_angles(length: int, head_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of RoPE's angle p·θ_i, θ_i = 10000^(-2i/d), as suite.models.positional: (T, d/2)."""
    theta = 10000.0 ** (-np.arange(0, head_dim, 2, dtype=np.float32) / head_dim)
    angles = np.arange(length, dtype=np.float32)[:, None] * theta
    return np.cos(angles), np.sin(angles)


def spans_decades(values, decades: float = 2.0) -> bool:
    """Positive values whose range covers `decades` powers of ten: draw them on a log axis."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    return len(x) > 1 and np.log10(x.max() / x.min()) >= decades


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def curve_bands(history: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean and 95% Student-t band over seeds of `metric` at each epoch, per dataset and
    variant: the tables' interval (`stats.mean_intervals`, cut to the metric's bounds), so a band
    never claims more than the numbers beside it. history: dataset, variant, seed, epoch, metric."""
    rows = []
    bounds = metrics.get(metric).bounds
    for (dataset, variant), g in history.groupby(["dataset", "variant"], observed=True, sort=False):
        table = g.pivot_table(index="seed", columns="epoch", values=metric, aggfunc="mean").dropna(axis=1)
        x = table.to_numpy(float)  # (seeds, epochs)
        lo = hi = np.full(x.shape[1], np.nan)
        if len(x) >= MIN_SEEDS:
            lo, hi = mean_intervals(x.T)
            equal = np.isnan(lo)  # every seed the same value: a line, no band
            lo[equal], hi[equal] = x.mean(axis=0)[equal], x.mean(axis=0)[equal]
            lo, hi = np.clip(lo, *bounds), np.clip(hi, *bounds)  # as the tables' intervals
        rows.append(
            pd.DataFrame(
                {
                    "dataset": dataset,
                    "variant": variant,
                    "epoch": table.columns,
                    "mean": x.mean(axis=0),
                    "lo": lo,
                    "hi": hi,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
LINESTYLES = ("-", "--", "-.", ":")
EXTRA_COLOURS = ((0.0, 0.0, 0.0), (0.55, 0.55, 0.0))  # after the 10 colour-blind-safe ones


def variant_styles(variants) -> dict[str, dict]:
    """A colour, marker and line style per variant, each triple distinct for up to 12 variants:
    the 10 colour-blind-safe colours and two more, 12 markers and 4 line styles in step, so two
    curves lying on each other (four models stuck at ln 2) still show as two."""
    names = [str(v) for v in variants]
    colours = list(sns.color_palette("colorblind", 10)) + list(EXTRA_COLOURS)
    if len(names) > len(colours):
        colours = list(sns.color_palette("husl", len(names)))
    return {
        name: {
            "color": colours[i],
            "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
        }
        for i, name in enumerate(names)
    }


def log_floor(bands: pd.DataFrame) -> float | None:
    """Where a log-axis band whose lower end is ≤ 0 stops: half the smallest positive mean drawn
    (None on a linear axis, where every band is drawn as computed)."""
    if not spans_decades(bands["mean"]):
        return None
    positive = bands["mean"][bands["mean"] > 0]
    return float(positive.min()) / 2 if len(positive) else None


def cut_bands(bands: pd.DataFrame) -> int:
    """How many (dataset, variant) bands a log axis cuts at `log_floor`: the caption says so."""
    if log_floor(bands) is None:
        return 0
    cut = bands[bands["lo"].notna() & (bands["lo"] <= 0)]
    return int(cut[["dataset", "variant"]].drop_duplicates().shape[0])


def curves(
    history: pd.DataFrame,
    metric: str,
    path: Path,
    title: str,
    chance: dict | None = None,
    in_steps: Collection[str] = (),
) -> Path:
    """`metric` vs epoch per variant with a 95% CI band over seeds, a panel per dataset, and the
    chance level (chance: dataset → value; the majority class's accuracy or the constant
    predictor's loss) as a dashed line. On a log axis a band reaching 0 or below ends at
    `log_floor` instead of plunging to the axis' limit. The datasets `in_steps` (drawn fresh each
    step: suite.report.load.in_steps) are drawn against steps."""
    sns.set_theme(style="whitegrid", context="paper")
    bands = curve_bands(history, metric)
    datasets = list(dict.fromkeys(bands["dataset"]))
    variants = list(dict.fromkeys(bands["variant"].astype(str)))
    styles = variant_styles(variants)
    floor = log_floor(bands)
    alpha = max(0.06, 0.2 - 0.012 * len(variants))  # many overlapping bands: fainter, lines stay legible
    cols = min(4, len(datasets))
    rows = -(-len(datasets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 3.0 * rows + 0.8), squeeze=False, sharey=True)
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        for i, variant in enumerate(variants):
            b = bands[(bands["dataset"] == dataset) & (bands["variant"].astype(str) == variant)]
            if b.empty:
                continue
            style = styles[variant]
            every = max(1, len(b) // 6)  # about six markers, staggered so overlapping lines show each
            ax.plot(
                b["epoch"], b["mean"], label=variant, lw=1.3, ms=4.5, markevery=(i % every, every), **style
            )
            lo = b["lo"].to_numpy(float)
            if floor is not None:
                lo = np.where(lo > 0, lo, floor)
            ax.fill_between(b["epoch"], lo, b["hi"], color=style["color"], alpha=alpha, lw=0)
        level = (chance or {}).get(dataset)
        if level is not None and np.isfinite(level):
            ax.axhline(level, color="0.35", lw=1.0, ls=(0, (5, 3)), label=CHANCE_LABEL.get(metric, "chance"))
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel("step" if dataset in in_steps else "epoch")
        ax.set_ylabel(f"{metric} ({metrics.get(metric).unit})")
        if floor is not None:
            ax.set_yscale("log")
    for ax in list(axes.flat)[len(datasets) :]:
        ax.set_axis_off()
    legend = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(
        list(legend.values()),
        list(legend),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(4, len(legend)),
        title="variant",
        handlelength=3.0,
    )
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


CHANCE_LABEL = {
    "accuracy": "chance: the majority class",
    "loss": "chance: the best constant predictor",
}


MAX_PANELS = 32


# A verdict's colour and marker in the effects figure: a verdict reads without colour too.
VERDICT_STYLE = {
    "better": ("#1b7837", "^"),
    "worse": ("#b2182b", "v"),
    "negligible": ("#4d4d4d", "s"),
    "equivalent": ("#2166ac", "D"),
    "inconclusive": ("#e08214", "o"),
    "identical": ("#000000", "X"),
}
OTHER_VERDICT = ("#9e9e9e", "o")
LABEL_WIDTH = 42  # characters per line of a contrast's name beside its row


def _wrap(text: str, width: int = LABEL_WIDTH) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def _verdict_key(verdict) -> str:
    word = str(verdict).strip().lower() if isinstance(verdict, str) else ""
    return next((v for v in VERDICT_STYLE if word.startswith(v)), word or "not compared")


def effect_rows(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The rows the effects figure draws: the verdict family (primary; a CSV may hold it as
    text), each with its verdict reduced to the word that picks its colour and marker, and
    whether a caveat is flagged beside it (an open marker)."""
    frame = comparisons
    if "primary" in frame:
        frame = frame[frame["primary"].astype(str).str.lower().isin(("true", "1"))]
    if not len(frame):
        return frame
    flags = frame["flags"] if "flags" in frame else pd.Series("", index=frame.index)
    return frame.assign(
        style=[_verdict_key(v) for v in frame["verdict"]],
        flagged=[isinstance(f, str) and bool(f.strip()) for f in flags],
    )


def effects(comparisons: pd.DataFrame, path: Path, title: str = "Contrast effects") -> Path | None:
    """A forest plot of the verdict family: each primary contrast a row with its Δ (b − a) and
    the interval printed beside its verdict, a panel per dataset; the shaded band is ±min_effect,
    the smallest effect worth a word, so a reader sees at once whether an interval clears it.
    comparisons: the rows of comparisons.csv (contrast, dataset, metric, primary, delta, lo, hi,
    min_effect, verdict, interval…). None when no row is primary."""
    frame = effect_rows(comparisons)
    if frame.empty:
        return None
    sns.set_theme(style="whitegrid", context="paper")
    datasets = list(dict.fromkeys(frame["dataset"]))
    contrasts = list(dict.fromkeys(frame["contrast"]))
    y_of = {c: i for i, c in enumerate(contrasts)}
    cols = min(3, len(datasets))
    rows = -(-len(datasets) // cols)
    height = 0.9 + 0.42 * len(contrasts)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.6 * cols + 3.0, height * rows + 0.9), squeeze=False, sharey=True
    )
    metric = str(frame["metric"].iloc[0]) if "metric" in frame else "metric"
    seen: dict[str, object] = {}
    flagged = False
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        mine = frame[frame["dataset"] == dataset]
        ax.axvline(0.0, color="black", lw=0.8, zorder=1)
        for r in mine.itertuples():
            y = y_of[r.contrast]
            m = float(getattr(r, "min_effect", np.nan))
            if np.isfinite(m) and m > 0:
                ax.fill_betweenx([y - 0.38, y + 0.38], -m, m, color="#bdbdbd", alpha=0.45, lw=0, zorder=0)
            key = _verdict_key(r.verdict)
            colour, marker = VERDICT_STYLE.get(key, OTHER_VERDICT)
            delta, lo, hi = (float(getattr(r, c, np.nan)) for c in ("delta", "lo", "hi"))
            if not np.isfinite(delta):
                ax.annotate(key, (0.0, y), ha="center", va="center", fontsize=7, color=colour)
                continue
            if np.isfinite(lo) and np.isfinite(hi):
                ax.hlines(y, lo, hi, color=colour, lw=1.8, zorder=2)
            face = "white" if r.flagged else colour  # a caveat beside the verdict: an open marker
            ax.scatter(delta, y, facecolors=face, edgecolors=colour, marker=marker, s=42, zorder=3)
            flagged = flagged or r.flagged
            if key not in seen:
                seen[key] = ax.scatter([], [], color=colour, marker=marker, s=42)
        ax.set_title(str(dataset), fontsize=9)
        ax.set_xlabel(f"Δ {metric_label(metric)}, b − a", fontsize=8)
        span = np.nanmax(np.abs(mine[["delta", "lo", "hi"]].to_numpy(float)), initial=0.0)
        band = np.nanmax(mine["min_effect"].to_numpy(float), initial=0.0) if "min_effect" in mine else 0.0
        limit = max(span, band, 1e-12) * 1.15
        ax.set_xlim(-limit, limit)
    for ax in list(axes.flat)[len(datasets) :]:
        ax.set_axis_off()
    first = axes.flat[0]
    first.set_yticks(range(len(contrasts)), [_wrap(c) for c in contrasts], fontsize=8)
    first.set_ylim(len(contrasts) - 0.5, -0.5)  # the first contrast on top
    for ax in axes[:, 0]:
        ax.set_ylabel("contrast (a → b)")
    band = plt.Rectangle((0, 0), 1, 1, color="#bdbdbd", alpha=0.45)
    extra = [band] + (
        [ax.scatter([], [], facecolors="white", edgecolors="0.3", marker="o", s=42)] if flagged else []
    )
    names = ["±smallest effect worth a word"] + (
        ["open marker: flagged (caveat in the Answer)"] if flagged else []
    )
    fig.legend(
        [*seen.values(), *extra],
        [*seen, *names],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(4, len(seen) + len(extra)),
        title="verdict",
    )
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def split_curves(
    history: pd.DataFrame, metric: str, path: Path, title: str, in_steps: Collection[str] = ()
) -> Path | None:
    """`metric` on every split over training (mean over seeds), a panel per dataset × variant:
    the overfitting plot (against steps for the datasets `in_steps`). None when there would be more
    than MAX_PANELS panels."""
    sns.set_theme(style="whitegrid", context="paper")
    panels = list(dict.fromkeys(zip(history["dataset"], history["variant"].astype(str), strict=True)))
    if len(panels) > MAX_PANELS:
        return None
    means = (
        history.groupby(["dataset", "variant", "split", "epoch"], observed=True)[metric].mean().reset_index()
    )
    splits = list(dict.fromkeys(history["split"]))
    palette = dict(zip(splits, sns.color_palette("colorblind", n_colors=len(splits)), strict=True))
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows + 0.6), squeeze=False, sharey=True)
    for ax, (dataset, variant) in zip(axes.flat, panels, strict=False):
        mine = means[(means["dataset"] == dataset) & (means["variant"].astype(str) == variant)]
        for split in splits:
            c = mine[mine["split"] == split]
            ax.plot(c["epoch"], c[metric], color=palette[split], label=split, lw=1.2)
        ax.set_title(f"{variant} · {dataset}", fontsize=8)
        ax.set_xlabel("step" if dataset in in_steps else "epoch")
        ax.set_ylabel(f"{metric} ({metrics.get(metric).unit})")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_axis_off()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(labels), title="split"
    )
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def grid_axis(frame: pd.DataFrame, axis: str, column: str, label: str, path: Path, title: str) -> Path:
    """`column` (mean, 95% t interval over seeds) against a numeric grid axis, a line per `line`
    value, a panel per dataset; the legend sits below the panels, off the data."""
    sns.set_theme(style="whitegrid", context="paper")
    datasets = list(dict.fromkeys(frame["dataset"]))
    lines = list(dict.fromkeys(frame["line"]))
    styles = variant_styles(lines)
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.8 * len(datasets), 3.2), squeeze=False, sharey=True)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for line in lines:
            g = frame[(frame["dataset"] == dataset) & (frame["line"] == line)]
            bounds = metrics.column(column).metric.bounds
            points = [(x, summarize(v[column], bounds)) for x, v in g.groupby(axis, sort=True)]
            if not points:
                continue
            x = np.array([p[0] for p in points], dtype=float)
            mean = np.array([p[1].mean for p in points])
            lo = np.array([p[1].lo for p in points])
            hi = np.array([p[1].hi for p in points])
            ax.errorbar(
                x,
                mean,
                yerr=[np.nan_to_num(mean - lo), np.nan_to_num(hi - mean)],
                capsize=3,
                label=line,
                **styles[str(line)],
            )
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel(axis)
        ax.set_ylabel(label)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(4, len(labels)))
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def point_plot(summary: pd.DataFrame, path: Path, title: str) -> Path:
    """Final metrics per variant: means with their 95% intervals (as in the tables), a row per metric and a
    column per dataset. summary: dataset, metric, label, variant, mean, lo, hi."""
    sns.set_theme(style="whitegrid", context="paper")
    datasets = list(dict.fromkeys(summary["dataset"]))
    metrics = list(dict.fromkeys(summary["label"]))
    fig, axes = plt.subplots(
        len(metrics),
        len(datasets),
        figsize=(2.2 + 2.6 * len(datasets), 0.6 + 2.4 * len(metrics)),
        squeeze=False,
        sharey="row",
    )
    for i, metric in enumerate(metrics):
        for j, dataset in enumerate(datasets):
            ax = axes[i][j]
            s = summary[(summary["label"] == metric) & (summary["dataset"] == dataset)]
            x = np.arange(len(s))
            lo = (s["mean"] - s["lo"]).fillna(0).clip(lower=0)
            hi = (s["hi"] - s["mean"]).fillna(0).clip(lower=0)
            ax.errorbar(x, s["mean"], yerr=[lo, hi], fmt="o", capsize=3, color="C0")
            ax.set_xticks(x, [str(v) for v in s["variant"]], rotation=40, ha="right")
            if i == 0:
                ax.set_title(dataset)
            if j == 0:
                unit = summary.loc[summary["label"] == metric, "unit"].iloc[0]
                ax.set_ylabel(f"{metric}\n({unit})")
            ax.set_xlabel("variant" if i == len(metrics) - 1 else "")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def scaling(points: pd.DataFrame, panels: dict[str, str], exponents: dict, path: Path, title: str) -> Path:
    """Cost vs sequence length on log-log axes, a line per variant labelled with its fitted
    exponent: the mean of the independent measurements at each length, with the report's own
    95% t interval over them as a band (none where a length has fewer than MIN_SEEDS
    measurements). points: `findings.scaling_points`; panels: column → axis label with unit;
    exponents: (column, variant) → (k, lo, hi, ...)."""
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.0), squeeze=False)
    variants = list(dict.fromkeys(points["variant"]))
    styles = variant_styles(variants)
    for ax, (column, label) in zip(axes[0], panels.items(), strict=True):
        mine = points[points["column"] == column]
        floor = float(mine["mean"].min()) / 2 if len(mine) else 0.0  # a band reaching 0 ends here
        for variant in variants:
            v = mine[mine["variant"] == variant]
            if v.empty:
                continue
            x, mean = v["T"].to_numpy(float), v["mean"].to_numpy(float)
            lo, hi = v["lo"].to_numpy(float), v["hi"].to_numpy(float)
            ax.plot(x, mean, label=variant, **styles[str(variant)])
            band = np.isfinite(lo)
            if band.any():
                ax.fill_between(
                    x,
                    np.where(lo > 0, lo, floor),
                    hi,
                    where=band,
                    color=styles[str(variant)]["color"],
                    alpha=0.2,
                    lw=0,
                )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T (tokens, log scale)")
        ax.set_ylabel(f"{label} (log scale)")
        handles, names = ax.get_legend_handles_labels()
        names = [f"{n}  T^{exponents.get((column, n), (np.nan,))[0]:.2f}" for n in names]
        ax.legend(  # beside the panel, never over the data
            handles,
            names,
            fontsize=7,
            title="variant, fitted exponent",
            loc="upper left",
            bbox_to_anchor=(1.02, 1),
        )
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _heatmap(ax, matrix: np.ndarray, title: str, xlabel: str, ylabel: str, cmap="viridis"):
    mesh = ax.pcolormesh(matrix, cmap=cmap)
    ax.set_ylim(matrix.shape[0], 0)  # position 0 at the top, as usually drawn
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return mesh


def positional_heatmaps(
    length: int,
    dim: int,
    learned: dict[str, np.ndarray],
    path: Path,
    title: str,
    *,
    sinusoidal: bool = False,
    rope_dim: int | None = None,
) -> Path | None:
    """The position tables a study's variants use: sinusoidal PE(p, i) of width `dim` where
    `sinusoidal`, rope's rotation cos/sin(p·θ_i) for a head of width `rope_dim` where given, and
    each learned table (label → (positions, dim)) after training. None when there is none to draw."""
    panels = (
        [("sinusoidal (fixed)", sinusoidal_table(length, dim), "embedding dimension")] if sinusoidal else []
    )
    if rope_dim is not None and rope_dim % 2 == 0:
        cos, sin = rope_angles(length, rope_dim)
        rope = np.concatenate([cos, sin], axis=1)
        panels.append(
            (
                f"rope (fixed, head width {rope_dim}): cos | sin of p·θ_i",
                rope,
                "rotation pair i (cos, then sin)",
            )
        )
    panels += [(f"learned after training:\n{k}", v, "embedding dimension") for k, v in learned.items()]
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False, layout="constrained"
    )
    for ax, (name, matrix, xlabel) in zip(axes.flat, panels, strict=False):
        mesh = _heatmap(ax, matrix, name, xlabel, "token position")
        fig.colorbar(mesh, ax=ax, label="value (added to the embedding)" if "rope" not in name else "value")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_axis_off()
    fig.suptitle(title)
    return _save(fig, path)


def attention_heads(panels: list[tuple[str, int, np.ndarray, list[int]]], path: Path, title: str) -> Path:
    """Attention weights, a row per variant and a panel per head. panels: (variant, head,
    (T, T) weights, input tokens)."""
    variants = list(dict.fromkeys(p[0] for p in panels))
    heads = max(p[1] for p in panels) + 1
    rows, cols = (len(variants), heads) if heads > 1 else (1, len(variants))  # single heads: one row
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.4 * cols + 1.2, 3.4 * rows + 0.6), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.set_axis_off()
    mesh = None
    for variant, head, weights, tokens in panels:
        i = variants.index(variant)
        ax = axes[i][head] if heads > 1 else axes[0][i]
        ax.set_axis_on()
        mesh = ax.pcolormesh(weights, cmap="magma", vmin=0, vmax=1)
        ax.set_ylim(weights.shape[0], 0)
        ax.set_title(f"{variant} · head {head + 1}", fontsize=8)
        ax.set_xlabel("key position (token)", fontsize=7)
        ax.set_ylabel("query position (token)", fontsize=7)
        if len(tokens) <= 16:
            ticks = np.arange(len(tokens)) + 0.5
            names = [f"{i}:{t}" for i, t in enumerate(tokens)]
            ax.set_xticks(ticks, names, fontsize=6, rotation=90)
            ax.set_yticks(ticks, names, fontsize=6)
        else:
            ax.tick_params(labelsize=6)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes, label="attention weight (softmax, rows sum to 1)", shrink=0.8)
    fig.suptitle(title)
    return _save(fig, path)
