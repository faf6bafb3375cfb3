"""SQLite audit store: one file, WAL, append-only by trigger, chain extended under a write lock."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ..audit import GENESIS_HASH, seal, verify_chain
from ..errors import NotFoundError, StoreError
from ..models import PendingRequest, RequestState
from .guard_state import (
    GUARD_META_MIGRATION,
    GuardCache,
    GuardSession,
    bump,
    finished_index,
    generation,
    last_runs_failed,
)
from .sql import records_query
from .sqlite_intake import MIGRATION as INTAKE_MIGRATION
from .sqlite_intake import PLANS_MIGRATION
from .sqlite_tx import gate_for, read, write

# Each migration runs once, in order; PRAGMA user_version counts the ones applied.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        alert_name TEXT,
        fingerprint TEXT,
        remediation TEXT,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        mode TEXT NOT NULL,
        stage TEXT,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE
    );
    CREATE INDEX IF NOT EXISTS records_created ON records (created_at);
    CREATE INDEX IF NOT EXISTS records_fingerprint ON records (fingerprint);
    CREATE INDEX IF NOT EXISTS records_remediation ON records (remediation, seq);
    CREATE TABLE IF NOT EXISTS record_hosts (
        seq INTEGER NOT NULL REFERENCES records (seq),
        host TEXT NOT NULL,
        PRIMARY KEY (host, seq)
    );
    CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
    CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
    CREATE TABLE IF NOT EXISTS requests (
        id TEXT PRIMARY KEY,
        entry TEXT NOT NULL,
        hosts TEXT NOT NULL,
        fingerprint TEXT,
        alert TEXT,
        variables TEXT NOT NULL,
        preview TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        state TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        result_record TEXT
    );
    CREATE INDEX IF NOT EXISTS requests_state ON requests (state, created_at);
    CREATE INDEX IF NOT EXISTS requests_fingerprint ON requests (fingerprint);
    """,
    """
    CREATE TABLE IF NOT EXISTS guard_seen (
        fingerprint TEXT NOT NULL,
        starts_at TEXT NOT NULL,
        status TEXT NOT NULL,
        mode TEXT NOT NULL,
        record_id TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        PRIMARY KEY (fingerprint, starts_at, status, mode)
    );
    CREATE INDEX IF NOT EXISTS guard_seen_claimed ON guard_seen (claimed_at);
    CREATE TABLE IF NOT EXISTS guard_runs (
        ident TEXT NOT NULL,
        host TEXT NOT NULL,
        entry TEXT NOT NULL,
        mode TEXT NOT NULL,
        started_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT,
        pid INTEGER,
        node TEXT,
        PRIMARY KEY (ident, host)
    );
    CREATE INDEX IF NOT EXISTS guard_runs_host ON guard_runs (entry, host, started_at);
    CREATE INDEX IF NOT EXISTS guard_runs_started ON guard_runs (started_at);
    CREATE INDEX IF NOT EXISTS guard_runs_open ON guard_runs (finished_at)
        WHERE finished_at IS NULL;
    CREATE TABLE IF NOT EXISTS guard_breakers (
        entry TEXT PRIMARY KEY,
        since TEXT NOT NULL,
        failures INTEGER NOT NULL,
        record_id TEXT
    );
    """,
    INTAKE_MIGRATION,
    PLANS_MIGRATION,
    GUARD_META_MIGRATION,
    finished_index(""),
)


