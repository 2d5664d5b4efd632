import pandas as pd

from suite.cli import main
from suite.execution import executor_for
from suite.study import SERIAL_THREADS, load_study


def test_a_serial_study_that_says_nothing_runs_on_one_thread(write_study):
    study = load_study(write_study())
    assert executor_for(study).threads == SERIAL_THREADS == 1


def test_what_a_study_or_the_command_line_says_wins(write_study):
    assert executor_for(load_study(write_study(threads=2))).threads is None  # the study's own, per unit
    assert executor_for(load_study(write_study(threads=None))).threads is None  # null: torch's default
    assert executor_for(load_study(write_study(executor={"threads": 2}))).threads == 2
    pool = executor_for(load_study(write_study()), kind="processes", workers=2)
    assert pool.kind == "processes" and pool.threads is None  # cores ÷ workers, as before


def test_threads_are_not_part_of_the_key(write_study):
    one = load_study(write_study()).trials()
    two = load_study(write_study(threads=2)).trials()
    assert [t.key for t in one] == [t.key for t in two]


def test_rows_record_the_thread_count_they_ran_with(write_study, tmp_path):
    import torch

    torch.set_num_threads(2)
    try:
        path = write_study(variants=["mean"], seeds=1)
        results = tmp_path / "r"
        assert main(["run", str(path), "--results", str(results), "--no-progress"]) == 0
        assert torch.get_num_threads() == 2  # restored after the run
    finally:
        torch.set_num_threads(1)
    runs = pd.read_parquet(results / "tiny" / "runs.parquet")
    assert list(runs["threads"]) == [1]
