"""Runs a playbook's command as its child, and takes its whole process group down with it
when the remediator process that started it dies (SIGKILL, a crash, the OOM killer).

ansible-runner starts a command in a session (and process group) of its own and ignores
SIGHUP for it, so an ``ansible-playbook`` whose remediator died used to run to its end with
nobody to record it, while the host's lock looked stale. This wrapper asks the kernel for a
SIGTERM when its parent dies (``PR_SET_PDEATHSIG``); it then sends SIGTERM to its group (the
playbook, its forks and the modules they run) and to every process descended from it, waits
``GRACE_S`` (or ``$REMEDIATOR_REAPER_GRACE_S``) for the playbook, SIGKILLs what descends from
it until nothing does, and ends with SIGKILL to the group, itself included.

Descendants, not only the group: ansible-playbook's workers call ``setsid`` (each is a session
of its own, with the modules it runs), and rely on the playbook's SIGTERM handler to pass the
signal on; a playbook too slow to handle it within the grace (a loaded machine) used to leave
its workers and their tasks running after the SIGKILL. The reaper is a child subreaper
(``PR_SET_CHILD_SUBREAPER``), so what the playbook leaves behind is re-parented to it, not to
init, and stays findable. A normal end leaves the group alone: a task that
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
PR_SET_CHILD_SUBREAPER = 36
GRACE_S = 5.0


class _Stop(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stop


def _descendants() -> list[int]:
    """The live (not zombie) processes descended from this one, from /proc's parent links."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [os.getpid()]
    while todo:
        for kid in children.get(todo.pop(), ()):
            found.append(kid)
            todo.append(kid)
    return found


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signum)


def _reap() -> None:
    """Collect the exit of every child that ended (orphans re-parented here included)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _take_down(child: int) -> None:
    """SIGTERM to the group and every descendant, GRACE_S for the playbook to end, then
    SIGKILL to every descendant until none is left, and to the group."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.killpg(0, signal.SIGTERM)
    _signal_all(_descendants(), signal.SIGTERM)
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
    for _ in range(100):  # a process forking as it is killed: look again, a few times
        left = _descendants()
        if not left:
            break
        _signal_all(left, signal.SIGKILL)
        time.sleep(0.02)
        _reap()
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
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
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
