"""Progress of long work: a tqdm bar on a terminal, and a plain line every `LINE_EVERY_S`
seconds otherwise (a log file or a pipe gets no carriage returns or empty bars)."""

from __future__ import annotations

import sys
import time

LINE_EVERY_S = 30.0


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


class LineProgress:
    """tqdm's interface as one plain line every `every` seconds, for logs and pipes."""

    def __init__(self, total: int, desc: str, every: float = LINE_EVERY_S, file=None):
        self.total, self.desc, self.every = total, desc, every
        self.file = file or sys.stderr
        self.n = 0
        self.postfix = ""
        self.started = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every or self.n >= self.total:
            self.last = now
            self._line(now)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def _line(self, now: float) -> None:
        elapsed = now - self.started
        eta = elapsed / self.n * (self.total - self.n) if self.n else 0.0
        pct = 100 * self.n / self.total if self.total else 100
        print(
            f"[ablate] {self.desc}: {self.n}/{self.total} trials ({pct:.0f}%), {duration(elapsed)} elapsed, "
            f"ETA {duration(eta)}" + (f" · last: {self.postfix}" if self.postfix else ""),
            file=self.file,
            flush=True,
        )

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str, enabled: bool = True):
    """A tqdm bar on a terminal; plain periodic lines elsewhere; nothing when disabled."""
    if enabled and not sys.stderr.isatty():
        return LineProgress(total, desc)
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="trial", disable=not enabled, dynamic_ncols=True)
