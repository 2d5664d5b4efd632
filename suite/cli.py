"""The `ablate` command (also `python -m suite`).

Every failure a user can cause or meet ends as one line on stderr and a non-zero exit;
`--debug` shows the traceback instead. torch, pandas and the rest are imported only by
the commands that need them, so `ablate --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INTERRUPTED = 130  # the shell's code for a Ctrl-C
DISK_FULL = 4


class Stopped(Exception):
    """A run that stopped early (Ctrl-C, a full disk); the message says what was kept."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


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
    parser.add_argument("--debug", action="store_true", help="show a traceback when something fails")
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
    run.add_argument("--workers", type=_positive, metavar="N", help="parallel workers (processes, ray)")
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
    _add_dirs(compare)

    check = sub.add_parser("check", help="validate a study and print its trial count, running nothing")
    check.add_argument("study", metavar="STUDY")
    _add_dirs(check)

    ls = sub.add_parser(
        "list", help="list variants, datasets, kernels or studies", description="List what a study can name."
    )
    ls.add_argument("what", choices=["variants", "datasets", "kernels", "studies"])
    _add_dirs(ls)

    doctor = sub.add_parser(
        "doctor",
        help="check result tables; repair with --fix",
        description="Check the result tables of STUDY (default: every study under --results): readable, "
        "required columns, schema version, leftovers of dead writers. --fix moves damaged tables to "
        ".damaged/ (their trials run again on the next `ablate run`), migrates older ones and compacts.",
    )
    doctor.add_argument("study", metavar="STUDY", nargs="?")
    doctor.add_argument("--fix", action="store_true", help="repair what can be repaired")
    _add_dirs(doctor)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except BaseException as err:  # noqa: BLE001 - every failure becomes one line, unless --debug
        if args.debug or isinstance(err, SystemExit):
            raise
        line, code = _explain(err)
        print(f"ablate: {line}", file=sys.stderr)
        return code


def _explain(err: BaseException) -> tuple[str, int]:
    """One line and an exit code for a failure that reached the top."""
    from suite.store import StoreError, StoreLocked, free_space, is_disk_full

    if isinstance(err, Stopped):
        return str(err), err.code
    if isinstance(err, KeyboardInterrupt):
        return "interrupted", INTERRUPTED
    if isinstance(err, StoreLocked):
        return str(err), 3
    if isinstance(err, StoreError):
        return str(err), 2
    if is_disk_full(err):
        where = Path(err.filename) if getattr(err, "filename", None) else Path.cwd()
        return f"no space left on the device writing {where} ({free_space(where)})", DISK_FULL
    if isinstance(err, OSError):
        return f"{err.filename or 'a file'}: {err.strerror or err}", 2
    if type(err).__name__ in ("StudyError", "ExecutorError", "PluginError"):
        return str(err), 2
    first = str(err).splitlines()[0] if str(err) else ""
    return f"internal error: {type(err).__name__}: {first} (run with --debug for the traceback)", 1


def _dispatch(args) -> int:
    from suite.executors import ExecutorSpec, with_overrides
    from suite.executors.worker import import_plugins
    from suite.study import load_study, study_path

    import_plugins()
    studies_dir = args.studies or default_studies_dir()
    results_dir = args.results or default_results_dir()
    if args.command == "doctor":
        return _doctor(args.study, results_dir, fix=args.fix)
    if args.command == "list":
        return _list(args.what, studies_dir)
    if args.command == "compare":
        return _compare(args.a, args.b, results_dir, args.out)
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


def _list(what: str, studies_dir: Path) -> int:
    if what == "studies":
        from suite.study import StudyError, find_studies, load_study

        names = find_studies(studies_dir)
        for name in names:
            path = studies_dir / f"{name}.yaml"
            try:
                line = load_study(path).description.splitlines()[0]
            except StudyError as err:
                line = f"(invalid: {str(err).splitlines()[0].removeprefix(f'{path}: ')})"
            except Exception as err:  # noqa: BLE001 - one bad study must not hide the others
                line = f"(invalid: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
            print(f"{name:24s} {line[:100]}")
        for link in sorted(p for p in studies_dir.glob("*.yaml") if p.stem not in names):
            print(f"{link.stem:24s} (skipped: a link to {link.resolve()}, outside {studies_dir})")
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


def _run(study, results_dir: Path, *, force: bool, progress: bool, executor=None) -> int:
    from suite.runner import run_study
    from suite.store import Store, free_space, is_disk_full

    signal.signal(signal.SIGTERM, _terminated)  # unwind as for Ctrl-C: stop workers, keep results
    store = Store(results_dir / study.name)
    # A study of another kind (kernels) describes itself; a training study's meta is built here.
    meta = study.meta() if hasattr(study, "meta") else _train_meta(study)
    try:
        with store.lock():
            store.write_meta(meta)
            counts = run_study(study, store, force=force, progress=progress, executor=executor)
    except KeyboardInterrupt:
        raise Stopped(f"interrupted: {_kept(study, store)}; rerun to finish", INTERRUPTED) from None
    except OSError as err:
        if not is_disk_full(err):
            raise
        raise Stopped(
            f"no space left on the device writing {store.dir} ({free_space(store.dir)}); "
            f"{_kept(study, store)}; free some space and rerun to finish",
            DISK_FULL,
        ) from err
    return _summary(study, store, counts)


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt


def _kept(study, store) -> str:
    """How many of the study's trials the store holds, for a message after an interruption."""
    keys = {t.key for t in study.trials()}
    try:
        kept = len(store.finished_keys() & keys)
    except Exception:  # noqa: BLE001 - the message must not fail
        return f"the finished trials are kept in {store.dir}"
    return f"{kept} of {len(keys)} trials kept in {store.dir}"


def _doctor(name: str | None, results_dir: Path, *, fix: bool) -> int:
    """Report (and with --fix repair) the health of result folders; exit 1 if problems remain."""
    from suite.store import Store

    if name is not None:
        folders = [results_dir / name]
    else:
        folders = sorted(p for p in results_dir.iterdir() if p.is_dir()) if results_dir.is_dir() else []
    remaining = 0
    for folder in folders:
        store = Store(folder, notify=lambda line: print(f"  fixed: {line}"))
        if not folder.is_dir():
            print(f"{folder}: no such results folder")
            remaining += 1
            continue
        health = store.check()
        if health.ok and not store.pending():
            print(f"{folder.name}: ok")
            continue
        for line in health.problems:
            print(f"{folder.name}: {line}")
        if fix:
            with store.lock():  # repairs on entry, compacts on exit
                pass
            health = store.check()
            print(f"{folder.name}: {'ok after repair' if health.ok else 'still has problems'}")
        elif health.ok:
            print(f"{folder.name}: ok")
        remaining += not health.ok
    if remaining and not fix:
        print(f"repair with: ablate doctor {name or ''} --fix".replace("  ", " "))
    return 1 if remaining else 0


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
