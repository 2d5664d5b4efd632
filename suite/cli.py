"""The `ablate` command (also `python -m suite`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from suite.executors import ExecutorError, ExecutorSpec, with_overrides
from suite.executors.worker import import_plugins
from suite.study import StudyError, find_studies, load_study, study_path

ROOT = Path(__file__).resolve().parent.parent


def default_studies_dir() -> Path:
    env = os.environ.get("ABLATE_STUDIES")
    if env:
        return Path(env)
    local = Path.cwd() / "studies"
    return local if local.is_dir() else ROOT / "studies"


def default_results_dir() -> Path:
    env = os.environ.get("ABLATE_RESULTS")
    if env:
        return Path(env)
    return Path.cwd() / "results" if (Path.cwd() / "studies").is_dir() else ROOT / "results"


def _add_dirs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--studies",
        type=Path,
        default=None,
        help="folder of study YAML files (default: ./studies, or $ABLATE_STUDIES)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        help="folder of result tables (default: ./results, or $ABLATE_RESULTS)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ablate",
        description="Run ablation studies of sequence models and report them with statistics over seeds.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a study's missing trials into results/<study>/",
        description="Run the trials of STUDY that results/<study>/ does not have yet (failed and skipped ones are tried again), then stop. Results are kept as each trial finishes.",
    )
    run.add_argument("study", metavar="STUDY", help="a study name: a file studies/STUDY.yaml")
    run.add_argument(
        "--force", action="store_true", help="rerun every trial, replacing earlier rows as new ones finish"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--no-vectorize",
        action="store_true",
        help="train every trial on its own, not seeds together in one stacked step (training.vectorize)",
    )
    run.add_argument(
        "--executor",
        choices=["serial", "processes", "ray"],
        help="where trials run (default: the study's executor.kind, else serial); results are the same",
    )
    run.add_argument("--workers", type=int, metavar="N", help="parallel workers (processes, ray)")
    run.add_argument(
        "--address", metavar="HOST:PORT", help="a running Ray cluster to join (with --executor ray)"
    )
    _add_dirs(run)

    report = sub.add_parser(
        "report",
        help="write results/<study>/report.md and figures",
        description="Write report.md and figures/*.png from the result tables of STUDY.",
    )
    report.add_argument("study", metavar="STUDY")
    _add_dirs(report)

    compare = sub.add_parser(
        "compare",
        help="tabulate the differences between two result sets, with CIs",
        description="Write a markdown table of B − A per variant × dataset × metric with 95%% CIs, and "
        "where each side was measured. A and B are results folders, or study names under --results.",
    )
    compare.add_argument("a", metavar="A", help="a results folder, or a study name under --results")
    compare.add_argument("b", metavar="B", help="the same for the other side")
    compare.add_argument(
        "-o", "--out", type=Path, default=None, help="write the markdown here (default: stdout)"
    )
    compare.add_argument(
        "--fail-on-difference",
        action="store_true",
        help="exit 1 when any difference's 95%% CI excludes 0 (for scripts)",
    )
    _add_dirs(compare)

    check = sub.add_parser("check", help="validate a study and print its trial count, running nothing")
    check.add_argument("study", metavar="STUDY")
    _add_dirs(check)

    ls = sub.add_parser(
        "list", help="list variants, datasets, kernels or studies", description="List what a study can name."
    )
    ls.add_argument("what", choices=["variants", "datasets", "kernels", "studies"])
    _add_dirs(ls)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import_plugins()
    studies_dir = args.studies or default_studies_dir()
    results_dir = args.results or default_results_dir()
    try:
        if args.command == "list":
            return _list(args.what, studies_dir)
        if args.command == "compare":
            return _compare(args.a, args.b, results_dir, args.out, args.fail_on_difference)
        path = study_path(args.study, studies_dir)
        if args.command == "report":
            return _report(args.study, results_dir)
        study = load_study(path, vectorize=False if getattr(args, "no_vectorize", False) else None)
        if args.command == "check":
            print(f"{path}: {len(study.trials())} trials, valid")
            return 0
        executor = with_overrides(
            getattr(study.spec, "executor", None) or ExecutorSpec(),
            kind=args.executor,
            workers=args.workers,
            address=args.address,
        )
        return _run(study, results_dir, force=args.force, progress=not args.no_progress, executor=executor)
    except (StudyError, ExecutorError) as err:
        print(f"ablate: {err}", file=sys.stderr)
        return 2


def _list(what: str, studies_dir: Path) -> int:
    if what == "studies":
        for name in find_studies(studies_dir):
            try:
                line = load_study(studies_dir / f"{name}.yaml").description.splitlines()[0]
            except StudyError as err:
                line = f"(invalid: {str(err).splitlines()[0]})"
            print(f"{name:24s} {line[:100]}")
        return 0
    if what == "variants":
        from suite.models import REGISTRY
    elif what == "datasets":
        from suite.data import REGISTRY
    else:
        from suite.kernels import REGISTRY
    for name in REGISTRY.list():
        print(f"{name:18s} {REGISTRY.describe(name)}")
    return 0


def _run(
    study, results_dir: Path, *, force: bool, progress: bool, executor: ExecutorSpec | None = None
) -> int:
    from suite.runner import run_study
    from suite.store import Store, StoreLocked

    store = Store(results_dir / study.name)
    # A study of another kind (kernels) describes itself; a training study's meta is built here.
    meta = study.meta() if hasattr(study, "meta") else _train_meta(study)
    try:
        with store.lock():
            store.write_meta(meta)
            counts = run_study(study, store, force=force, progress=progress, executor=executor)
    except StoreLocked as err:
        print(f"ablate: {err}", file=sys.stderr)
        return 3
    return _summary(study, store, counts)


def _train_meta(study) -> dict:
    """What the report needs to know about a training study, stored beside its results."""
    from suite import data

    trials = study.trials()
    return {
        "name": study.name,
        "description": study.description,
        "keys": [t.key for t in trials],
        "variants": list(dict.fromkeys(t.variant for t in trials)),
        "baseline": study.spec.baseline,
        "dataset_notes": {t.dataset: data.create(t.dataset, **t.dataset_params).note for t in trials},
        "dataset_entries": [  # a note per dataset entry (one name may have several)
            {
                "name": name,
                "params": json.loads(params),
                "note": data.create(name, **json.loads(params)).note,
            }
            for name, params in dict.fromkeys(
                (t.dataset, json.dumps(t.dataset_params, sort_keys=True)) for t in trials
            )
        ],
        "spec": study.spec.model_dump(),
        "anchors": [a.model_dump() for a in study.spec.anchors],
    }


def _summary(study, store, counts) -> int:
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    print(f"{study.name}: {summary}; results in {store.dir}")
    if counts.get("failed"):
        print(f"ablate: {counts['failed']} trial(s) failed; their rows hold the traceback", file=sys.stderr)
    return 0


def _report(name: str, results_dir: Path) -> int:
    from suite.report import write_report

    directory = results_dir / name
    try:
        path = write_report(directory)
    except FileNotFoundError as err:
        print(f"ablate: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


def _compare(a: str, b: str, results_dir: Path, out: Path | None, fail_on_difference: bool = False) -> int:
    from suite.report.compare import compare_results

    sides = []
    for given in (a, b):
        path = Path(given)
        if not (path / "runs.parquet").is_file():
            path = results_dir / given
        if not (path / "runs.parquet").is_file():
            print(
                f"ablate: {given!r} is neither a results folder nor a study in {results_dir} with results",
                file=sys.stderr,
            )
            return 2
        sides.append(path)
    text, differences = compare_results(*sides)
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
        print(f"comparison: {out}")
    significant = [d for d in differences if d.significant]
    if fail_on_difference and significant:
        print(f"ablate: {len(significant)} difference(s) whose 95% CI excludes 0", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
