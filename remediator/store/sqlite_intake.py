"""The intake queue: webhook payloads written down before the receiver answers 2xx.

A row moves ``queued`` -> ``claimed`` (a worker took it) -> ``planned`` (its decisions and
draft records were written in the same transaction as the guardrail claims) -> ``done``.
After a crash, ``claimed`` rows go back to the queue (nothing happened yet) and ``planned``
rows are handed to the engine to record their runs as interrupted.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .intake import STATES, Accepted, IntakeRow, Orphan, row_dict
from .owners import owner_alive
from .sqlite_tx import gate_for, read, use_wal, write


class IntakeQueue:
    """The intake table of a SQLite store, through a connection of its own (one per thread).

    ``durable`` makes each commit wait for the disk (``synchronous=FULL``): an accepted
    payload then survives a power cut, not only a crash of the process.
    """

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        from .sqlite import SqliteStore

        self.path = path
        self._gate = gate_for(path)
        SqliteStore(path).close()  # create the file and apply every migration
        try:
            self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                                       check_same_thread=False)
            use_wal(self._db)
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the intake queue: {exc}", where=str(path)) from None

    def _write(self, what: str, urgent: bool = False
               ) -> AbstractContextManager[sqlite3.Connection]:
        return write(self._db, self.path, what, urgent=urgent, gate=self._gate)

    def accept(self, payloads: Sequence[Accepted]) -> list[int | None]:
        """Write every payload in one transaction; a replayed key gets None, the rest an id."""
        ids: list[int | None] = []
        with self._write("accepted payloads", urgent=True) as db:
            for item in payloads:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO intake (received_at, source, body, replay_key, state)"
                    " VALUES (?,?,?,?,?)", (item.received_at, item.source, item.body,
                                            item.replay_key, item.state))
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
        """Mark rows handled, each with what came of it (record ids, duplicates, an error);
        their plan is no longer needed."""
        marks = ",".join("?" * len(ids))
        with self._write("intake results") as db:
            db.execute(f"DELETE FROM intake_plans WHERE id IN (SELECT plan_id FROM intake"  # noqa: S608
                       f" WHERE id IN ({marks}))", tuple(ids))
            db.executemany("UPDATE intake SET state = 'done', done_at = ?, result = ?,"
                           " plan_id = NULL WHERE id = ?",
                           [(at, json.dumps(results.get(i), sort_keys=True), i) for i in ids])

    def release(self, ids: Sequence[int]) -> None:
        """Put claimed rows back in the queue (a worker stopping before it planned them)."""
        with self._write("intake release") as db:
            db.executemany("UPDATE intake SET state = 'queued', owner = NULL, claimed_at = NULL"
                           " WHERE id = ? AND state = 'claimed'", [(i,) for i in ids])

    def recover(self) -> tuple[int, list[Orphan]]:
        """Rows of dead workers: claimed ones go back to the queue (how many), planned ones
        are returned, one Orphan per plan, so their drafts can be recorded."""
        requeue: list[int] = []
        planned: dict[int, list[int]] = {}
        plans: dict[int, str] = {}
        with self._write("intake recovery") as db:
            rows = db.execute("SELECT i.id, i.state, i.owner, i.plan_id, p.body FROM intake i"
                              " LEFT JOIN intake_plans p ON p.id = i.plan_id WHERE i.state IN"
                              " ('claimed', 'planned') ORDER BY i.id").fetchall()
            for rid, state, owner, plan_id, body in rows:
                if owner and owner_alive(owner):
                    continue
                if state == "claimed" or body is None:
                    requeue.append(rid)
                else:
                    planned.setdefault(plan_id, []).append(rid)
                    plans[plan_id] = body
            db.executemany("UPDATE intake SET state = 'queued', owner = NULL, claimed_at = NULL,"
                           " plan_id = NULL WHERE id = ?", [(i,) for i in requeue])
        orphans = [Orphan(tuple(ids), json.loads(plans[pid])) for pid, ids in planned.items()]
        return len(requeue), orphans

    def counts(self) -> dict[str, int]:
        """Rows by state."""
        found = dict(self._read("SELECT state, COUNT(*) FROM intake GROUP BY state", ()))
        return {state: int(found.get(state, 0)) for state in STATES}

    def row(self, rid: int) -> dict[str, Any]:
        """One row as a dict (for tests and `serve` diagnostics)."""
        rows = self._read("SELECT i.id, i.received_at, i.source, i.body, i.replay_key, i.state,"
                          " i.owner, i.claimed_at, p.body, i.done_at, i.result FROM intake i"
                          " LEFT JOIN intake_plans p ON p.id = i.plan_id WHERE i.id = ?", (rid,))
        if not rows:
            raise StoreError(f"no intake row {rid}", where=str(self.path))
        return row_dict(rows[0])

    def prune(self, before: str) -> int:
        """Forget handled rows received before ``before``; how many went."""
        with self._write("intake prune") as db:
            return db.execute("DELETE FROM intake WHERE state = 'done' AND received_at < ?",
                              (before,)).rowcount

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        return read(self._db, self.path, sql, args, "the intake queue")
