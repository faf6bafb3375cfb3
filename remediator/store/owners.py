"""Who owns a row (a run's lock, a journal entry, a claimed payload): ``node:pid``, and
whether that process is still alive on this machine."""

from __future__ import annotations

import os
import socket

NODE = socket.gethostname()


def alive(pid: int | None) -> bool:
    """True when a process with ``pid`` exists on this machine and has not exited.

    A process that exited but was never reaped (a zombie) still answers ``kill(pid, 0)``; in a
    container whose PID 1 reaps nothing, a dead worker stays a zombie for ever, so its
    state in ``/proc`` decides.
    """
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # "pid (comm) state ...": comm may hold spaces and parentheses, the state follows
            # the last ")"
            return stat.read().rpartition(b")")[2].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal's answer stands


def owner_id(pid: int | None = None) -> str:
    """This process as a row owner: ``node:pid``."""
    return f"{NODE}:{pid or os.getpid()}"


def owner_alive(owner: str) -> bool:
    """False when ``owner`` (``node:pid``) was a process of this machine that is gone."""
    node, _, pid = owner.rpartition(":")
    if node != NODE:
        return True  # another machine's worker: only its own restart may recover it
    return pid.isdigit() and int(pid) != os.getpid() and alive(int(pid))
