"""The default executor: units run one after another in the driver, torch on all
cores (or `threads`).

Fastest for tiny trials and easiest to debug (a breakpoint works). Output is
captured at the Python level (print, warnings), so the progress bar stays on the
terminal. A trial that kills its process kills the run here — results already
written are kept; use `processes` to isolate such trials.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout

from suite import kinds
from suite.executors.base import Finished
from suite.executors.spec import DAY, ExecutorSpec
from suite.executors.worker import header, import_plugins
from suite.kinds import Trial
from suite.lazy import lazy_import

torch = lazy_import("torch")  # imported when a unit runs: a run with every trial cached needs none


class SerialExecutor:
    def __init__(self, spec: ExecutorSpec):
        self.spec = spec

    def __enter__(self) -> SerialExecutor:
        if self.spec.timeout_s < DAY:  # said, not ignored in silence
            print(
                f"ablate: warning: executor.timeout_s={self.spec.timeout_s:g} is not enforced by the serial "
                "executor (a unit runs in the driver itself); --executor processes stops a unit past it",
                file=sys.stderr,
            )
        import_plugins()
        self._threads = torch.get_num_threads()
        if self.spec.threads:
            torch.set_num_threads(self.spec.threads)
        return self

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self._threads)

    def run(self, units: list[list[Trial]]) -> Iterator[Finished]:
        for unit in units:
            out = io.StringIO()
            out.write(header(unit))
            with redirect_stdout(out), redirect_stderr(out):
                results = kinds.run_unit(unit)
            yield Finished(unit, results, out.getvalue())
