"""Runs a playbook's command as its child, and takes its whole process group down with it
when the remediator process that started it dies (SIGKILL, a crash, the OOM killer).

ansible-runner starts a command in a session (and process group) of its own and ignores
SIGHUP for it, so an ``ansible-playbook`` whose remediator died used to run to its end with
nobody to record it, while the host's lock looked stale. This wrapper asks the kernel for a
SIGTERM when its parent dies (``PR_SET_PDEATHSIG``); it then sends SIGTERM to its group (the
playbook, its forks and the modules they run), waits ``GRACE_S`` (or
``$REMEDIATOR_REAPER_GRACE_S``) for the playbook, and ends
with SIGKILL to the group, itself included. A normal end leaves the group alone: a task that
detached on purpose (``async`` with ``poll: 0``) left the group when it detached.

Started by path as ``python -I -S _reaper.py remediator-run=IDENT PARENT_PID -- COMMAND...``
(no import of remediator: it must start fast). The marker argument lets any remediator on
this machine find the run's processes (``runproc.processes``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
GRACE_S = 5.0


class _Stop(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stop


def _take_down(child: int) -> None:
    """SIGTERM to the group, GRACE_S for the playbook to end, then SIGKILL to all of it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.killpg(0, signal.SIGTERM)
    try:
        grace = float(os.environ.get("REMEDIATOR_REAPER_GRACE_S", GRACE_S))
    except ValueError:
        grace = GRACE_S
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            if os.waitpid(child, os.WNOHANG)[0]:
                break
        except ChildProcessError:
            break
        time.sleep(0.05)
    os.killpg(0, signal.SIGKILL)  # the playbook's forks and modules, and this process


def main(argv: list[str]) -> int:
    if len(argv) < 5 or argv[3] != "--":
        print("usage: _reaper.py remediator-run=IDENT PARENT_PID -- COMMAND...", file=sys.stderr)
        return 2
    parent, command = int(argv[2]), argv[4:]
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the owner's recovery stops the group instead
    child = -1
    try:
        if os.getppid() != parent:  # the parent died before the request took effect
            return 143
        child = os.fork()
        if child == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                os.execvp(command[0], command)  # noqa: S606 - the runner's own command
            except OSError as exc:
                print(f"cannot start {command[0]}: {exc}", file=sys.stderr)
            os._exit(127)
        _, status = os.waitpid(child, 0)
    except _Stop:
        if child == 0:  # the signal came between fork and exec
            os._exit(143)
        if child > 0:
            _take_down(child)
        return 143
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
