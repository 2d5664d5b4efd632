"""Fault catalogue: unbounded or ill-typed study files. Each is one line naming the file and
key, a non-zero exit, and nothing written (no test times it: a refusal that hangs never ends)."""

from __future__ import annotations

import importlib.util
import os

import pytest
from conftest import ablate, one_line

from suite.cli import main


def refused(capsys, studies, tmp_path, *needles, command="check") -> None:
    args = [command, "tiny", "--studies", str(studies)] + (
        ["--results", str(tmp_path / "r")] if command == "run" else []
    )
    code, _, err = ablate(capsys, *args)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_billion_seeds_is_refused_before_expanding(write_study, tmp_path, capsys, command):
    path = write_study(seeds=1_000_000_000)
    refused(
        capsys,
        path.parent,
        tmp_path,
        "2,000,000,000 trials",
        "limit of 100,000",
        "ABLATE_MAX_TRIALS=2000000000",
        command=command,
    )


def test_ten_million_seeds_do_not_hang_check_and_the_limit_can_be_raised(
    write_study, tmp_path, capsys, monkeypatch
):
    path = write_study(seeds=10_000_000)
    refused(capsys, path.parent, tmp_path, "20,000,000 trials")
    monkeypatch.setenv("ABLATE_MAX_TRIALS", "39")
    write_study(seeds=20)
    refused(capsys, path.parent, tmp_path, "40 trials")  # 2 variants × 20 seeds
    monkeypatch.setenv("ABLATE_MAX_TRIALS", "40")
    assert ablate(capsys, "check", "tiny", "--studies", str(path.parent))[0] == 0


def test_a_huge_tuning_grid_is_counted_and_refused_before_expanding(write_study, tmp_path, capsys):
    values = [0.001 * (i + 1) for i in range(100)]
    grid = {
        "lr": values,
        "weight_decay": values,
        "dropout": [v / 10 for v in values],
        "momentum": [0.0] * 100,
    }
    path = write_study(seeds=2, tune={"grid": grid, "seeds": 1})  # 10^8 configurations per variant
    refused(capsys, path.parent, tmp_path, "seeds and tuning runs", "limit of 100,000")


def test_seeds_outside_0_to_2_32_are_refused(write_study, tmp_path, capsys):
    path = write_study(seeds=[-1, 2])
    refused(capsys, path.parent, tmp_path, "seeds", "seed -1 is out of range")
    write_study(seeds=[1, 2**40])
    refused(capsys, path.parent, tmp_path, "seeds[1]", f"{2**40}", "at most 4,294,967,295")
    write_study(seeds=[0, 2**32 - 1])
    assert ablate(capsys, "check", "tiny", "--studies", str(path.parent))[0] == 0


@pytest.mark.parametrize("seeds", [True, [1.0, 2], "3", [1, "2"]])
def test_seeds_that_are_not_whole_numbers_are_one_line(write_study, tmp_path, capsys, seeds):
    path = write_study(seeds=seeds)
    refused(capsys, path.parent, tmp_path, "seeds: a seed count or a list of seeds")


def test_an_unknown_kernel_of_plain_attention_is_refused_at_load(write_study, tmp_path, capsys):
    path = write_study(variants=[{"name": "plain_self_attention", "kernel": "foo"}])
    refused(capsys, path.parent, tmp_path, "variants[0]", "unknown attention kernel 'foo'")


@pytest.mark.parametrize(
    ("variant", "needle"),
    [
        ({"name": "bow_mlp", "pooling": "max"}, "variants[0].pooling: encoder 'bow' never reads it"),
        ({"name": "bow_mlp", "mask_padding": False}, "variants[0].mask_padding: encoder 'bow'"),
        ({"name": "ngram_linear", "depth": 4}, "variants[0].depth: encoder 'ngram' never reads it"),
        ({"name": "ngram_linear", "dim": 7}, "variants[0].dim: encoder 'ngram'"),
        ({"name": "embedding_mean", "depth": 2}, "variants[0].depth: encoder 'identity'"),
    ],
)
def test_a_knob_the_variants_encoder_never_reads_is_refused_on_it(
    write_study, tmp_path, capsys, variant, needle
):
    path = write_study(variants=[variant])
    refused(capsys, path.parent, tmp_path, needle)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        (  # two labels, embedding_mean[depth=1] and [depth=2], for one model
            {"variants": ["mean", "embedding_mean"], "grid": {"depth": [1, 2]}},
            "grid.depth: encoder 'identity' never reads it (in variants[1])",
        ),
        (  # a tuning budget spent on identical configurations
            {
                "variants": ["mean", "ngram_linear"],
                "datasets": ["order"],
                "tune": {"grid": {"dim": [2, 4]}, "seeds": 1},
            },
            "tune.grid.dim: encoder 'ngram' never reads it (in variants[1])",
        ),
    ],
)
def test_a_grid_or_tuning_axis_the_variants_encoder_never_reads_is_refused(
    write_study, tmp_path, capsys, spec, needle
):
    refused(capsys, write_study(**spec).parent, tmp_path, needle)


