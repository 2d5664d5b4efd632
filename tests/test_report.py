import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from suite.cli import _run, main
from suite.report import write_report
from suite.report.compare import compare
from suite.report.findings import CSV_COLUMNS
from suite.runner import run_study
from suite.store import Store
from suite.study import load_study


def test_report_has_question_tables_figures_and_provenance(write_study, tmp_path):
    study = load_study(write_study(devices=["cpu", "cuda:9"]))
    assert _run(study, tmp_path, force=False, progress=False) == 0
    path = write_report(tmp_path / "tiny")
    text = path.read_text()
    assert "A tiny study for tests." in text
    assert "### reversal" in text and "same rows" in text
    assert "| mean " in text and "| attention " in text
    assert "figures/loss_curves.png" in text
    assert (tmp_path / "tiny" / "figures" / "loss_curves.png").stat().st_size > 10_000
    # attention's learned table was not recorded, and no variant uses a fixed one: no figure
    assert "positional_encodings.png" not in text and "position tables were not recorded" in text
    assert "skipped" in text and "Provenance" in text
    assert "no interval can be trusted" in text  # two seeds
    assert "names no baseline" in text


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory):
    """One tiny study with a baseline, three seeds and recorded artifacts, run once."""
    root = tmp_path_factory.mktemp("baseline")
    (root / "studies").mkdir()
    (root / "studies" / "b.yaml").write_text(
        """
description: Baseline test.
variants: [mean, attention, {name: attention, label: rope, positional: rope}]
baseline: attention
datasets: [reversal, {name: order, V: 4, T: 6, n: 40, eval_len: 8}]
seeds: 3
model: {dim: 2}
training: {optimizer: adam, lr: 0.05, epochs: 10, history_every: 5}
measure: {repeats: 1, warmup: 0, memory: false, artifacts: true}
"""
    )
    study = load_study(root / "studies" / "b.yaml")
    assert _run(study, root / "results", force=False, progress=False) == 0
    return root / "results" / "b"


def test_report_findings_comparisons_and_every_figure(baseline_run):
    text = write_report(baseline_run).read_text()
    assert (
        text.index("## Findings")
        < text.index("- Health on **reversal**")
        < text.index("## Results per dataset")
    )
    assert "paired by seed" in text and "The verdict family is the primary metric's" in text
    assert text.index("## Answer") < text.index("## Findings") < text.index("## Appendix: every comparison")
    assert text.splitlines().index("## Findings") < 40  # the Answer is read in one screen
    assert "**positional: learned → rope, in attention** (attention → rope) — reversal: " in text
    assert "accuracy on test_long" in text.split("## Appendix")[1]  # described, not in the family
    table = pd.read_csv(baseline_run / "comparisons.csv")
    assert list(table.columns) == CSV_COLUMNS
    accuracy = table[table["metric"] == "selected_accuracy"]
    assert len(accuracy) == 4 and set(table.loc[table["metric"] != "selected_accuracy", "verdict"]) == {
        "described"
    }
    # ten epochs on 3 seeds: every variant failed to learn both tasks, so no pair is in the family
    assert set(accuracy["verdict"]) == {"not compared"} and not table["primary"].any()
    assert "epoch chosen on the validation split" in text and "no validation split" in text
    # quality per dataset, one cost table, every other split in the appendix
    quality = text.split("## Results per dataset")[1].split("## Cost")[0]
    assert "| health " in quality and "| accuracy on train " in quality and "samples/s" not in quality
    assert "accuracy on val" not in quality and "| parameters" not in quality
    cost = text.split("## Cost")[1].split("\n## ")[0]
    assert "| inference samples/s (median) " in cost and "| parameters " in cost and "| reversal " in cost
    assert "| accuracy on val " in text.split("## Appendix: every split")[1]
    assert "seeds × test examples" in text  # two-level intervals from the predictions
    # a shared training time counts once, said once under the cost table
    assert cost.count("¹ 1 measurement, 3 trials trained together.") == 1 and cost.count(" ¹ ") == 6  # 3 × 2
    # 3 seeds cannot reach p < 0.25, so nothing may be called significant
    assert "**better**" not in text and "**worse**" not in text
    assert "no significant difference" not in text.lower()
    assert "course" not in text.split("## Results per dataset")[0]  # findings read as an appendix
    predictions = pd.read_parquet(baseline_run / "predictions.parquet")
    assert predictions["pred"].dtype.name == "int16" and predictions["p_true"].dtype.name == "float32"
    runs = pd.read_parquet(baseline_run / "runs.parquet")
    assert set(predictions["key"]) == set(runs.loc[runs["status"] == "ok", "key"])
    for name in (
        "final_metrics",
        "loss_curves",
        "accuracy_curves",
        "train_vs_eval",
        "positional_encodings",
        "attention_0",
        "attention_1",
    ):
        assert f"figures/{name}.png" in text
        assert (baseline_run / "figures" / f"{name}.png").stat().st_size > 5_000
    assert write_report(baseline_run).read_text() == text  # reproducible
    # the figure draws what the variants use: rope and attention's learned tables, no sinusoid
    assert "the fixed rotary table; each learned table" in text and "sinusoidal" not in text


