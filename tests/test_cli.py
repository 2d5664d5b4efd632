import os
import subprocess
import sys

from suite.cli import main


def test_list_commands(capsys):
    assert main(["list", "variants"]) == 0
    out = capsys.readouterr().out
    for name in ("mean", "positional", "attention", "multihead", "transformer", "lstm", "conv1d", "bow_mlp"):
        assert name in out
    assert main(["list", "datasets"]) == 0
    assert "reversal" in capsys.readouterr().out
    assert main(["list", "studies"]) == 0
    assert "ablation_positional" in capsys.readouterr().out


def test_bad_study_names_are_refused_with_the_list(capsys, tmp_path):
    for name in ("missing", "../x"):
        assert main(["run", name, "--results", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "available studies: " in err and "ablation_positional" in err
    assert not any(tmp_path.iterdir())


def test_invalid_study_writes_nothing(write_study, tmp_path, capsys):
    path = write_study(training={"lr": -1})
    code = main(["run", "tiny", "--studies", str(path.parent), "--results", str(tmp_path / "r")])
    assert code == 2
    assert "training.lr" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_python_dash_m_and_help():
    out = subprocess.run([sys.executable, "-m", "suite", "run", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--force" in out.stdout


def test_help_imports_neither_torch_nor_pandas():
    code = (
        "import sys\n"
        "from suite.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'pandas', 'pyarrow', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_listing_checking_and_a_cached_run_import_no_torch(write_study, tmp_path):
    """torch costs about 1 s to import: `list`, `check` (a plain, a tuned and a kernel study) and a
    run with every trial already stored need none of it; the run that trains does."""
    path = write_study(variants=["mean", "attention"], seeds=1, training={"epochs": 1})
    results = str(tmp_path / "r")
    commands = [
        ["list", "studies"],
        ["list", "variants"],
        ["list", "datasets"],
        ["list", "kernels"],
        ["check", "ablation_positional"],
        ["check", "text_encoders"],
        ["check", "kernels"],
        ["check", str(path), "--results", results],
        ["run", str(path), "--results", results, "--no-progress"],
    ]
    code = (
        "import contextlib, io, sys\n"
        "from suite.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        code = main(argv)\n"
        "    print(argv[0], argv[1], 'exit', code, 'torch:', 'torch' in sys.modules)\n"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    lines = first.stdout.splitlines()
    assert lines[:-1] == [f"{c[0]} {c[1]} exit 0 torch: False" for c in commands[:-1]], first.stdout
    assert lines[-1] == f"run {path} exit 0 torch: True"  # it trained
    assert again.stdout.splitlines()[-1] == f"run {path} exit 0 torch: False"  # all cached


def test_the_command_skips_teardown_but_keeps_exit_codes_output_and_atexit_handlers(tmp_path):
    """`ablate` ends with os._exit after the atexit handlers (a plugin's here): exit codes, every
    line of output and the handlers' work survive it."""
    marker = tmp_path / "atexit-ran"
    (tmp_path / "exitplugin.py").write_text(
        f"import atexit, pathlib\natexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "ABLATE_PLUGINS": "exitplugin"}

    def ablate(*argv):
        marker.unlink(missing_ok=True)
        out = subprocess.run([sys.executable, "-m", "suite", *argv], capture_output=True, text=True, env=env)
        return out.returncode, out.stdout, out.stderr, marker.exists()

    code, out, _, ran = ablate("list", "variants")
    assert (code, ran) == (0, True)
    assert out.endswith("\n") and out.count("\n") > 40 and "lecture_bow_mlp" in out
    code, _, err, ran = ablate("run", "no_such_study")
    assert (code, ran) == (2, True) and "available studies" in err
    code, _, err, _ = ablate("list", "--no-such-option")
    assert code == 2 and "usage" in err


def test_doctor_finds_every_committed_result_folder_healthy(capsys):
    """The committed tables (written by earlier versions of the store) read as they are."""
    from pathlib import Path

    results = Path(__file__).resolve().parent.parent / "results"
    assert main(["doctor", "--results", str(results)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.endswith(": ok") for line in lines), lines
