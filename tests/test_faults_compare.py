"""Fault catalogue: `ablate compare` between sides that are not alike. It says first how their
configurations differ, marks seeds that diverged or failed, and writes extreme values in
scientific notation; it changes no results file."""

from __future__ import annotations

import json
import re
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import ablate
from test_faults_more import snapshot


def _other_side(results, *, diverged: str, failed: str | None = None):
    """A copy of tiny's results run with SGD at lr 1, where `diverged`'s seeds diverged to a loss
    of 1.3e32 (and `failed`'s seeds failed)."""
    other = results / "other"
    shutil.copytree(results / "tiny", other)
    meta = json.loads((other / "study.json").read_text())
    meta["name"] = "other"
    meta["spec"]["training"].update(optimizer="sgd", lr=1.0)
    (other / "study.json").write_text(json.dumps(meta))
    table = pq.read_table(other / "runs.parquet")
    runs = table.to_pandas()
    hit = runs["variant"] == diverged
    runs.loc[hit, "status"] = "diverged"
    for column in [c for c in runs if c.endswith("_loss")]:
        runs.loc[hit, column] = 1.3e32
    if failed:
        first = (runs["variant"] == failed) & (runs["seed"] == 0)
        runs.loc[first, ["status", "error"]] = ["failed", "RuntimeError: boom"]
    out = pa.Table.from_pandas(runs, preserve_index=False).replace_schema_metadata(table.schema.metadata)
    pq.write_table(out, other / "runs.parquet")
    return other


def test_compare_states_config_differences_first_and_marks_diverged_seeds(finished, capsys):
    _, results, _ = finished
    _other_side(results, diverged="mean")
    before = snapshot(results)
    code, out, err = ablate(capsys, "compare", "tiny", "other", "--results", results)
    assert code == 0, err
    changed = "training.lr: 0.01 → 1; training.optimizer: adam → sgd"
    assert err.strip() == f"ablate: note: A and B differ in configuration: {changed}"
    assert out.index(changed) < out.index("| dataset")  # before the table
    (mean_loss,) = [line for line in out.splitlines() if "| mean" in line and "loss" in line]
    assert "(B: every seed diverged)" in mean_loss and "(diverged)" in mean_loss
    table = "\n".join(line for line in out.splitlines() if line.startswith("|"))  # not the commit hash
    assert "1.30e+32" in mean_loss and not re.search(r"\d{12}", table), mean_loss
    (other,) = [line for line in out.splitlines() if "| attention" in line and "loss" in line]
    assert "diverged" not in other
    assert snapshot(results) == before


def test_compare_marks_failed_seeds_as_left_out(finished, capsys):
    _, results, _ = finished
    _other_side(results, diverged="mean", failed="attention")
    code, out, _ = ablate(capsys, "compare", "other", "tiny", "--results", results)
    assert code == 0
    (attention,) = [line for line in out.splitlines() if "| attention" in line and "loss" in line]
    assert "1 / 2 (A: 1 of 2 failed, left out)" in attention


def test_the_same_configuration_says_nothing_of_differences(finished, capsys):
    _, results, _ = finished
    code, out, err = ablate(capsys, "compare", "tiny", "tiny", "--results", results)
    assert code == 0 and "differ in configuration" not in out + err
