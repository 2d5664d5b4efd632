"""The `ablate` command (also `python -m suite`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

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
    _add_dirs(run)

    report = sub.add_parser(
        "report",
        help="write results/<study>/report.md and figures",
        description="Write report.md and figures/*.png from the result tables of STUDY.",
    )
    report.add_argument("study", metavar="STUDY")
    _add_dirs(report)

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
    studies_dir = args.studies or default_studies_dir()
    results_dir = args.results or default_results_dir()
    try:
        if args.command == "list":
            return _list(args.what, studies_dir)
        path = study_path(args.study, studies_dir)
        if args.command == "report":
            return _report(args.study, results_dir)
        study = load_study(path)
        if args.command == "check":
            print(f"{path}: {len(study.trials())} trials, valid")
            return 0
        return _run(study, results_dir, force=args.force, progress=not args.no_progress)
    except StudyError as err:
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


def _run(study, results_dir: Path, *, force: bool, progress: bool) -> int:
    from suite import data
    from suite.runner import run_study
    from suite.store import Store, StoreLocked

    store = Store(results_dir / study.name)
    try:
        with store.lock():
            trials = study.trials()
            store.write_meta(
                {
                    "name": study.name,
                    "description": study.description,
                    "keys": [t.key for t in trials],
                    "variants": list(dict.fromkeys(t.variant for t in trials)),
                    "dataset_notes": {
                        t.dataset: data.create(t.dataset, **t.dataset_params).note for t in trials
                    },
                    "spec": study.spec.model_dump(),
                    "anchors": [a.model_dump() for a in study.spec.anchors],
                }
            )
            counts = run_study(study, store, force=force, progress=progress)
    except StoreLocked as err:
        print(f"ablate: {err}", file=sys.stderr)
        return 3
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


if __name__ == "__main__":
    sys.exit(main())
