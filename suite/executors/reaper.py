"""Ends what a driver started when the driver dies without cleaning up (kill -9).

    python reaper.py DRIVER_PID     (stdin: a pipe that only the driver holds open)

A local Ray cluster's agents (DashboardAgent, RuntimeEnvAgent) outlive a killed driver by about a
minute. While the driver lives, this process notes its descendants started after this process
(pid and start time) every POLL_S, so a child the driver had before (a notebook's, another
executor's) is left alone; when the pipe closes (the driver ended, however it ended), it sends SIGTERM to those still
alive, and SIGKILL to any left after GRACE_S. It runs as a file, not as a package module, so that
it starts in milliseconds and imports nothing of the suite; it runs in its own session, so that a
Ctrl-C to the driver's terminal does not end it before the driver. Linux only (reads /proc).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

POLL_S = 0.5
GRACE_S = 2.0


def _table() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, start time) of every process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[int(name)] = (int(fields[1]), fields[19])  # after the name: state, ppid, …, starttime
    return out


def descendants(root: int) -> dict[int, str]:
    """pid → start time of every process below `root` (the start time tells a reused pid apart)."""
    table = _table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = {}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found[child] = table[child][1]
                todo.append(child)
    return found


def _still_running(seen: dict[int, str]) -> list[int]:
    table = _table()
    return [pid for pid, start in seen.items() if pid in table and table[pid][1] == start]


def end(seen: dict[int, str]) -> None:
    """SIGTERM, then SIGKILL after GRACE_S, to the noted processes that are still the same processes."""
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 0.0)):
        for pid in _still_running(seen):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while wait and time.monotonic() < deadline and _still_running(seen):
            time.sleep(0.05)


def main(driver: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    closed = threading.Event()

    def watch() -> None:
        sys.stdin.buffer.read()  # returns when every copy of the write end is closed
        closed.set()

    threading.Thread(target=watch, daemon=True).start()
    born = int(_table()[os.getpid()][1])  # what the driver started before this watcher is not its to end
    seen: dict[int, str] = {}
    while True:  # note at once, then every POLL_S: once the driver is gone its family cannot be found
        seen.update((pid, start) for pid, start in descendants(driver).items() if int(start) >= born)
        if closed.wait(POLL_S):
            break
    seen.pop(os.getpid(), None)
    end(seen)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
