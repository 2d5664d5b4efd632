"""The `ablate` command (also `python -m suite`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from suite import paths
from suite.executors import ExecutorError, ExecutorSpec
from suite.executors.worker import import_plugins
from suite.overrides import OverrideError
from suite.study import StudyError


def default_studies_dir() -> Path:
    """The user's studies folder, else the built-in catalogue (see suite.paths)."""
    return paths.user_studies_dir() or paths.builtin_studies_dir()


def default_results_dir() -> Path:
    return paths.results_dir()


def _add_dirs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--studies",
        type=Path,
        default=None,
        help="folder of study YAML files, searched before the built-in catalogue "
        "(default: $ABLATE_STUDIES, else ./studies)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        help="folder of result tables (default: $ABLATE_RESULTS, else ./results of the working directory)",
    )


class _Version(argparse.Action):
    """--version, looking the version up only when asked (importlib.metadata is not free)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"ablate {paths.package_version()}")
        parser.exit()


STUDY_HELP = (
    "a study name (./studies, then the built-in catalogue: `ablate list studies`) or a path to a YAML file"
)


def _add_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY.PATH=VALUE",
        help="override a key of the study, e.g. training.lr=0.01 grid.dim=[16,32] devices=[cpu]; "
        "values are YAML; the results go to results/<study>+<hash of the overrides>",
    )
    p.add_argument("--seeds", type=int, metavar="N", help="run seeds 0..N-1 (the override seeds=N)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ablate",
        description="Run ablation studies of sequence models and report them with statistics over seeds.",
    )
    parser.add_argument("--version", action=_Version, help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a study's missing trials into results/<study>/",
        description="Run the trials of STUDY that results/<study>/ does not have yet (failed and skipped ones are tried again), then stop. Results are kept as each trial finishes.",
    )
    run.add_argument("study", metavar="STUDY", help=STUDY_HELP)
    _add_overrides(run)
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
    report.add_argument(
        "study", metavar="STUDY", help="a study name, or a results folder name such as heads+1a2b3c4d"
    )
    _add_dirs(report)

    compare = sub.add_parser(
        "compare",
        help="tabulate the differences between two result sets, with CIs",
        description="Write a markdown table of B − A per variant × dataset × metric with 95% CIs, and "
        "where each side was measured. A and B are results folders, or study names under --results.",
    )
    compare.add_argument("a", metavar="A", help="a results folder, or a study name under --results")
    compare.add_argument("b", metavar="B", help="the same for the other side")
    compare.add_argument(
        "-o", "--out", type=Path, default=None, help="write the markdown here (default: stdout)"
    )
    _add_dirs(compare)

    check = sub.add_parser(
        "check",
        help="validate a study and print its trial count, running nothing",
        description="Validate STUDY (with any overrides) without running it: the resolved trial count, "
        "how many the results folder already has, and an estimate of the time the rest will take.",
    )
    check.add_argument("study", metavar="STUDY", help=STUDY_HELP)
    _add_overrides(check)
    _add_dirs(check)

    export = sub.add_parser(
        "export",
        help="write a study's results to MLflow or TensorBoard",
        description="Export the results of STUDY (a study name, name+hash, or a results folder) as one "
        "tracker run per trial: configuration as parameters, curves as step metrics, final metrics. "
        "Needs the extra: pip install 'ablate[mlflow]' or 'ablate[tensorboard]'.",
    )
    export.add_argument("study", metavar="STUDY")
    export.add_argument("--to", required=True, choices=["mlflow", "tensorboard"], help="the tracker")
    export.add_argument(
        "-o",
        "--out",
        default=None,
        help="MLflow: a tracking URI or a folder (default ./mlruns); TensorBoard: a log folder "
        "(default ./tensorboard)",
    )
    _add_dirs(export)

    ls = sub.add_parser(
        "list", help="list variants, datasets, kernels or studies", description="List what a study can name."
    )
    ls.add_argument("what", choices=["variants", "datasets", "kernels", "studies"])
    _add_dirs(ls)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parse(build_parser(), argv)
    import_plugins()
    results_dir = paths.results_dir(args.results)
    try:
        if args.command == "list":
            return _list(args.what, args.studies)
        if args.command == "compare":
            return _compare(args.a, args.b, results_dir, args.out)
        if args.command == "export":
            return _export(args.study, args.to, args.out, results_dir)
        if args.command == "report":
            if not (results_dir / args.study).is_dir():
                paths.resolve_study(args.study, args.studies)  # an unknown name is answered with the list
            name = Path(args.study).stem if paths.looks_like_path(args.study) else args.study
            return _report(name, results_dir)
        from suite import overrides

        path = paths.resolve_study(args.study, args.studies)
        study = overrides.load(
            path,
            overrides.parse(args.overrides, args.seeds),
            vectorize=False if getattr(args, "no_vectorize", False) else None,
        )
        if args.command == "check":
            from suite.console import check_report

            print(check_report(study, path, results_dir))
            return 0
        from suite.execution import executor_for

        executor = executor_for(study, args.executor, args.workers, args.address)
        return _run(study, results_dir, force=args.force, progress=not args.no_progress, executor=executor)
    except (StudyError, ExecutorError, OverrideError) as err:
        print(f"ablate: {err}", file=sys.stderr)
        return 2


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, letting overrides follow options too (`run heads --seeds 2 training.lr=0.1`):
    argparse fills a nargs="*" positional only once, before such options."""
    args, extra = parser.parse_known_args(argv)
    if hasattr(args, "overrides"):
        args.overrides += [x for x in extra if "=" in x and not x.startswith("-")]
        extra = [x for x in extra if not ("=" in x and not x.startswith("-"))]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _list(what: str, studies_dir: Path | None) -> int:
    from suite import console

    print(console.listing(what, studies_dir), end="")
    return 0


def _run(
    study, results_dir: Path, *, force: bool, progress: bool, executor: ExecutorSpec | None = None
) -> int:
    from suite.runner import run_study
    from suite.store import Store, StoreLocked

    store = Store(results_dir / study.name)
    # A study of another kind (kernels) describes itself; a training study's meta is built here.
    meta = study.meta() if hasattr(study, "meta") else _train_meta(study)
    if getattr(study, "overrides", None):
        meta["overrides"] = study.overrides
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
    from suite.console import summary

    out, problems = summary(study, store, counts)
    print(out)
    if problems:
        print(problems, file=sys.stderr)
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


def _export(study: str, target: str, out: str | None, results_dir: Path) -> int:
    from suite.export import ExportError, export

    folder = Path(study) if (Path(study) / "runs.parquet").is_file() else results_dir / study
    try:
        where, count = export(folder, target, out)
    except ExportError as err:
        print(f"ablate: {err}", file=sys.stderr)
        return 2
    print(f"exported {count} trial(s) of {folder} to {target}: {where}")
    return 0


def _compare(a: str, b: str, results_dir: Path, out: Path | None) -> int:
    from suite.report.compare import compare

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
    text = compare(*sides)
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
        print(f"comparison: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
