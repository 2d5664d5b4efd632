"""The kernel study's report: time, GFLOP/s, % of GEMM and peak memory against T,
with fitted power-law exponents, the goals the suite holds `chunked` to, and the
trend of the CI speed gate. Reads only results/<study>/ (runs.parquet, study.json,
bench_history.parquet)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from tabulate import tabulate  # noqa: E402

from suite.metrics import human_bytes  # noqa: E402
from suite.report.load import last_line  # noqa: E402
from suite.store import Store  # noqa: E402

HISTORY = "bench_history.parquet"
FIT_FROM_T = 512  # exponents are fitted over T ≥ this: past the tile size, where the T² terms dominate
GOAL_T = 2048
GOAL_TIME_RATIO = 1.5  # chunked within 1.5× of sdpa's time at T = GOAL_T
GOAL_MEMORY_EXPONENT = 1.2  # chunked's peak memory grows at most linearly in T


def fit_exponent(t: pd.Series, y: pd.Series) -> float:
    """Slope of log y against log T over T ≥ FIT_FROM_T (NaN with fewer than two points)."""
    keep = (t >= FIT_FROM_T) & (y > 0)
    if keep.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(t[keep]), np.log(y[keep]), 1)[0])


def _panel(runs: pd.DataFrame) -> pd.DataFrame:
    shape = (
        "B"
        + runs["batch"].astype(str)
        + "·H"
        + runs["heads"].astype(str)
        + "·d"
        + runs["head_dim"].astype(str)
    )
    return runs.assign(shape=shape, panel=runs["device"] + " · " + shape + " · " + runs["mode"])


def speed_table(g: pd.DataFrame, order: list[str]) -> str:
    """kernel × T: median time (IQR) · GFLOP/s · % of GEMM."""
    seq_lens = sorted(g["seq_len"].unique())
    rows = []
    for kernel in [k for k in order if k in set(g["kernel"])]:
        by_t = g[g["kernel"] == kernel].set_index("seq_len")
        cells = []
        for t in seq_lens:
            if t not in by_t.index:
                cells.append("–")
                continue
            r = by_t.loc[t]
            cells.append(
                f"{r.time_median_s * 1e3:.3g} ms (±{r.time_iqr_s * 1e3 / 2:.2g}) · "
                f"{r.gflops:.1f} GF/s · {r.pct_gemm:.0f}%"
            )
        rows.append([kernel, *cells])
    return tabulate(rows, headers=["kernel", *[f"T={t}" for t in seq_lens]], tablefmt="github")


def exponent_table(g: pd.DataFrame, order: list[str]) -> str:
    rows = []
    for kernel in [k for k in order if k in set(g["kernel"])]:
        k = g[g["kernel"] == kernel]
        mem = fit_exponent(k["seq_len"], k["peak_mem_bytes"]) if "peak_mem_bytes" in k else math.nan
        peak = k.loc[k["seq_len"].idxmax()]
        rows.append(
            [
                kernel,
                f"{fit_exponent(k['seq_len'], k['time_median_s']):.2f}",
                f"{mem:.2f}",
                f"{k['gflops'].max():.1f}",
                human_bytes(peak.get("peak_mem_bytes", math.nan)) + f" at T={peak.seq_len}",
            ]
        )
    headers = ["kernel", "time ∝ T^a: a", "peak memory ∝ T^b: b", "best GFLOP/s", "peak memory"]
    return tabulate(rows, headers=headers, tablefmt="github")


def goals(ok: pd.DataFrame) -> list[str]:
    lines = []
    for (panel,), g in ok.groupby(["panel"], sort=True):
        at = g[g["seq_len"] == GOAL_T].set_index("kernel")
        if {"chunked", "sdpa"} <= set(at.index):
            ratio = at.loc["chunked", "time_median_s"] / at.loc["sdpa", "time_median_s"]
            verdict = "met" if ratio <= GOAL_TIME_RATIO else "NOT met"
            lines.append(
                f"- {panel}: chunked / sdpa time at T={GOAL_T} = **{ratio:.2f}×** "
                f"(goal ≤ {GOAL_TIME_RATIO}×: {verdict})"
            )
        exps = {}
        for kernel in ("chunked", "naive"):
            k = g[g["kernel"] == kernel]
            if not k.empty and "peak_mem_bytes" in k:
                exps[kernel] = fit_exponent(k["seq_len"], k["peak_mem_bytes"])
        if "chunked" in exps and not math.isnan(exps["chunked"]):
            verdict = "met" if exps["chunked"] <= GOAL_MEMORY_EXPONENT else "NOT met"
            naive = f"; naive {exps['naive']:.2f}" if "naive" in exps else ""
            lines.append(
                f"- {panel}: peak-memory exponent chunked **{exps['chunked']:.2f}**{naive} "
                f"(goal chunked ≤ {GOAL_MEMORY_EXPONENT}: {verdict})"
            )
    return lines


def _loglog(ok: pd.DataFrame, y: str, label: str, path: Path, title: str, gemm: bool = False) -> Path:
    sns.set_theme(style="whitegrid", context="paper")
    grid = sns.relplot(
        data=ok,
        x="seq_len",
        y=y,
        hue="kernel",
        style="kernel",
        col="shape",
        row="mode",
        kind="line",
        markers=True,
        dashes=False,
        height=3.0,
        aspect=1.25,
        facet_kws={"sharey": False},
    )
    for (mode, shape), ax in grid.axes_dict.items():
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        if gemm:
            rate = ok[(ok["mode"] == mode) & (ok["shape"] == shape)]["gemm_gflops"].median()
            ax.axhline(rate, color="black", linestyle="--", linewidth=1)
            ax.annotate(f"GEMM {rate:.0f}", (0.02, 0.93), xycoords="axes fraction", fontsize=8)
    grid.set_axis_labels("sequence length T", label)
    grid.set_titles("{row_name} · {col_name}")
    grid.figure.suptitle(title, y=1.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(grid.figure)
    return path


def gate_trend(history: pd.DataFrame, path: Path) -> Path:
    """Each recorded A/B gate run's current/reference time per case, kernel by kernel, in run
    order; the band is the margin beyond which a run suspects a regression (or a win)."""
    h = history.sort_values("measured_at").copy()
    h["run"] = pd.factorize(h["run_id"])[0] + 1
    margin = float(h["margin"].median())
    sns.set_theme(style="whitegrid", context="paper")
    grid = sns.relplot(
        data=h,
        x="run",
        y="change",
        hue="kernel",
        col="case",
        col_wrap=3,
        kind="line",
        marker="o",
        height=2.8,
        aspect=1.2,
    )
    for ax in grid.axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.axhspan(1 / (1 + margin), 1 + margin, color="grey", alpha=0.15, linewidth=0)
        ax.axhline(1.0, color="black", linewidth=0.8)
    grid.set_axis_labels("gate run", "current / reference time")
    grid.set_titles("{col_name}")
    grid.figure.suptitle(
        f"Speed gate: each kernel's time against its reference commit's, same machine, same run "
        f"(band: ±{margin:.0%} margin)",
        y=1.03,
    )
    grid.figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(grid.figure)
    return path


def gate_history(history: pd.DataFrame, figure: Path) -> list[str]:
    """The report's section on the recorded runs of `make bench-check ARGS=--record`."""
    ab = history["reference"].notna() if "reference" in history else pd.Series(False, index=history.index)
    retired = history[~ab]["run_id"].nunique()
    history = history[ab]
    injected = history["injected"].notna()
    demos = history[injected]["run_id"].nunique()
    checks = history[~injected]
    lines = ["## Speed gate history", ""]
    if retired:
        lines += [
            f"`{HISTORY}` also keeps {retired} runs of the retired gate (kernel/GEMM ratios against a "
            "committed baseline, which do not carry over between machines); they are not drawn.",
            "",
        ]
    if checks.empty:
        return [*lines, "No A/B run recorded yet (`make bench-check ARGS=--record`).", ""]
    verdicts = checks["verdict"].value_counts().to_dict()
    a_a, n = checks[checks["a_a"]]["run_id"].nunique(), checks["run_id"].nunique()
    lines += [
        f"{n} recorded run{'s' if n != 1 else ''} of `make bench-check` ({a_a} A/A: the reference "
        f"had the same kernel code); {demos} demonstration runs with an injected slowdown are left out of the "
        "figure. Verdicts: " + ", ".join(f"{count} {v}" for v, count in sorted(verdicts.items())) + ".",
        "",
        f"![gate trend](figures/{gate_trend(checks, figure).name})",
        "",
    ]
    return lines