def test_the_studys_model_section_reaches_only_the_variants_that_read_it(write_study, capsys):
    """`model: {dim: 2}` applies to every variant: the ngram baseline beside `mean` is not refused."""
    path = write_study(variants=["mean", "ngram_linear"], model={"dim": 2, "depth": 1})
    assert ablate(capsys, "check", "tiny", "--studies", str(path.parent))[0] == 0


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path, capsys):
    studies = tmp_path / "studies"
    studies.mkdir()
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    bomb = "\n".join("  " + line for line in lines)
    (studies / "tiny.yaml").write_text(f"description:\n{bomb}\nvariants: [mean]\ndatasets: [reversal]\n")
    refused(capsys, studies, tmp_path, "tiny.yaml", "aliases", "expand to more than")


def test_ordinary_aliases_still_work(write_study, tmp_path, capsys):
    path = write_study()
    text = (
        path.read_text().replace("lr: 0.01", "lr: &rate 0.01")
        + "baseline: mean\nmodel: {dim: 2, dropout: 0.0}\n"
    )
    path.write_text(text)
    assert ablate(capsys, "check", "tiny", "--studies", str(path.parent))[0] == 0


def test_a_dataset_parameter_of_the_wrong_type_names_the_key(write_study, tmp_path, capsys):
    path = write_study(datasets=[{"name": "order", "V": "lots"}])
    refused(capsys, path.parent, tmp_path, "datasets[0].V", "expected a whole number", "'lots'")


def test_list_studies_reports_a_bad_study_in_one_line_and_lists_the_rest(write_study, tmp_path, capsys):
    write_study("good")
    write_study("huge", seeds=1_000_000_000)
    write_study("typed", datasets=[{"name": "order", "V": "lots"}])
    path = write_study("broken")
    path.write_text("description: [unclosed\n")
    code, out, err = ablate(capsys, "list", "studies", "--studies", str(path.parent))
    # an entry's first line starts with its name; longer descriptions wrap onto indented lines
    lines = dict(line.split(maxsplit=1) for line in out.splitlines() if line[:1].strip())
    assert code == 0 and not err
    assert lines["good"].startswith("A tiny study")
    assert lines["huge"].startswith("(invalid:") and "trials" in lines["huge"]
    assert lines["typed"].startswith("(invalid:") and "V" in lines["typed"]
    assert lines["broken"].startswith("(invalid:")


def test_a_link_in_studies_to_a_file_outside_is_refused(write_study, tmp_path, capsys):
    outside = tmp_path / "elsewhere.yaml"
    path = write_study()
    outside.write_text(path.read_text())
    os.symlink(outside, path.parent / "linked.yaml")
    os.symlink(path, path.parent / "inside.yaml")  # a link within studies/ is fine
    code, _, err = ablate(capsys, "check", "linked", "--studies", str(path.parent))
    assert code == 2 and "outside" in err and "linked.yaml" in err and len(err.strip().splitlines()) == 1
    assert ablate(capsys, "check", "inside", "--studies", str(path.parent))[0] == 0
    assert main(["list", "studies", "--studies", str(path.parent)]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "(skipped: a link to" in listed["linked"] and "A tiny study" in listed["inside"]


def test_workers_0_is_refused(write_study, tmp_path, capsys):
    path = write_study()
    with pytest.raises(SystemExit) as exit_:
        main(["run", "tiny", "--studies", str(path.parent), "--executor", "processes", "--workers", "0"])
    assert exit_.value.code == 2 and "--workers: must be at least 1 (got 0)" in capsys.readouterr().err


def test_an_unimportable_plugin_is_one_line(write_study, tmp_path, capsys, monkeypatch):
    path = write_study()
    monkeypatch.setenv("ABLATE_PLUGINS", "no_such_plugin_module")
    code, _, err = ablate(capsys, "check", "tiny", "--studies", str(path.parent))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "$ABLATE_PLUGINS names 'no_such_plugin_module', which cannot be imported" in err


def test_debug_shows_the_traceback(write_study, monkeypatch):
    path = write_study()
    monkeypatch.setenv("ABLATE_PLUGINS", "no_such_plugin_module")
    with pytest.raises(ImportError):
        main(["--debug", "check", "tiny", "--studies", str(path.parent)])


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")
def test_a_ray_address_nobody_answers_is_one_line_at_once(write_study, tmp_path, capsys):
    path = write_study()
    code, _, err = ablate(
        capsys,
        "run",
        "tiny",
        "--studies",
        str(path.parent),
        "--results",
        str(tmp_path / "r"),
        "--no-progress",
        "--executor",
        "ray",
        "--address",
        "127.0.0.1:1",
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "no Ray cluster answers at 127.0.0.1:1" in err


@pytest.mark.parametrize("value", ["-1", "inf", "warm"])
def test_a_sampling_temperature_below_0_or_not_a_number_is_refused(value, capsys):
    # argparse refuses it before any checkpoint is read: nothing is touched
    with pytest.raises(SystemExit) as exit_:
        main(["sample", "s", "v", "--prompt", "a", "--temperature", value])
    assert exit_.value.code == 2 and "--temperature:" in capsys.readouterr().err


def test_eval_rows_on_a_dataset_trained_by_passes_is_refused(write_study, capsys):
    # it would cut the training split too: a classifier would train on that many rows, silently
    path = write_study(training={"eval_rows": 2})
    one_line(capsys, ["check", str(path)], "training.eval_rows", "'reversal'")
