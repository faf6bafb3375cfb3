"""The intake queue: webhook payloads written down before the receiver answers 2xx.

A row moves ``queued`` -> ``claimed`` (a worker took it) -> ``planned`` (its decisions and
draft records were written in the same transaction as the guardrail claims) -> ``done``.
After a crash, ``claimed`` rows go back to the queue (nothing happened yet) and ``planned``
rows are handed to the engine to record their runs as interrupted.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .sqlite_guard import NODE, alive

MIGRATION = """
CREATE TABLE IF NOT EXISTS intake (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    source TEXT NOT NULL,
    body TEXT NOT NULL,
    replay_key TEXT UNIQUE,
    state TEXT NOT NULL DEFAULT 'queued',
    owner TEXT,
    claimed_at TEXT,
    plan TEXT,
    done_at TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS intake_state ON intake (state, id);
"""

STATES = ("queued", "claimed", "planned", "done")


@dataclass(frozen=True, slots=True)
class Accepted:
    """One payload to write down: which source sent it, its raw JSON, its replay key."""

    received_at: str
    source: str
    body: str
    replay_key: str | None = None


@dataclass(frozen=True, slots=True)
class IntakeRow:
    """A payload taken from the queue."""

    id: int
    received_at: str
    source: str
    body: str


@dataclass(frozen=True, slots=True)
class Orphan:
    """A row whose worker died after planning: its draft records and reserved runs."""

    id: int
    plan: dict[str, Any]


def owner_id(pid: int | None = None) -> str:
    """This process as a row owner: ``node:pid``."""
    return f"{NODE}:{pid or os.getpid()}"


def _owner_alive(owner: str) -> bool:
    node, _, pid = owner.rpartition(":")
    if node != NODE:
        return True  # another machine's worker: only its own restart may recover it
    return pid.isdigit() and int(pid) != os.getpid() and alive(int(pid))


class IntakeQueue:
    """The intake table of a SQLite store, through a connection of its own (one per thread).

    ``durable`` makes each commit wait for the disk (``synchronous=FULL``): an accepted
    payload then survives a power cut, not only a crash of the process.
    """

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        from .sqlite import SqliteStore

        self.path = path
        SqliteStore(path).close()  # create the file and apply every migration
        try:
            self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the intake queue: {exc}", where=str(path)) from None

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write {what}: {exc}", where=str(self.path)) from None

    def accept(self, payloads: Sequence[Accepted]) -> list[int | None]:
        """Write every payload in one transaction; a replayed key gets None, the rest an id."""
        ids: list[int | None] = []
        with self._write("accepted payloads") as db:
            for item in payloads:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO intake (received_at, source, body, replay_key)"
                    " VALUES (?,?,?,?)", (item.received_at, item.source, item.body,
                                          item.replay_key))
                ids.append(cursor.lastrowid if cursor.rowcount else None)
        return ids

    def claim(self, owner: str, at: str, limit: int = 500) -> list[IntakeRow]:
        """Take up to ``limit`` queued payloads, oldest first, for ``owner``."""
        with self._write("intake claim") as db:
            rows = db.execute(
                "UPDATE intake SET state = 'claimed', owner = ?, claimed_at = ? WHERE id IN"
                " (SELECT id FROM intake WHERE state = 'queued' ORDER BY id LIMIT ?)"
                " RETURNING id, received_at, source, body", (owner, at, limit)).fetchall()
        return sorted((IntakeRow(*row) for row in rows), key=lambda r: r.id)

    def oldest_queued(self) -> str | None:
        """When the oldest queued payload arrived, or None when the queue is empty."""
        row = self._read("SELECT MIN(received_at) FROM intake WHERE state = 'queued'", ())
        return row[0][0] if row else None

    def done(self, ids: Sequence[int], at: str, results: dict[int, Any]) -> None:
        """Mark rows handled, each with what came of it (record ids, duplicates, an error)."""
        with self._write("intake results") as db:
            db.executemany("UPDATE intake SET state = 'done', done_at = ?, result = ?, plan = NULL"
                           " WHERE id = ?",
                           [(at, json.dumps(results.get(i), sort_keys=True), i) for i in ids])

    def release(self, ids: Sequence[int]) -> None:
        """Put claimed rows back in the queue (a worker stopping before it planned them)."""
        with self._write("intake release") as db:
            db.executemany("UPDATE intake SET state = 'queued', owner = NULL, claimed_at = NULL"
                           " WHERE id = ? AND state = 'claimed'", [(i,) for i in ids])

    def recover(self) -> tuple[int, list[Orphan]]:
        """Rows of dead workers: claimed ones go back to the queue (how many), planned ones
        are returned so their drafts can be recorded (and then marked done)."""
        requeue: list[int] = []
        orphans: list[Orphan] = []
        with self._write("intake recovery") as db:
            rows = db.execute("SELECT id, state, owner, plan FROM intake WHERE state IN"
                              " ('claimed', 'planned') ORDER BY id").fetchall()
            for rid, state, owner, plan in rows:
                if owner and _owner_alive(owner):
                    continue
                if state == "claimed" or not plan:
                    requeue.append(rid)
                else:
                    orphans.append(Orphan(rid, json.loads(plan)))
            db.executemany("UPDATE intake SET state = 'queued', owner = NULL, claimed_at = NULL"
                           " WHERE id = ?", [(i,) for i in requeue])
        return len(requeue), orphans

    def counts(self) -> dict[str, int]:
        """Rows by state."""
        found = dict(self._read("SELECT state, COUNT(*) FROM intake GROUP BY state", ()))
        return {state: int(found.get(state, 0)) for state in STATES}

    def row(self, rid: int) -> dict[str, Any]:
        """One row as a dict (for tests and `serve` diagnostics)."""
        rows = self._read("SELECT id, received_at, source, body, replay_key, state, owner,"
                          " claimed_at, plan, done_at, result FROM intake WHERE id = ?", (rid,))
        if not rows:
            raise StoreError(f"no intake row {rid}", where=str(self.path))
        keys = ("id", "received_at", "source", "body", "replay_key", "state", "owner",
                "claimed_at", "plan", "done_at", "result")
        data = dict(zip(keys, rows[0], strict=True))
        for key in ("plan", "result"):
            data[key] = json.loads(data[key]) if data[key] else None
        return data

    def prune(self, before: str) -> int:
        """Forget handled rows received before ``before``; how many went."""
        with self._write("intake prune") as db:
            return db.execute("DELETE FROM intake WHERE state = 'done' AND received_at < ?",
                              (before,)).rowcount

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the intake queue: {exc}", where=str(self.path)) from None


def mark_planned(db: sqlite3.Connection, ids: Sequence[int], plan: dict[str, Any]) -> None:
    """Inside the guardrail transaction: these rows' decisions are made, here is the plan."""
    body = json.dumps(plan, sort_keys=True, ensure_ascii=False)
    db.executemany("UPDATE intake SET state = 'planned', plan = ? WHERE id = ?",
                   [(body, i) for i in ids])