class SqliteStore:
    """Append-only audit records in one SQLite file (WAL, safe across processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._gate = gate_for(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            self._guard = GuardCache()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the audit store: {exc}", where=str(path)) from None

    def _migrate(self) -> None:
        """Apply the migrations this file has not seen yet, each in its own transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], version + 1):
                for statement in _statements(script):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _write(self, what: str) -> AbstractContextManager[sqlite3.Connection]:
        """One IMMEDIATE transaction: writers queue here, so the chain never forks."""
        return write(self._db, self.path, what, gate=self._gate)

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Seal onto the chain and store, with its host index, in one transaction."""
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[Mapping[str, Any]], chunk: int = 64
                    ) -> list[dict[str, Any]]:
        """Seal and store several records in order, ``chunk`` per transaction (a long write
        would hold up the receiver's commits); on error, the ones not stored are in
        ``StoreError.unsaved``."""
        sealed: list[dict[str, Any]] = []
        for start in range(0, len(records), chunk):
            part = records[start:start + chunk]
            what = f"audit record {part[0].get('id')}" + \
                (f" and {len(part) - 1} more" if len(part) > 1 else "")
            done: list[dict[str, Any]] = []
            try:
                with self._write(what) as db:
                    row = db.execute("SELECT hash FROM records ORDER BY seq DESC LIMIT 1"
                                     ).fetchone()
                    head = row[0] if row else GENESIS_HASH
                    for record in part:
                        done.append(seal(record, head))
                        head = done[-1]["hash"]
                        self._insert(db, done[-1])
            except StoreError as exc:
                exc.unsaved = [dict(r) for r in records[start:]]
                raise
            sealed += done
        return sealed

    def _insert(self, db: sqlite3.Connection, sealed: Mapping[str, Any]) -> None:
        alert = sealed.get("alert") or {}
        cursor = db.execute(
            "INSERT INTO records (id, created_at, alert_name, fingerprint, remediation, action,"
            " outcome, mode, stage, body, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (sealed["id"], sealed["created_at"], alert.get("name"), alert.get("fingerprint"),
             (sealed.get("remediation") or {}).get("name"), sealed["decision"]["action"],
             sealed["outcome"], sealed["mode"], sealed.get("stage"),
             json.dumps(sealed, sort_keys=True, ensure_ascii=False), sealed["prev_hash"],
             sealed["hash"]),
        )
        hosts = set(alert.get("hosts") or ()) | set(sealed.get("hosts") or ())
        db.executemany("INSERT INTO record_hosts (seq, host) VALUES (?, ?)",
                       [(cursor.lastrowid, h) for h in sorted(hosts)])

    def get(self, record_id: str) -> dict[str, Any]:
        """The record with ``record_id`` or a unique prefix of it."""
        rows = self._by_id("records", "body", record_id)
        return dict(json.loads(rows[0][0]))

    def has_record(self, record_id: str) -> bool:
        """True when a record with exactly this id is on the chain."""
        return bool(self._query("SELECT 1 FROM records WHERE id = ?", (record_id,)))

    def _by_id(self, table: str, columns: str, key: str) -> list[Any]:
        rows = self._query(f"SELECT {columns} FROM {table} WHERE id = ?", (key,))  # noqa: S608
        if not rows:
            escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = self._query(f"SELECT {columns} FROM {table} WHERE id LIKE ? ESCAPE '\\' "  # noqa: S608
                               "LIMIT 2", (escaped + "%",))
        if len(rows) != 1:
            what = "no" if not rows else "more than one"
            kind = "record" if table == "records" else "request"
            raise NotFoundError(f"{what} {kind} with id {key!r}", where=str(self.path))
        return rows

    def records(self, since: str | None = None, *, entry: str | None = None,
                host: str | None = None) -> Iterator[dict[str, Any]]:
        """Records in chain order, streamed; optionally only since a time, for an entry/host."""
        sql, args = records_query(since, entry, host)
        try:
            for (body,) in self._db.execute(sql, args):
                yield json.loads(body)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the audit store: {exc}", where=str(self.path)) from None

    def verify(self) -> tuple[int, str]:
        """Re-walk the whole chain from the stored bodies."""
        return verify_chain(self.records())

    # -- pending requests (mutable state beside the append-only records) --

    def add_request(self, request: PendingRequest) -> None:
        """Store a new pending request."""
        with self._write(f"request {request.id}") as db:
            db.execute(
                "INSERT INTO requests (id, entry, hosts, fingerprint, alert, variables, preview,"
                " created_at, expires_at, state) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (request.id, request.entry, json.dumps(list(request.hosts)), request.fingerprint,
                 json.dumps(dict(request.alert)) if request.alert is not None else None,
                 json.dumps(dict(request.variables)), json.dumps(dict(request.preview)),
                 request.created_at, request.expires_at, str(request.state)))

    def get_request(self, request_id: str) -> PendingRequest:
        """The request with ``request_id`` or a unique prefix of it."""
        return _request(self._by_id("requests", _REQUEST_COLUMNS, request_id)[0])

    def requests(self, states: tuple[RequestState, ...] = (RequestState.PENDING,)
                 ) -> list[PendingRequest]:
        """Requests in the given states, oldest first."""
        marks = ",".join("?" for _ in states)
        rows = self._query(f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE state IN ({marks})"  # noqa: S608
                           " ORDER BY created_at, id", tuple(str(s) for s in states))
        return [_request(row) for row in rows]

    def transition_request(self, request_id: str, to: RequestState, *, by: str | None, at: str,
                           result_record: str | None = None) -> bool:
        """Move a pending request to ``to``; False when it was no longer pending (a lost race)."""
        with self._write(f"request {request_id}") as db:
            cursor = db.execute(
                "UPDATE requests SET state = ?, decided_by = ?, decided_at = ?,"
                " result_record = COALESCE(?, result_record) WHERE id = ? AND state = 'pending'",
                (str(to), by, at, result_record, request_id))
            return cursor.rowcount == 1

    def set_request_result(self, request_id: str, record_id: str) -> None:
        """Link a decided request to the record of what followed."""
        with self._write(f"request {request_id}") as db:
            db.execute("UPDATE requests SET result_record = ? WHERE id = ?",
                       (record_id, request_id))

    def resolve_requests(self, fingerprint: str, at: str) -> list[str]:
        """Mark pending requests for an alert that resolved; returns their ids."""
        with self._write(f"requests for {fingerprint}") as db:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM requests WHERE fingerprint = ? AND state = 'pending'",
                (fingerprint,))]
            db.execute("UPDATE requests SET state = 'resolved', decided_at = ? WHERE"
                       " fingerprint = ? AND state = 'pending'", (at, fingerprint))
        return ids

    # -- guardrail state --

    @contextmanager
    def guard(self, now: datetime, horizon_s: int) -> Iterator[GuardSession]:
        """One write transaction in which decisions claim alerts and reserve (entry, host).

        ``horizon_s`` is the longest guardrail window in use: how far back the state matters.
        """
        try:
            with self._write("guardrail state") as db:
                session = GuardSession(db, self._guard, now, horizon_s)
                yield session
                session.flush()
        except BaseException:
            self._guard.version = None  # the mirror may hold what was rolled back
            raise

    def finish_run(self, ident: str, host: str, outcome: str, at: str) -> None:
        """Mark a reserved run finished: its lock is released, cooldowns count from ``at``."""
        self.finish_runs([(ident, host, outcome, at)])

    def finish_runs(self, runs: list[tuple[str, str, str, str]]) -> None:
        """finish_run for many (ident, host, outcome, at) in one transaction."""
        with self._write("runs") as db, self._mirrored(db):
            db.executemany("UPDATE guard_runs SET finished_at = ?, outcome = ? WHERE ident = ?"
                           " AND host = ?", [(at, o, i, h) for i, h, o, at in runs])
            for ident, host, outcome, at in runs:
                self._guard.finish(ident, host, datetime.fromisoformat(at), outcome)

    @contextmanager
    def _mirrored(self, db: sqlite3.Connection) -> Iterator[None]:
        """Around a guard write that also updates the mirror: if the mirror was current, it
        stays current (the generation moves with it); if not, the next session reloads."""
        current = self._guard.version == generation(db)
        yield
        after = bump(db)
        self._guard.version = after if current else None

    def check_breaker(self, entry: str, failures: int, at: str, record_id: str) -> bool:
        """Open the entry's breaker if its last ``failures`` live runs all failed; True if opened.
        """
        if failures < 1:
            return False
        with self._write(f"breaker {entry}") as db:
            if db.execute("SELECT 1 FROM guard_breakers WHERE entry = ?", (entry,)).fetchone():
                return False
            if not last_runs_failed(db, entry, failures, "rowid"):
                return False
            with self._mirrored(db):
                db.execute("INSERT INTO guard_breakers (entry, since, failures, record_id)"
                           " VALUES (?, ?, ?, ?)", (entry, at, failures, record_id))
                self._guard.breakers[entry] = at
        return True

    def breakers(self) -> dict[str, dict[str, Any]]:
        """Open breakers by entry."""
        rows = self._query("SELECT entry, since, failures, record_id FROM guard_breakers", ())
        return {r[0]: {"since": r[1], "failures": r[2], "record_id": r[3]} for r in rows}

    def reset_breaker(self, entry: str) -> dict[str, Any] | None:
        """Close the entry's breaker; what it was, or None when it was not open."""
        with self._write(f"breaker {entry}") as db:
            row = db.execute("SELECT since, failures, record_id FROM guard_breakers WHERE"
                             " entry = ?", (entry,)).fetchone()
            with self._mirrored(db):
                db.execute("DELETE FROM guard_breakers WHERE entry = ?", (entry,))
                self._guard.breakers.pop(entry, None)
        return None if row is None else {"since": row[0], "failures": row[1],
                                         "record_id": row[2]}

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        return read(self._db, self.path, sql, args, "the audit store")


_REQUEST_COLUMNS = ("id, entry, hosts, fingerprint, alert, variables, preview, created_at,"
                    " expires_at, state, decided_by, decided_at, result_record")


def _request(row: tuple[Any, ...]) -> PendingRequest:
    (rid, entry, hosts, fingerprint, alert, variables, preview, created, expires, state,
     decided_by, decided_at, result) = row
    return PendingRequest(
        id=rid, entry=entry, hosts=tuple(json.loads(hosts)), fingerprint=fingerprint,
        alert=json.loads(alert) if alert else None, variables=json.loads(variables),
        preview=json.loads(preview), created_at=created, expires_at=expires,
        state=RequestState(state), decided_by=decided_by, decided_at=decided_at,
        result_record=result)


def _statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        joined = "\n".join(current).strip()
        if joined.endswith(";") and sqlite3.complete_statement(joined):
            statements.append(joined)
            current = []
    return statements