def write_kernels_report(results_dir: str | Path) -> Path:
    from suite.report.tables import provenance_line

    store = Store(results_dir)
    meta, runs = store.meta(), store.runs()
    if runs.empty:
        raise FileNotFoundError(f"{store.runs_path} has no results yet: run the study first")
    if meta.get("keys"):
        runs = runs[runs["key"].isin(meta["keys"])]
    order = meta.get("kernels") or sorted(runs["kernel"].unique())
    runs = _panel(runs)
    ok = runs[runs["status"] == "ok"].sort_values(["kernel", "seq_len"])
    figures = store.dir / "figures"
    name = meta.get("name", store.dir.name)

    lines = [f"# {name}", ""]
    if meta.get("description"):
        lines += [f"**Question.** {meta['description']}", ""]
    counts = runs["status"].value_counts().to_dict()
    lines += [
        f"{len(runs)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ".",
        "",
        "Each cell: median time of `repeats` calls after warm-up (± half the interquartile range) · "
        "GFLOP/s (forward 4·B·H·T²·D, forward+backward 3.5× that, as flash-attention's benchmarks "
        "count) · percent of the GFLOP/s of an n³ GEMM timed right after each trial at the same dtype "
        "and thread count. `forward` runs without autograd; `forward_backward` also backpropagates "
        "a random upstream gradient to q, k and v. Peak memory is measured (CPU: the profiler's "
        "allocation events; CUDA: max_memory_allocated) beyond the inputs already allocated.",
        "",
    ]
    for device, d in ok.groupby("device", sort=True):
        gemm = d.groupby(["dtype", "threads", "gemm_size"])["gemm_gflops"].median()
        for (dtype, threads, n), rate in gemm.items():
            lines += [
                f"GEMM on {device} ({d['device_name'].iloc[0]}): {int(n)}³ {dtype}, {int(threads)} thread(s): "
                f"**{rate:.1f} GFLOP/s** (median over the trials, each timed right after its trial).",
                "",
            ]

    if not ok.empty:
        lines += ["## Goals", "", *goals(ok), ""]
        for stem, y, label, title, gemm in (
            ("time_vs_T", "time_median_s", "median time (s)", "Time per call vs T (log-log)", False),
            ("memory_vs_T", "peak_mem_bytes", "peak memory (bytes)", "Peak memory vs T (log-log)", False),
            ("gflops_vs_T", "gflops", "GFLOP/s", "GFLOP/s vs T; dashed: the machine's GEMM", True),
        ):
            if y in ok and ok[y].notna().any():
                path = _loglog(ok.dropna(subset=[y]), y, label, figures / f"{stem}.png", title, gemm)
                lines += [f"![{title}](figures/{path.name})", ""]
        for panel, g in ok.groupby("panel", sort=True):
            lines += [f"## {panel}", "", speed_table(g, order), ""]
            lines += [f"Power laws fitted over T ≥ {FIT_FROM_T}:", "", exponent_table(g, order), ""]

    history_path = store.dir / HISTORY
    if history_path.exists():
        lines += gate_history(pd.read_parquet(history_path), figures / "gate_trend.png")

    bad = runs[runs["status"] != "ok"]
    if not bad.empty:
        lines += ["## Trials that did not run", ""]
        reasons = bad.assign(reason=bad["error"].map(lambda e: last_line(e)[:140]))
        table = (
            reasons.groupby(["kernel", "device", "status", "reason"], sort=True)
            .size()
            .reset_index(name="trials")
        )
        lines += [tabulate(table.values.tolist(), headers=list(table.columns), tablefmt="github"), ""]

    measured = runs[runs["status"] != "skipped"]
    if not measured.empty:
        lines += ["## Provenance", "", provenance_line(measured), ""]
    path = store.dir / "report.md"
    path.write_text("\n".join(lines))
    return path
