import pandas as pd

from suite import console
from suite.cli import build_parser, main
from suite.store import Store
from suite.study import load_study


def test_listings_keep_whole_sentences_and_show_parameters(capsys):
    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    assert "parameters: V=8, T=8, n=2000, seed=0, eval_len=None" in out  # order's defaults
    assert "(Zoology's MQAR with one query per sequence, as a V-K-1-way classification)." in " ".join(
        out.split()
    )
    assert main(["list", "variants"]) == 0
    out = capsys.readouterr().out
    assert "sets: encoder='lstm', pooling='last'" in out
    flat = " ".join(out.split())
    assert (
        "every variant also takes the knobs every encoder shares (ARCHITECTURE.md); defaults: dim=32" in flat
    )
    assert "its encoder's own knobs (defaults): ngram_buckets=262144" in flat  # a later knob, at its default
    assert all(len(line) <= console.WIDTH for line in out.splitlines())


def test_help_texts_are_complete():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert "95% CIs" in commands["compare"].format_help() and "%%" not in commands["compare"].format_help()
    for name, sub in commands.items():
        assert sub.description, f"ablate {name} has no description"


def test_check_counts_done_and_missing_and_estimates_the_rest(write_study, tmp_path, capsys):
    path = write_study(variants=["mean"], seeds=2, baseline="mean")
    results = tmp_path / "r"
    assert main(["check", str(path), "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "2 trials (1 variants × 1 datasets × 2 seeds × 1 device(s))" in out
    assert "0 done, 2 to run" in out and "estimate: none yet" in out
    assert "cannot go below" not in out  # one variant: no contrast, so no verdict to reach
    assert main(["run", str(path), "--results", str(results), "--no-progress", "--seeds", "1"]) == 0
    capsys.readouterr()
    # seeds=1 ran into its own folder; the study's own folder is still empty
    assert main(["check", str(path), "--results", str(results)]) == 0
    assert "0 done, 2 to run" in capsys.readouterr().out
    assert main(["run", str(path), "--results", str(results), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["check", str(path), "--results", str(results), "--seeds", "3"]) == 0
    out = capsys.readouterr().out
    assert "0 done, 3 to run" in out
    assert main(["check", str(path), "--results", str(results)]) == 0
    assert "2 done, 0 to run" in capsys.readouterr().out


def test_estimate_uses_earlier_wall_times_per_variant():
    class T:
        def __init__(self, variant):
            self.variant = variant

        def base_row(self):
            return {"variant": self.variant}

    done = pd.DataFrame({"variant": ["a", "a", "b"], "wall_seconds": [10.0, 30.0, 100.0]})
    assert console.estimate_seconds([T("a"), T("b"), T("c")], done) == 20 + 100 + 30  # c: the overall median


def test_a_study_without_description_is_valid_and_check_says_what_it_costs(write_study, capsys, tmp_path):
    path = write_study(description="")
    assert load_study(path).description == ""
    assert main(["check", str(path), "--results", str(tmp_path)]) == 0
    assert "no description" in capsys.readouterr().out


def test_missing_required_keys_name_the_key_without_dumping_the_file(tmp_path, capsys):
    path = tmp_path / "bare.yaml"
    path.write_text("datasets: [reversal]\nseeds: 2\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "variants: Field required" in err and "reversal" not in err


def test_summary_groups_skipped_and_failed_trials_by_reason(write_study, tmp_path):
    study = load_study(write_study(seeds=3))
    store = Store(tmp_path / "s")
    trials = study.trials()
    for i, t in enumerate(trials):
        status, error = (
            ("skipped", "CUDA is not available") if i < 3 else ("failed", "Traceback …\nValueError: boom")
        )
        store.write({"key": t.key, "variant": t.variant, "status": status, "error": error}, [])
    out, problems = console.summary(study, store, {"ok": 0, "skipped": 3, "failed": 3})
    assert out.startswith(f"{study.name}: 3 skipped, 3 failed; results in")
    assert "ablate: 3 skipped: CUDA is not available" in problems
    assert "ablate: 3 failed: ValueError: boom" in problems


def test_a_long_skip_reason_is_wrapped_whole(write_study, tmp_path, monkeypatch):
    """A skip's reason reaches stderr whole (the URL and the cause), wrapped between words."""
    monkeypatch.setenv("COLUMNS", "60")
    study = load_study(write_study(seeds=1, variants=["mean"]))
    store = Store(tmp_path / "s")
    why = (
        "imdb: no copy of the corpus under /data/imdb; download https://ai.stanford.edu/~amaas/data/"
        "sentiment/aclImdb_v1.tar.gz and unpack it there, expected aclImdb_v1.tar.gz (84 MB)\nsecond line"
    )
    store.write({"key": study.trials()[0].key, "variant": "mean", "status": "skipped", "error": why}, [])
    _, problems = console.summary(study, store, {"skipped": 1})
    assert all(len(line) <= 60 or " " not in line.strip() for line in problems.splitlines())
    words = " ".join(problems.split())
    assert words == "ablate: 1 skipped: " + " ".join(why.split())  # every word, none cut


def test_check_warns_about_a_long_study_and_names_the_knobs(write_study, tmp_path):
    study = load_study(write_study(seeds=4, threads=2))
    store = Store(tmp_path / study.name)
    done = study.trials()[:2]  # two finished trials took 20 minutes each
    for t in done:
        store.write({"key": t.key, "variant": t.variant, "status": "ok", "wall_seconds": 1200.0}, [])
    text = console.check_report(study, study.path, tmp_path)
    assert "2 done, 6 to run" in text and "estimate for the 6 to run: 2 h 00 min" in text
    assert "warning: about 2 h 00 min to run:" in text
    assert "threads: 1 or leave it out" in text and "fewer seeds (--seeds N)" in text


def test_check_warns_when_no_effect_of_any_size_could_be_called(write_study, tmp_path, capsys):
    """The README's 3-seed example (mean vs attention, 1.000 vs 0.500 in every seed) could never be
    called: 2 / 2^3 = 0.25. Six seeds resolve one contrast; eleven the 33 tests of 11 × 3."""
    path = write_study(variants=["mean", "positional"], seeds=3)
    assert main(["check", str(path), "--results", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "3 seeds: an exact paired test cannot go below p = 0.25" in out
    assert "6 seeds resolve this study's 1 test (seeds: 6)" in out
    path = write_study(variants=["mean", "positional"], seeds=6)
    assert main(["check", str(path), "--results", str(tmp_path / "r")]) == 0
    assert "cannot go below" not in capsys.readouterr().out


def test_the_design_warning_counts_contrasts_times_datasets():
    from suite.report.contrasts import design_warning, seeds_to_resolve

    assert seeds_to_resolve(1) == 6 and seeds_to_resolve(4) == 8 and seeds_to_resolve(33) == 11
    assert "8 seeds resolve this study's 4 tests" in design_warning(3, 4, 1)
    assert design_warning(10, 11, 2) is None  # 2/2^10 = 0.00195 < 0.05/22
