"""A run's processes on this machine: how they are marked, found and stopped.

Every local run's command starts under ``executor/_reaper.py`` with the argument
``remediator-run=IDENT``; the processes carrying that marker are the run's. A run whose owner
died holds its hosts' locks while they live, and recovery stops them before it records the
run as interrupted.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

MARKER = "remediator-run="
REAPER = Path(__file__).with_name("executor") / "_reaper.py"


def marker(ident: str) -> str:
    """The argument that names ``ident``'s processes."""
    return MARKER + ident


def wrap(ident: str, command: list[str], python: str) -> list[str]:
    """``command`` started under the reaper: it dies with this process."""
    return [python, "-I", "-S", str(REAPER), marker(ident), str(os.getpid()), "--", *command]


def processes(idents: Iterable[str], proc: Path = Path("/proc")) -> dict[str, list[int]]:
    """The live processes (pids) on this machine marked with each of ``idents``."""
    wanted = {marker(ident).encode(): ident for ident in idents}
    found: dict[str, list[int]] = {}
    if not wanted:
        return found
    try:
        entries = [e for e in os.listdir(proc) if e.isdigit()]
    except OSError:
        return found
    for entry in entries:
        try:
            args = (proc / entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for arg in args[3:6]:  # python -I -S REAPER MARKER: the marker is argv[4]
            ident = wanted.get(arg)
            if ident is not None:
                found.setdefault(ident, []).append(int(entry))
                break
    return found


def stop(idents: Iterable[str], *, grace_s: float = 10.0,
         sleep: Callable[[float], None] = time.sleep) -> dict[str, list[int]]:
    """Stop the runs' processes: SIGTERM to each reaper (which stops its group), then
    SIGKILL to the groups still there after ``grace_s``. What is still alive after that
    (another user's processes) is returned."""
    idents = list(idents)
    running = processes(idents)
    if not running:
        return {}
    for pids in running.values():
        for pid in pids:
            _signal(pid, signal.SIGTERM, group=False)
    deadline = time.monotonic() + grace_s
    while running and time.monotonic() < deadline:
        sleep(0.1)
        running = processes(running)
    for pids in running.values():
        for pid in pids:
            _signal(pid, signal.SIGKILL, group=True)
    if running:
        sleep(0.2)
        running = processes(running)
    return running


def _signal(pid: int, signum: int, *, group: bool) -> None:
    try:
        if group:
            pgid = os.getpgid(pid)
            if pgid != os.getpgrp():  # never this process's own group
                os.killpg(pgid, signum)
        else:
            os.kill(pid, signum)
    except OSError:
        pass
