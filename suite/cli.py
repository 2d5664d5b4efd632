"""The `ablate` command (also `python -m suite`).

Every failure a user can cause or meet ends as one line on stderr and a non-zero exit;
`--debug` shows the traceback instead. torch, pandas and the rest are imported only by
the commands that need them, so `ablate --help` answers at once.
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import sys
from pathlib import Path

from suite import locate, paths
from suite.arguments import nonnegative_float, positive_int

INTERRUPTED = 130  # the shell's code for a Ctrl-C
DISK_FULL = 4
NOTHING_FINISHED = 5  # a run whose every trial failed or was skipped
EXIT_CODES = (
    "exit codes: 0 done (a run with some failed or skipped trials too: the summary says which); "
    "1 an internal error (doctor: problems remain; compare --fail-on-difference: a difference); 2 bad input (a study, an override, a damaged results file: one line says "
    "which); 3 the results folder is being written by another run; 4 the disk is full; "
    f"{NOTHING_FINISHED} a run in which every trial failed or was skipped (none finished, none cached); 130 interrupted (Ctrl-C or "
    "SIGTERM: finished trials are kept)"
)


class Stopped(Exception):
    """A run that stopped early (Ctrl-C, a full disk); the message says what was kept."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


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


def _add_sequential(p: argparse.ArgumentParser, planning: bool = False) -> None:
    p.add_argument(
        "--until-resolved",
        action="store_true",
        help=(
            "plan a sequential run: expected seeds and time per open contrast, the worst case at --max-seeds "
            "(planned without the flag where the study sets until_resolved:)"
            if planning
            else "after the study's seeds, add seeds in batches only to the variants whose contrasts on the "
            "primary metric are still open, until each has a verdict or --max-seeds are spent "
            "(group-sequential, error-controlled: docs/sequential.md); a study's `until_resolved:` key does the same"
        ),
    )
    p.add_argument(
        "--max-seeds",
        type=positive_int,
        default=None,
        metavar="N",
        help="with --until-resolved: at most N seeds per variant (default: the study's until_resolved.max_seeds, "
        "else 20)",
    )
    p.add_argument(
        "--batch",
        type=positive_int,
        default=None,
        metavar="K",
        help="with --until-resolved: seeds added per look (default: the study's until_resolved.batch, else 2)",
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
        epilog=EXIT_CODES,
    )
    parser.add_argument("--version", action=_Version, help="print the installed version and exit")
    parser.add_argument("--debug", action="store_true", help="show a traceback when something fails")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a study's missing trials into results/<study>/",
        description="Run the trials of STUDY that results/<study>/ does not have yet (failed and skipped ones are tried again), then stop. Results are kept as each trial finishes.",
        epilog=EXIT_CODES,
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
    run.add_argument("--workers", type=positive_int, metavar="N", help="parallel workers (processes, ray)")
    _add_sequential(run)
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
    report.add_argument(
        "--latex",
        action="store_true",
        help="also write results/<study>/tables.tex: the answer and main results tables as booktabs LaTeX",
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
    compare.add_argument(
        "--fail-on-difference",
        action="store_true",
        help="exit 1 when any difference is marked in the 'differs' column: its 95%% CI excludes 0 or, "
        "with no CI (the same Δ in every pair), the exact sign-flip p < 0.05; each row is its own test, "
        "uncorrected for the number of rows (for scripts)",
    )
    compare.add_argument(
        "--metrics",
        choices=["all", "quality", "cost"],
        default="all",
        help="which metrics to tabulate and fail on: quality (loss, accuracy), cost (speed, memory) or "
        "all (default). A rerun on another machine or under other load differs in speed: "
        "--metrics quality --fail-on-difference checks what the models learned",
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
    _add_sequential(check, planning=True)
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
    ls.add_argument(
        "--markdown",
        action="store_true",
        help="variants: the reference page docs/variants.md (every variant and knob), as markdown",
    )
    _add_dirs(ls)
    results = sub.add_parser(
        "results",
        help="list result folders: study, overrides, trials done, status, dates",
        description="List the folders under --results (those of STUDY and its overridden variations, "
        "if given) with the overrides each ran with, its trials done by status, and when they ran.",
    )
    results.add_argument("study", metavar="STUDY", nargs="?")
    _add_dirs(results)
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

    predict = sub.add_parser(
        "predict",
        help="classify given text with a trained trial's model",
        description="Rebuild VARIANT's model of STUDY from its checkpoint (a study run with "
        "measure.checkpoint=true) and print the predicted class and its probability for each TEXT, "
        "read with the dataset's own vocabulary.",
    )
    _add_trial(predict)
    predict.add_argument("texts", nargs="+", metavar="TEXT", help="a text to classify (quote it)")
    _add_dirs(predict)

    sample = sub.add_parser(
        "sample",
        help="generate text with a trained character language model",
        description="Rebuild VARIANT's model of STUDY from its checkpoint (a study run with "
        "measure.checkpoint=true on a character-level language model) and print PROMPT continued.",
    )
    _add_trial(sample)
    sample.add_argument("--prompt", required=True, metavar="TEXT", help="the text to continue")
    sample.add_argument("--tokens", type=positive_int, default=200, metavar="N", help="characters to draw")
    sample.add_argument(
        "--temperature",
        type=nonnegative_float,
        default=1.0,
        metavar="T",
        help="softmax temperature (0: greedy)",
    )
    sample.add_argument(
        "--top-k", type=positive_int, default=None, metavar="K", help="draw among the K likeliest"
    )
    sample.add_argument(
        "--sample-seed",
        type=int,
        default=0,
        metavar="S",
        help="seed of the draws: the same seed, the same text",
    )
    _add_dirs(sample)
    return parser


def _add_trial(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "study", metavar="STUDY", help="a study name, or a results folder name such as heads+1a2b3c4d"
    )
    p.add_argument("variant", metavar="VARIANT", help="a variant label of the study (as its report shows it)")
    p.add_argument(
        "--seed", type=int, default=None, metavar="K", help="the trial's seed (default: the lowest kept)"
    )
    p.add_argument("--dataset", default=None, metavar="D", help="the dataset, where the study ran several")


def entry() -> None:
    """The `ablate` command: `main`, then an exit that skips tearing the interpreter down.

    Freeing every module of a process that has imported torch takes 0.7–0.8 s here (a process that
    imports the training code exits in 2.2 s, or 1.4 s this way): as long as a whole `ablate list`.
    Threads are joined and atexit handlers run first, as in any exit; only the teardown after them
    is skipped (Instagram's `atexit.register(os._exit, 0)`, with the command's exit code)."""
    atexit.register(_exit_now)  # registered first, so it runs after every other handler
    _exit_code[0] = 1  # an exception escaping main (--debug) prints its traceback, then exits 1
    try:
        _exit_code[0] = main()
    except KeyboardInterrupt:
        _exit_code[0] = 130
        raise
    except SystemExit as err:  # --help and usage errors
        _exit_code[0] = err.code if isinstance(err.code, int) else int(err.code is not None)
        raise
    sys.exit(_exit_code[0])


_exit_code = [0]


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`ablate list | head -1`) or stream
            pass
    os._exit(_exit_code[0])


def main(argv: list[str] | None = None) -> int:
    args = _parse(build_parser(), argv)
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
    if type(err).__name__ in (
        "StudyError",
        "ExecutorError",
        "PluginError",
        "OverrideError",
        "ExportError",
        "UseError",
        "CheckpointError",
        "DataUnavailable",
        "DataError",
    ):
        return str(err), 2
    first = str(err).splitlines()[0] if str(err) else ""
    return f"internal error: {type(err).__name__}: {first} (run with --debug for the traceback)", 1


def _dispatch(args) -> int:
    from suite.executors.worker import import_plugins

    import_plugins()
    results_dir = paths.results_dir(args.results)
    if args.command == "results":
        from suite.inventory import listing

        print(listing(results_dir, args.study), end="")
        return 0
    if args.command == "list":
        if args.markdown:
            if args.what != "variants":
                print(
                    "ablate: --markdown writes the variants page only: ablate list variants --markdown",
                    file=sys.stderr,
                )
                return 2
            from suite.reference import variants_markdown

            print(variants_markdown(), end="")
            return 0
        return _list(args.what, args.studies)
    if args.command == "doctor":
        folder = None if args.study is None else locate.results_folder(args.study, results_dir, args.studies)
        return _doctor(folder, results_dir, fix=args.fix)
    if args.command == "compare":
        a, b = (locate.results_folder(side, results_dir, args.studies) for side in (args.a, args.b))
        return _compare(a, b, args.out, args.fail_on_difference, args.metrics)
    if args.command == "export":
        return _export(locate.results_folder(args.study, results_dir, args.studies), args.to, args.out)
    if args.command in ("predict", "sample"):
        return _use(args, locate.results_folder(args.study, results_dir, args.studies))
    if args.command == "report":
        return _report(locate.results_folder(args.study, results_dir, args.studies), args.latex)
    from suite import overrides

    path, stored, parent = locate.study_file(args.study, args.studies)
    if parent is not None and args.results is None:  # STUDY was a results folder: its results stay there
        results_dir = parent
    study = overrides.load(
        path,
        {**stored, **overrides.parse(args.overrides, args.seeds)},
        vectorize=False if getattr(args, "no_vectorize", False) else None,
    )
    if args.command == "check":
        from suite import kinds
        from suite.console import check_report
        from suite.store import Store

        sequential = _sequential(study, args)  # a refused design says so before any plan is printed
        waiting = kinds.pending(study, Store(results_dir / study.name))  # e.g. tuning's chosen trials
        print(check_report(study, path, results_dir) + waiting)
        if sequential:
            from suite.report.resolve import plan_lines

            trials = study.trials()
            variants = len(dict.fromkeys(t.variant for t in trials))
            datasets = len(dict.fromkeys((t.dataset, str(t.dataset_params)) for t in trials))
            lines = plan_lines(results_dir / study.name, study.seeds, variants, datasets, *sequential)
            print("\n".join(lines))
        return 0
    from suite.console import memory_estimate, physical_memory
    from suite.execution import executor_for

    memory = memory_estimate(study.trials())
    if memory is not None and memory[0] > physical_memory():  # it could only swap, then be killed
        raise Stopped(
            f"{path}: {memory[1]} needs at least {memory[0] / 2**30:,.0f} GiB of memory, more than this "
            f"machine's {physical_memory() / 2**30:,.0f} GiB; shrink the sizes named",
            2,
        )
    executor = executor_for(study, args.executor, args.workers, args.address)
    return _run(study, results_dir, force=args.force, progress=not args.no_progress, executor=executor,
                sequential=_sequential(study, args))  # fmt: skip


def _sequential(study, args) -> tuple[int, int] | None:
    """(batch, max seeds) of a sequential run, or None: --until-resolved with --batch/--max-seeds,
    else the study's `until_resolved:` (the flags override its values), refused in one line where
    the study cannot run that way."""
    from suite.study import UntilResolvedSpec

    spec = getattr(getattr(study, "spec", None), "until_resolved", None)
    if not (args.until_resolved or spec is not None):
        if args.batch or args.max_seeds:
            raise Stopped("--max-seeds and --batch shape a sequential run: add --until-resolved", 2)
        return None
    if study.kind != "train":
        raise Stopped(
            f"--until-resolved: {study.name} is a '{study.kind}' study; it needs a training study's contrasts",
            2,
        )
    spec = spec or UntilResolvedSpec()  # its defaults are the flags' defaults
    batch, most = args.batch or spec.batch, args.max_seeds or spec.max_seeds
    cap = "--max-seeds" if args.max_seeds else "until_resolved.max_seeds"
    force = "--force" if getattr(args, "force", False) else None
    if why := study.sequential_refusal(most, cap, force):
        raise Stopped(f"--until-resolved: {why}", 2)
    if len(study.seeds) < 5:
        print(
            f"note: a first look at {len(study.seeds)} seeds: a seeds-only t with fewer than 4 degrees of freedom "
            "meets the boundaries only approximately (a look after every seed from 4: 5.4% family-wise in "
            "simulation); two-level contrasts call nothing before 6 seeds (docs/sequential.md)"
        )
    return batch, most


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, letting overrides follow options too (`run heads --seeds 2 training.lr=0.1`):
    argparse fills a nargs="*" positional only once, before such options."""
    args, extra = parser.parse_known_args(argv)
    if hasattr(args, "overrides"):  # a word without '=' too: overrides.parse hints at KEY.PATH=VALUE
        args.overrides += [x for x in extra if not x.startswith("-")]
        extra = [x for x in extra if x.startswith("-")]
    if extra:
        hint = "; an override is KEY.PATH=VALUE, e.g. training.lr=0.01" if hasattr(args, "overrides") else ""
        parser.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    return args


def _list(what: str, studies_dir: Path | None) -> int:
    from suite import console

    print(console.listing(what, studies_dir), end="")
    return 0


def _run(study, results_dir: Path, *, force: bool, progress: bool, executor=None, sequential=None) -> int:
    from suite.runner import run, run_until_resolved
    from suite.store import Store, free_space, is_disk_full

    signal.signal(signal.SIGTERM, _terminated)  # unwind as for Ctrl-C: stop workers, keep results
    store = Store(results_dir / study.name)
    try:
        if sequential:
            from suite.report.resolve import decider

            want = decider(study.seeds, *sequential)
            counts = run_until_resolved(study, store, want, progress=progress, executor=executor)
        else:
            counts = run(study, store, force=force, progress=progress, executor=executor)
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
    if sequential:
        from suite.report.resolve import summary_lines

        print("\n".join(summary_lines(store.meta().get("sequential") or {})))
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


def _doctor(folder: Path | None, results_dir: Path, *, fix: bool) -> int:
    """Report (and with --fix repair) the health of result folders; exit 1 if problems remain."""
    from suite.store import Store

    name = None if folder is None else str(folder) if folder.parent != results_dir else folder.name
    if folder is not None:
        folders = [folder]
    elif not results_dir.is_dir():
        what = "no such folder" if not results_dir.exists() else "not a folder"
        print(f"ablate: results folder {results_dir}: {what}; name it with --results", file=sys.stderr)
        return 2
    else:
        folders = sorted(p for p in results_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    remaining = 0
    for folder in folders:
        store = Store(folder, notify=lambda line: print(f"  fixed: {line}"))
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


def _summary(study, store, counts) -> int:
    from suite.console import summary

    out, problems = summary(study, store, counts)
    print(out)
    if problems:
        print(problems, file=sys.stderr)
    from suite.kinds import FINISHED

    ran = sum(n for status, n in counts.items() if status != "cached")
    finished = sum(counts.get(status, 0) for status in (*FINISHED, "cached"))
    if ran and not finished:  # nothing of the study is done: a script must not go on to report it
        print(f"ablate: none of the {ran} trial(s) run finished (exit {NOTHING_FINISHED})", file=sys.stderr)
        return NOTHING_FINISHED
    return 0


def _report(directory: Path, latex: bool = False) -> int:
    from suite.report import write_report

    try:
        path = write_report(directory)
    except FileNotFoundError as err:
        print(f"ablate: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    if not latex:
        return 0
    from suite.store import Store

    kind = Store(directory).meta().get("kind", "train")
    if kind != "train":
        print(
            f"ablate: --latex writes a training study's tables; {directory.name} is a '{kind}' study",
            file=sys.stderr,
        )
        return 2
    from suite.report.latex import write_latex

    tex, notes = write_latex(directory)
    for note in notes:
        print(f"latex: {note}")
    print(f"latex: {tex}")
    return 0


def _export(folder: Path, target: str, out: str | None) -> int:
    from suite.export import ExportError, export

    try:
        where, count = export(folder, target, out)
    except ExportError as err:
        print(f"ablate: {err}", file=sys.stderr)
        return 2
    print(f"exported {count} trial(s) of {folder} to {target}: {where}")
    return 0


def _use(args, folder: Path) -> int:
    """`ablate predict` and `ablate sample`: a trial's model, rebuilt from its checkpoint."""
    from suite import use

    path = use.find(folder, args.variant, args.seed, args.dataset)
    model, meta, dataset = use.load(path)
    if args.command == "sample":
        text = use.sample(
            model, meta, dataset, args.prompt, args.tokens, args.temperature, args.top_k, args.sample_seed
        )
        print(text)
        return 0
    for p in use.predict(model, meta, dataset, args.texts):
        shown = p.text if len(p.text) <= 60 else p.text[:57] + "..."
        print(f"{p.name}\t{p.probability:.3f}\t{shown}")
    return 0


def _compare(a: Path, b: Path, out: Path | None, fail_on_difference: bool = False, kinds: str = "all") -> int:
    from suite.report.compare import KINDS, CompareError, compare_results, config_differences
    from suite.store import Store

    try:
        text, differences = compare_results(a, b, KINDS if kinds == "all" else (kinds,))
    except CompareError as err:
        print(f"ablate: {err}", file=sys.stderr)
        return 2
    changed = config_differences(Store(a).meta(), Store(b).meta())
    if changed:  # said first, where a script's reader sees it whatever --out does with the table
        print(f"ablate: note: A and B differ in configuration: {changed}", file=sys.stderr)
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
        print(f"comparison: {out}")
    significant = [d for d in differences if d.significant]
    if fail_on_difference and significant:
        print(f"ablate: {len(significant)} difference(s) at 95% (see the 'differs' column)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
