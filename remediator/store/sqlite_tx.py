"""Write transactions on a SQLite file, and the gate that orders them inside one process.

SQLite lets one writer in at a time and makes the others sleep and retry (1, 2, 5, 10 ms...),
which is not fair: in ``serve`` the workers' back-to-back transactions kept the receiver's
commits waiting for seconds. Within a process every write transaction on a file passes one
gate, where an urgent writer (the receiver, whose callers wait for their 2xx) goes first.
Other processes still meet at SQLite's own lock.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError


class WriteGate:
    """One write transaction at a time; urgent writers overtake the waiting ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._urgent = 0

    @contextmanager
    def hold(self, urgent: bool = False) -> Iterator[None]:
        with self._cond:
            if urgent:
                self._urgent += 1
            try:
                while self._busy or (not urgent and self._urgent):
                    self._cond.wait()
            finally:
                if urgent:
                    self._urgent -= 1
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()


_GATES: dict[str, WriteGate] = {}
_GATES_LOCK = threading.Lock()


def gate_for(path: Path) -> WriteGate:
    """The gate of the file at ``path`` in this process."""
    key = os.path.realpath(path)
    with _GATES_LOCK:
        return _GATES.setdefault(key, WriteGate())


@contextmanager
def write(db: sqlite3.Connection, path: Path, what: str, *, urgent: bool = False,
          gate: WriteGate | None = None) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction through the file's gate (pass it when you hold it:
    finding it costs a realpath); SQLite errors become a StoreError naming ``what`` and the
    file."""
    with (gate or gate_for(path)).hold(urgent):
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # a failed COMMIT (disk full) may have rolled back
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write {what}: {exc}", where=str(path)) from None


def use_wal(db: sqlite3.Connection, timeout: float = 30.0) -> None:
    """Put the file in WAL mode. Switching needs the file to itself, and SQLite does not wait
    for it: two processes opening a new store at once (two cron jobs) would see "database is
    locked", so this waits up to ``timeout`` as every other statement does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def read(db: sqlite3.Connection, path: Path, sql: str, args: tuple[object, ...], what: str
         ) -> list[Any]:
    """All rows of a query; a SQLite error is a StoreError naming ``what`` and the file."""
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read {what}: {exc}", where=str(path)) from None
