import math

import pandas as pd

from suite.report.findings import measurements, scaling_exponents


def _scaling_frame(seeds=3, lengths=(16, 32, 64)):
    """One variant at three lengths: peak memory measured once per memory group (every seed a
    copy), inference time measured per trial."""
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
                    "infer_seconds_per_sample": 1e-3 * t * (1 + 0.05 * seed),
                }
            )
    return pd.DataFrame(rows)


def test_peak_memory_copies_of_one_measurement_count_once():
    frame = _scaling_frame()
    rows, shared = measurements(frame, "peak_train_mem_bytes")
    assert len(rows) == 3 and shared == 3  # one measurement per length, three trials share it
    rows, shared = measurements(frame, "infer_seconds_per_sample")
    assert len(rows) == 9 and shared == 1
    k, lo, hi, shared = scaling_exponents(frame)[("peak_train_mem_bytes", "attention")]
    assert abs(k - 2) < 1e-9 and math.isnan(lo) and math.isnan(hi) and shared == 3
