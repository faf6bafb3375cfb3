"""The intake queue in PostgreSQL: several ``serve`` instances share one queue.

Rows are handed out with ``FOR UPDATE SKIP LOCKED``, so two instances never claim the same
payload and never wait for each other. Whether a row's owner is still alive is asked of the
server, not of the process table: every process that claims rows holds a session-level advisory
lock named after its owner id on a connection of its own. When that process dies, its
connection closes and the lock goes with it, on whichever machine it ran; ``recover`` takes over
the rows of every owner whose lock it can take.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .intake import STATES, Accepted, IntakeRow, Orphan, row_dict
from .owners import owner_id
from .postgres import PgDb, PgStore, _reason, lock_key

_LIVENESS: dict[str, Any] = {}  # url -> the connection holding this process's owner lock
_LIVENESS_LOCK = threading.Lock()


class PgIntakeQueue:
    """The intake table of a PostgreSQL store (the same interface as the SQLite queue)."""

    def __init__(self, url: str, *, durable: bool = True, pool_size: int = 4) -> None:
        self._store = PgStore(url, pool_size=pool_size)  # the pool, and every migration
        self.url = url
        self.path = Path(self._store.path)
        self._durable = durable

    @contextmanager
    def _tx(self, what: str) -> Iterator[PgDb]:
        with self._store._tx(what) as db:
            if not self._durable:  # a crash may lose the last commit, never corrupt
                db.conn.execute("SET LOCAL synchronous_commit = off")
            yield db

    def _read(self, sql: str, args: Sequence[Any]) -> list[Any]:
        return self._store._query(sql, args)

    def accept(self, payloads: Sequence[Accepted]) -> list[int | None]:
        """Write every payload in one transaction; a replayed key gets None, the rest an id."""
        ids: list[int | None] = []
        with self._tx("accepted payloads") as db:
            for item in payloads:
                row = db.execute(
                    "INSERT INTO intake (received_at, source, body, replay_key, state) VALUES"
                    " (?,?,?,?,?) ON CONFLICT (replay_key) DO NOTHING RETURNING id",
                    (item.received_at, item.source, item.body, item.replay_key,
                     item.state)).fetchone()
                ids.append(int(row[0]) if row else None)
        return ids

    def claim(self, owner: str, at: str, limit: int = 500) -> list[IntakeRow]:
        """Take up to ``limit`` queued payloads, oldest first, skipping rows another instance
        is taking at this moment."""
        self._hold_liveness(owner)
        with self._tx("intake claim") as db:
            rows = db.execute(
                "UPDATE intake SET state = 'claimed', owner = ?, claimed_at = ? WHERE id IN"
                " (SELECT id FROM intake WHERE state = 'queued' ORDER BY id LIMIT ?"
                " FOR UPDATE SKIP LOCKED) RETURNING id, received_at, source, body",
                (owner, at, limit)).fetchall()
        return sorted((IntakeRow(int(r[0]), r[1], r[2], r[3]) for r in rows),
                      key=lambda r: r.id)

    def oldest_queued(self) -> str | None:
        """When the oldest queued payload arrived, or None when the queue is empty."""
        rows = self._read("SELECT MIN(received_at) FROM intake WHERE state = 'queued'", ())
        return rows[0][0] if rows else None

    def done(self, ids: Sequence[int], at: str, results: dict[int, Any]) -> None:
        """Mark rows handled, each with what came of it; their plan is no longer needed."""
        with self._tx("intake results") as db:
            db.execute("DELETE FROM intake_plans WHERE id IN (SELECT plan_id FROM intake"
                       " WHERE id = ANY(?))", (list(ids),))
            db.executemany("UPDATE intake SET state = 'done', done_at = ?, result = ?,"
                           " plan_id = NULL WHERE id = ?",
                           [(at, json.dumps(results.get(i), sort_keys=True), i) for i in ids])

    def release(self, ids: Sequence[int]) -> None:
        """Put claimed rows back in the queue (a worker stopping before it planned them)."""
        with self._tx("intake release") as db:
            db.execute("UPDATE intake SET state = 'queued', owner = NULL, claimed_at = NULL"
                       " WHERE id = ANY(?) AND state = 'claimed'", (list(ids),))

    def recover(self) -> tuple[int, list[Orphan]]:
        """Rows of dead owners (on any machine): claimed ones go back to the queue (how many),
        planned ones are returned, one Orphan per plan, so their drafts can be recorded."""
        me = owner_id()
        requeue: list[int] = []
        planned: dict[int, list[int]] = {}
        plans: dict[int, str] = {}
        with self._tx("intake recovery") as db:
            rows = db.execute("SELECT i.id, i.state, i.owner, i.plan_id, p.body FROM intake i"
                              " LEFT JOIN intake_plans p ON p.id = i.plan_id WHERE i.state IN"
                              " ('claimed', 'planned') ORDER BY i.id FOR UPDATE OF i SKIP LOCKED"
                              ).fetchall()
            # this very process has no rows in flight when it recovers: they are a previous
            # life's (a reused pid, or a worker pool restarted in the same process)
            dead = {owner: owner == me or not self._alive(db, owner)
                    for owner in {r[2] for r in rows if r[2]}}
            for rid, state, owner, plan_id, body in rows:
                if owner and not dead[owner]:
                    continue
                if state == "claimed" or body is None:
                    requeue.append(int(rid))
                else:
                    planned.setdefault(int(plan_id), []).append(int(rid))
                    plans[int(plan_id)] = body
            db.execute("UPDATE intake SET state = 'queued', owner = NULL, claimed_at = NULL,"
                       " plan_id = NULL WHERE id = ANY(?)", (requeue,))
            # a planned row is handed to this process: nobody else may recover it meanwhile
            taken = [i for ids in planned.values() for i in ids]
            db.execute("UPDATE intake SET owner = ? WHERE id = ANY(?)", (me, taken))
        self._hold_liveness(me)
        orphans = [Orphan(tuple(ids), json.loads(plans[pid])) for pid, ids in planned.items()]
        return len(requeue), orphans

    def _alive(self, db: PgDb, owner: str) -> bool:
        """True while the owner's process holds its liveness lock (its session is open)."""
        key = lock_key(self._store.namespace, f"owner {owner}")
        got = db.execute("SELECT pg_try_advisory_xact_lock(?)", (key,)).fetchone()[0]
        return not got

    def _hold_liveness(self, owner: str) -> None:
        """Hold this process's owner lock on a connection of its own for as long as it lives."""
        if owner != owner_id():
            return  # a test's made-up owner: nobody to keep alive
        with _LIVENESS_LOCK:
            conn = _LIVENESS.get(self.url)
            if conn is not None and not conn.closed:
                return
            import psycopg

            try:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                                       application_name="remediator liveness")
                conn.execute("SELECT pg_advisory_lock(%s)",
                             (lock_key(self._store.namespace, f"owner {owner}"),))
            except psycopg.Error as exc:
                raise StoreError(f"cannot register this worker: {_reason(exc)}",
                                 where=self._store.path) from None
            _LIVENESS[self.url] = conn

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
            raise StoreError(f"no intake row {rid}", where=self._store.path)
        return row_dict(rows[0])

    def prune(self, before: str) -> int:
        """Forget handled rows received before ``before``; how many went."""
        with self._tx("intake prune") as db:
            return int(db.execute("DELETE FROM intake WHERE state = 'done' AND received_at < ?",
                                  (before,)).rowcount)

    def close(self) -> None:
        """Give the pool back."""
        self._store.close()


def release_liveness(url: str | None = None) -> None:
    """Drop this process's owner locks (tests that play a dead process, and shutdown)."""
    with _LIVENESS_LOCK:
        for key in [k for k in _LIVENESS if url is None or k == url]:
            _LIVENESS.pop(key).close()

