import math

import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from suite.report.findings import measurements, scaling_exponents, scaling_findings, scaling_points


def _scaling_frame(seeds=3, lengths=(16, 32, 64)):
    """One variant at three lengths: peak memory measured once per memory group (every seed a
    copy), inference time measured per trial, its exponent differing by seed."""
    rows = []
    for t in lengths:
        for seed in range(seeds):
            rows.append(
                {
                    "variant": "attention",
                    "seed": seed,
                    "T": float(t),
                    "memory_group": f"m{t}",
                    "peak_train_mem_bytes": 1000.0 * t**2,
                    "infer_seconds_per_sample": 1e-3 * t ** (1 + 0.05 * seed),
                }
            )
    return pd.DataFrame(rows)


def test_peak_memory_copies_of_one_measurement_count_once():
    frame = _scaling_frame()
    rows, shared = measurements(frame, "peak_train_mem_bytes")
    assert len(rows) == 3 and shared == 3  # one measurement per length, three trials share it
    rows, shared = measurements(frame, "infer_seconds_per_sample")
    assert len(rows) == 9 and shared == 1
    k, lo, hi, shared, fewest = scaling_exponents(frame)[("peak_train_mem_bytes", "attention")]
    assert abs(k - 2) < 1e-9 and math.isnan(lo) and math.isnan(hi) and (shared, fewest) == (3, 1)
    assert "T^2.00 (1 measurement per length, shared by 3 trials; no CI)" in " ".join(
        scaling_findings(frame, scaling_exponents(frame))
    )


def test_two_shared_measurements_per_length_are_counted_as_two():
    """Six seeds in two memory groups per length: two measurements, each copied to three trials."""
    frame = _scaling_frame(seeds=6)
    frame["memory_group"] = frame["memory_group"] + frame["seed"].map(lambda s: "a" if s < 3 else "b")
    frame["peak_train_mem_bytes"] *= frame["seed"].map(lambda s: 1.0 if s < 3 else 1.1)
    k, lo, hi, shared, fewest = scaling_exponents(frame)[("peak_train_mem_bytes", "attention")]
    assert math.isnan(lo) and (shared, fewest) == (3, 2)
    text = " ".join(scaling_findings(frame, scaling_exponents(frame)))
    assert "T^2.00 (2 measurements per length, each shared by up to 3 trials; no CI)" in text
    assert "1 measurement per length" not in text


def test_equal_curves_in_every_seed_give_no_zero_width_exponent_interval():
    """Results without a memory_group column: the rows cannot be told apart from independent
    measurements, but the same value in every seed still gets no interval."""
    frame = _scaling_frame().drop(columns="memory_group")
    k, lo, hi, shared, fewest = scaling_exponents(frame)[("peak_train_mem_bytes", "attention")]
    assert abs(k - 2) < 1e-9 and math.isnan(lo) and math.isnan(hi) and (shared, fewest) == (1, 3)
    text = " ".join(scaling_findings(frame, scaling_exponents(frame)))
    assert "T^2.00 (every measurement's curve gives the same exponent; no CI)" in text
    assert "[2.00, 2.00]" not in text
    k, lo, hi, *_ = scaling_exponents(frame)[("infer_seconds_per_sample", "attention")]
    assert lo < k < hi and k == pytest.approx(1.05)  # seeds whose slopes differ keep their interval
    same_slope = frame.assign(infer_seconds_per_sample=1e-3 * frame["T"] * (1 + 0.05 * frame["seed"]))
    k, lo, hi, *_ = scaling_exponents(same_slope)[("infer_seconds_per_sample", "attention")]
    assert k == pytest.approx(1) and math.isnan(lo)  # curves apart only in level: every slope 1.0


def test_the_scaling_figure_draws_the_reports_own_interval_over_independent_measurements(
    tmp_path, monkeypatch
):
    from suite.report import figures
    from suite.report.stats import t_interval

    frame = _scaling_frame()
    points = scaling_points(frame)
    memory = points[points["column"] == "peak_train_mem_bytes"]
    assert list(memory["n"]) == [1, 1, 1] and memory["lo"].isna().all()  # one measurement: no band
    infer = points[(points["column"] == "infer_seconds_per_sample") & (points["T"] == 32)].iloc[0]
    expected = t_interval(frame.loc[frame["T"] == 32, "infer_seconds_per_sample"].to_numpy())
    assert infer["n"] == 3 and (infer["lo"], infer["hi"]) == pytest.approx(expected)

    drawn = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.setdefault("fig", fig) and path)
    panels = {"peak_train_mem_bytes": "memory", "infer_seconds_per_sample": "time"}
    figures.scaling(points, panels, scaling_exponents(frame), tmp_path / "s.png", "t")
    mem_ax, time_ax = drawn["fig"].axes[:2]
    assert not [c for c in mem_ax.collections if isinstance(c, PolyCollection)]
    (band,) = [c for c in time_ax.collections if isinstance(c, PolyCollection)]
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(points.loc[points["column"] == "infer_seconds_per_sample", "lo"].min())
    assert ys.max() == pytest.approx(points.loc[points["column"] == "infer_seconds_per_sample", "hi"].max())


def test_the_scaling_caption_says_when_a_band_is_cut_where_the_log_axis_ends():
    from suite.report.training import scaling_caption

    panels = {"peak_train_mem_bytes": "memory", "infer_seconds_per_sample": "time"}
    frame = _scaling_frame()
    assert "cannot show" not in scaling_caption(scaling_points(frame), panels)
    wide = frame["T"].eq(16) & frame["seed"].eq(2)  # one seed far off at one length: an interval below 0
    frame.loc[wide, "infer_seconds_per_sample"] = 1.0
    points = scaling_points(frame)
    assert (points["lo"] <= 0).sum() == 1
    assert "1 of the 3 intervals reaches 0 or below" in scaling_caption(points, panels)
    assert "cannot show" not in scaling_caption(points, {"peak_train_mem_bytes": "memory"})  # not drawn