def test_compare_two_result_sets(baseline_run, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(baseline_run, copy)
    text = compare(baseline_run, copy)
    assert "| reversal " in text and "B − A" in text and "## Provenance" in text
    assert "+0.000 (paired by trial key, identical in all 3 pairs; no CI)" in text and "paired by key" in text
    assert "[+0.000, +0.000]" not in text and "[+0, +0]" not in text  # no zero-width interval for itself
    assert "+0 (the very same measurements; no CI)" in text
    assert "| yes " not in text and "| no " not in text and "| – (no CI) " in text  # no CI: not a "no"
    out = tmp_path / "cmp.md"
    assert main(["compare", str(baseline_run), str(copy), "--out", str(out), "--fail-on-difference"]) == 0
    assert out.read_text() == text
    runs = pd.read_parquet(copy / "runs.parquet")
    runs["selected_loss"] += 0.1 + 0.01 * runs["seed"]
    runs.to_parquet(copy / "runs.parquet")
    assert main(["compare", str(baseline_run), str(copy), "--out", str(out)]) == 0
    assert main(["compare", str(baseline_run), str(copy), "--out", str(out), "--fail-on-difference"]) == 1
    assert main(["compare", str(baseline_run), "missing", "--results", str(tmp_path)]) == 2
    assert "unknown study 'missing'" in capsys.readouterr().err


def test_compare_can_keep_to_quality_or_cost_metrics(baseline_run, tmp_path, capsys):
    """A rerun elsewhere differs in speed, not in what it learned: --metrics picks the kind that
    is tabulated and failed on."""
    copy = tmp_path / "copy"
    shutil.copytree(baseline_run, copy)
    runs = pd.read_parquet(copy / "runs.parquet")
    runs["selected_loss"] += 0.1 + 0.01 * runs["seed"]  # a marked quality difference
    runs["infer_samples_per_s"] *= 2.0  # and a faster machine
    runs.to_parquet(copy / "runs.parquet")
    args = ["compare", str(baseline_run), str(copy), "--fail-on-difference"]
    assert main([*args, "--metrics", "cost"]) == 0
    cost = capsys.readouterr().out
    assert "inference samples/s" in cost and "| loss on" not in cost and "| accuracy on" not in cost
    assert main([*args, "--metrics", "quality"]) == 1
    quality = capsys.readouterr().out
    assert "| loss on" in quality and "samples/s" not in quality
    assert main(args) == 1  # all metrics, as before
    assert "samples/s" in capsys.readouterr().out
    assert "Shown: quality metrics only" in compare(baseline_run, copy, ("quality",))
    assert "not corrected for the number of rows" in quality
    meta = json.loads((copy / "study.json").read_text())
    (copy / "study.json").write_text(json.dumps({**meta, "kind": "kernels"}))
    assert main(args) == 2
    assert "holds a 'kernels' study" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--metrics", "speed"])


def test_compare_decides_the_same_delta_in_every_pair_by_the_exact_test(baseline_run, tmp_path):
    """Six pairs that all differ by the same Δ have no interval (its spread is unknown), but the
    report's exact sign-flip test rejects (p = 2/2⁶): compare says so and --fail-on-difference fails."""
    sides = []
    for name in ("a", "b"):
        folder = tmp_path / name
        shutil.copytree(baseline_run, folder)
        runs = pd.read_parquet(folder / "runs.parquet")
        more = runs.assign(key=runs["key"] + "-again", seed=runs["seed"] + 3)  # 6 trials per variant
        runs = pd.concat([runs, more], ignore_index=True)
        meta = json.loads((folder / "study.json").read_text())
        if meta.get("keys"):
            meta["keys"] = [*meta["keys"], *more["key"]]
            (folder / "study.json").write_text(json.dumps(meta))
        if name == "b":
            runs["selected_loss"] += 0.1
        runs.to_parquet(folder / "runs.parquet")
        sides.append(folder)
    text = compare(*sides)
    assert "(paired by trial key, the same Δ in all 6 pairs; no CI)" in text
    assert "| yes (no CI; exact sign-flip p = 0.03) " in text
    assert "identical in all 6 pairs" in text  # accuracy did not change: no test, no verdict
    assert main(["compare", *map(str, sides), "--fail-on-difference"]) == 1


def test_report_without_results_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the study first"):
        write_report(tmp_path / "nothing")


def test_run_study_counts(write_study, tmp_path):
    study = load_study(write_study(seeds=1, variants=["mean"]))
    counts = run_study(study, Store(tmp_path / "x"), progress=False)
    assert counts["ok"] == 1


def test_degenerate_results_read_as_both_failed_not_as_intervals(baseline_run, tmp_path):
    """Every seed of every variant stuck at ln 2 and chance: no crash, no interval, no test."""
    import math
    import re

    copy = tmp_path / "stuck"
    shutil.copytree(baseline_run, copy)
    (copy / "predictions.parquet").unlink()
    runs = pd.read_parquet(copy / "runs.parquet")
    for column in [
        c for c in runs.columns if c.startswith(("final_", "selected_", "best_")) and c != "selected_epoch"
    ]:
        runs[column] = math.log(2) if column.endswith("loss") else 0.5
    runs.to_parquet(copy / "runs.parquet")
    text = write_report(copy).read_text()
    assert "0.693 (all 3 equal)" in text and "0.500 (all 3 equal)" in text
    assert "not compared (both failed to learn)" in text.split("## Findings")[0]
    assert "**better**" not in text and not re.search(r"\bnan\b", text, re.IGNORECASE)


def test_dataset_entries_of_one_name_get_labels_by_their_differing_params():
    import json

    from suite.report.load import metric_name, with_labels

    def config(T, eval_len):
        return json.dumps({"dataset_params": {"V": 8, "T": T, "eval_len": eval_len}, "model": {"dim": 4}})

    runs = pd.DataFrame(
        {
            "dataset": ["order", "order", "reversal"],
            "config": [config(8, 16), config(32, 64), json.dumps({"dataset_params": {}, "model": {}})],
        }
    )
    out = with_labels(runs)
    assert out["dataset"].tolist() == ["order(T=8, eval_len=16)", "order(T=32, eval_len=64)", "reversal"]
    assert out["T"].tolist()[:2] == [8, 32] and out["dim"].tolist()[0] == 4
    assert metric_name("final_test_long_accuracy") == "final accuracy on test_long"
    assert metric_name("final_loss", "test") == "final loss on test"


def test_the_reports_fixed_position_tables_are_the_models():
    from suite.models import positional
    from suite.report import figures

    assert np.allclose(figures.sinusoidal_table(12, 7), positional.sinusoidal_table(12, 7).numpy(), atol=1e-5)
    for mine, theirs in zip(figures.rope_angles(9, 8), positional.rope_angles(9, 8), strict=True):
        assert np.allclose(mine, theirs.numpy(), atol=1e-5)


def test_a_metric_declared_in_one_place_reaches_the_report_and_compare(baseline_run, tmp_path, monkeypatch):
    """A new cost: one `Metric` in suite.metrics (here, registered by the test) and a column in
    the rows; the dataset table and `ablate compare` show it with its label and format."""
    from suite import metrics

    energy = metrics.Metric(
        "energy_joules", "energy per trial", "J", higher_is_better=False, kind="cost",
        aggregation="median", digits=1, headline=True,
    )  # fmt: skip
    monkeypatch.setitem(metrics.REGISTRY._entries, energy.name, energy)
    folder = tmp_path / "b"
    shutil.copytree(baseline_run, folder)
    runs = pd.read_parquet(folder / "runs.parquet")
    runs["energy_joules"] = 1234.5 + runs["seed"]
    runs.to_parquet(folder / "runs.parquet")
    text = write_report(folder).read_text()
    assert "energy per trial (median)" in text and "| 1235.5 " in text  # median of 1234.5, 1235.5, 1236.5
    table = compare(folder, folder)
    assert "energy per trial" in table


def test_compare_writes_costs_in_their_own_units_and_says_how_memory_was_shared():
    from suite.report.compare import _fmt_diff, _side

    memory = "peak_train_mem_bytes"
    assert _fmt_diff(-2048.0, -3072.0, -1024.0, memory, "") == "-2.0 KiB [-3.0 KiB, -1.0 KiB]"
    assert _fmt_diff(1500.0, math.nan, math.nan, "train_samples_per_s", "no CI") == "+1,500 (no CI)"
    one_shape = pd.DataFrame({"key": list("abc"), "memory_group": ["m"] * 3, memory: [4096.0] * 3})
    assert _side(one_shape, memory) == "4.0 KiB (1 measurement, 3 trials measured together)"


def _comparisons(rows: list[tuple[str, str, float, str, bool]]) -> pd.DataFrame:
    """A comparisons.csv frame (the stats code's schema) from (contrast, dataset, Δ, verdict, primary)."""
    columns = "contrast, knob, a, b, value_a, value_b, within, dataset, metric, primary, n, delta, lo, hi, interval, p, p_adj, agree, min_effect, verdict, flags"  # noqa: E501
    out = []
    for contrast, dataset, delta, verdict, primary in rows:
        knob = contrast.split(":")[0]
        out.append(
            dict.fromkeys(columns.split(", "), "")
            | {
                "contrast": contrast, "knob": knob, "a": "a_v", "b": "b_v", "dataset": dataset,
                "metric": "accuracy" if primary else "loss", "primary": primary, "n": 10, "delta": delta,
                "lo": delta - 0.05, "hi": delta + 0.05, "interval": "95% t over seeds, Holm-adjusted",
                "p": 0.001, "p_adj": 0.004, "agree": "10/10", "min_effect": 0.02, "verdict": verdict,
            }
        )  # fmt: skip
    return pd.DataFrame(out)


def test_effects_figure_draws_the_primary_contrasts_with_their_verdicts(tmp_path):
    from suite.report import figures

    frame = _comparisons(
        [
            ("positional: learned → none, in attention", "reversal", -0.5, "worse", True),
            ("positional: none → learned, in mean", "reversal", 0.4, "better", True),
            ("positional: learned → none, in attention", "reversal", 0.6, "worse", False),  # loss
            ("positional: learned → none, in attention", "combined", 0.001, "equivalent", True),
            (
                "positional: none → learned, in mean",
                "combined",
                float("nan"),
                "not compared (both failed)",
                True,
            ),
        ]
    )
    assert figures.metric_label("selected_accuracy") == "accuracy (fraction correct)"
    assert figures.metric_label("not_a_metric") == "not_a_metric"
    drawn = figures.effect_rows(frame)
    assert len(drawn) == 4 and set(drawn["metric"]) == {"accuracy"}
    assert drawn["style"].tolist() == ["worse", "better", "equivalent", "not compared (both failed)"]
    assert not drawn["flagged"].any()
    flagged = figures.effect_rows(frame.assign(flags=["", "mean: still improving", "", "", float("nan")]))
    assert flagged["flagged"].tolist() == [False, True, False, False]
    path = figures.effects(frame, tmp_path / "effects.png", "t")
    assert path.stat().st_size > 5_000
    as_csv = tmp_path / "c.csv"
    frame.to_csv(as_csv, index=False)
    assert len(figures.effect_rows(pd.read_csv(as_csv))) == 4  # primary read back as text
    assert figures.effects(frame.assign(primary=False), tmp_path / "none.png", "t") is None
    assert not (tmp_path / "none.png").exists()


def test_the_effects_section_shows_the_figure_with_a_caption_naming_its_interval(baseline_run, tmp_path):
    from suite.report.load import load
    from suite.report.training import effects_section

    results = load(baseline_run)
    frame = _comparisons([("positional: learned → rope, in attention", "reversal", -0.2, "worse", True)])
    lines = effects_section(results, frame, tmp_path / "figures")
    assert (
        lines[0].startswith("![Effect of each contrast on accuracy") and "(figures/effects.png)" in lines[0]
    )
    assert "Holm-adjusted" in lines[2]  # the caption names the interval drawn
    assert (tmp_path / "figures" / "effects.png").stat().st_size > 5_000
    assert effects_section(results, None, tmp_path) == []
    assert effects_section(results, frame.assign(primary=False), tmp_path) == []


def test_curve_styles_keep_twelve_variants_apart_and_bands_stay_honest(tmp_path):
    from suite.report import figures
    from suite.report.training import chance_levels, curves_caption

    styles = figures.variant_styles([f"v{i}" for i in range(12)])
    triples = {(tuple(s["color"]), s["marker"], s["linestyle"]) for s in styles.values()}
    assert len(triples) == 12 and len({tuple(s["color"]) for s in styles.values()}) == 12
    assert len({s["marker"] for s in styles.values()}) == 12
    # loss falling over decades; one variant's seeds disagree so widely that its band reaches below 0
    rows = []
    for seed in range(3):
        for epoch in range(6):
            rows.append(("d", "steady", seed, epoch, 10.0**-epoch, 1.0))
            rows.append(("d", "wild", seed, epoch, 10.0**-epoch * (1 + 30 * (seed == 2)), 0.5 + 0.3 * seed))
    history = pd.DataFrame(rows, columns=["dataset", "variant", "seed", "epoch", "loss", "accuracy"])
    bands = figures.curve_bands(history, "loss")
    floor = figures.log_floor(bands)
    assert floor == pytest.approx(0.5e-5) and figures.cut_bands(bands) == 1
    accuracy = figures.curve_bands(history, "accuracy")
    assert accuracy["hi"].max() <= 1.0 and accuracy["lo"].min() >= 0.0  # cut to accuracy's bounds
    assert figures.cut_bands(accuracy) == 0 and figures.log_floor(accuracy) is None
    ok = pd.DataFrame({"dataset": ["d", "d"], "chance_accuracy": [0.5, 0.53], "chance_loss": [0.69, 0.68]})
    assert chance_levels(ok, "accuracy") == {"d": 0.53} and chance_levels(ok, "loss") == {"d": 0.68}
    assert chance_levels(ok.drop(columns="chance_loss"), "loss") == {}
    caption = curves_caption(history, "loss", chance_levels(ok, "loss"))
    assert "constant predictor" in caption and "log axis" in caption and "1 band reaches 0" in caption
    path = figures.curves(history, "loss", tmp_path / "loss.png", "t", {"d": 0.68})
    assert path.stat().st_size > 5_000


def test_positional_figure_draws_nothing_a_study_does_not_use(tmp_path):
    from suite.report import figures

    assert figures.positional_heatmaps(8, 4, {}, tmp_path / "p.png", "t") is None
    assert not (tmp_path / "p.png").exists()
    table = {"learned, reversal, seed 0": np.arange(32, dtype=float).reshape(8, 4)}
    assert figures.positional_heatmaps(8, 4, table, tmp_path / "p.png", "t").stat().st_size > 5_000


def test_the_appendix_shows_final_epoch_columns_only_where_the_rows_hold_them():
    """Rows whose history points left the eval split out (`training.history_splits: val`) have no
    final_* eval columns: the appendix lists val alone instead of failing on the missing ones."""
    from suite.report.tables import splits_table

    runs = pd.DataFrame(
        {
            "variant": ["a", "a"],
            "eval_split": ["test", "test"],
            "selected_epoch": [2.0, 3.0],
            "final_epoch": [4.0, 5.0],
            "selected_accuracy": [0.8, 0.82],
            "selected_val_accuracy": [0.79, 0.81],
        }
    )
    table = splits_table(runs)
    assert "accuracy on val" in table and "final" not in table
    with_final = splits_table(runs.assign(final_accuracy=[0.78, 0.8]))
    assert "final" in with_final
