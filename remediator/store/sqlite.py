"""SQLite audit store: one file, WAL, append-only by trigger, chain extended under a write lock."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..audit import GENESIS_HASH, seal, verify_chain
from ..errors import NotFoundError, StoreError
from ..guardrails import GuardFacts
from ..limits import Guardrails
from ..models import PendingRequest, RequestState

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
        PRIMARY KEY (fingerprint, starts_at, status, mode)
    );
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
    CREATE INDEX IF NOT EXISTS guard_runs_entry ON guard_runs (entry, started_at);
    CREATE TABLE IF NOT EXISTS guard_breakers (
        entry TEXT PRIMARY KEY,
        since TEXT NOT NULL,
        failures INTEGER NOT NULL,
        record_id TEXT
    );
    """,
)


class SqliteStore:
    """Append-only audit records in one SQLite file (WAL, safe across processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
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

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: writers queue here, so the chain never forks."""
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

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Seal onto the chain and store, with its host index, in one transaction."""
        with self._write(f"audit record {record.get('id')}") as db:
            row = db.execute("SELECT hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
            sealed = seal(record, row[0] if row else GENESIS_HASH)
            self._insert(db, sealed)
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
        sql = "SELECT body FROM records r"
        where: list[str] = []
        args: list[str] = []
        if host is not None:
            sql += " JOIN record_hosts h ON h.seq = r.seq"
            where.append("h.host = ?")
            args.append(host)
        if since:
            where.append("r.created_at >= ?")
            args.append(since)
        if entry is not None:
            where.append("r.remediation = ?")
            args.append(entry)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.seq"
        try:
            for (body,) in self._db.execute(sql, args):
                yield json.loads(body)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the audit store: {exc}", where=str(self.path)) from None

    def last_live_fix(self, entry: str, host: str) -> dict[str, Any] | None:
        """The newest live run of ``entry`` on ``host`` that succeeded, or None."""
        rows = self._query(
            "SELECT r.body FROM records r JOIN record_hosts h ON h.seq = r.seq WHERE h.host = ?"
            " AND r.remediation = ? AND r.mode = 'live' AND r.outcome = 'succeeded'"
            " ORDER BY r.seq DESC LIMIT 1", (host, entry))
        return dict(json.loads(rows[0][0])) if rows else None

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
    def guard(self) -> Iterator[GuardSession]:
        """One write transaction in which decisions claim alerts and reserve (entry, host)."""
        with self._write("guardrail state") as db:
            yield GuardSession(db)

    def finish_run(self, ident: str, host: str, outcome: str, at: str) -> None:
        """Mark a reserved run finished: its lock is released, cooldowns count from ``at``."""
        with self._write(f"run {ident}") as db:
            db.execute("UPDATE guard_runs SET finished_at = ?, outcome = ? WHERE ident = ? AND "
                       "host = ?", (at, outcome, ident, host))

    def check_breaker(self, entry: str, failures: int, at: str, record_id: str) -> bool:
        """Open the entry's breaker if its last ``failures`` live runs all failed; True if opened.
        """
        if failures < 1:
            return False
        with self._write(f"breaker {entry}") as db:
            if db.execute("SELECT 1 FROM guard_breakers WHERE entry = ?", (entry,)).fetchone():
                return False
            rows = db.execute(
                "SELECT outcome FROM (SELECT ident, max(outcome != 'succeeded') AS outcome,"
                " max(finished_at) AS finished FROM guard_runs WHERE entry = ? AND mode = 'live'"
                " AND finished_at IS NOT NULL GROUP BY ident) ORDER BY finished DESC LIMIT ?",
                (entry, failures)).fetchall()
            if len(rows) < failures or not all(row[0] for row in rows):
                return False
            db.execute("INSERT INTO guard_breakers (entry, since, failures, record_id) VALUES"
                       " (?, ?, ?, ?)", (entry, at, failures, record_id))
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
            db.execute("DELETE FROM guard_breakers WHERE entry = ?", (entry,))
        return None if row is None else {"since": row[0], "failures": row[1],
                                         "record_id": row[2]}

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the audit store: {exc}", where=str(self.path)) from None


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


NODE = socket.gethostname()


def _alive(pid: int | None) -> bool:
    """True when a process with ``pid`` exists on this machine."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class GuardSession:
    """Guardrail reads and reservations inside one write transaction of the store."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._breakers: dict[str, str | None] = {}

    def claim(self, fingerprint: str, starts_at: str | None, status: str, mode: str,
              record_id: str) -> str | None:
        """Claim an alert delivery for a mode; None if it is the first, else who had it.

        A check run does not use up the alert: once the stage (or the brake) allows it, the
        same alert is still fixed live, once.
        """
        key = (fingerprint, starts_at or "", status, mode)
        cursor = self._db.execute("INSERT OR IGNORE INTO guard_seen (fingerprint, starts_at,"
                                  " status, mode, record_id) VALUES (?, ?, ?, ?, ?)",
                                  (*key, record_id))
        if cursor.rowcount == 1:
            return None
        row = self._db.execute("SELECT record_id FROM guard_seen WHERE fingerprint = ? AND"
                               " starts_at = ? AND status = ? AND mode = ?", key).fetchone()
        return str(row[0]) if row else "?"

    def facts(self, entry: str, host: str, rules: Guardrails, now: datetime,
              own: frozenset[str] = frozenset()) -> GuardFacts:
        """What the guardrails need to know about (entry, host) now.

        Runs in ``own`` were reserved by this same caller, which runs them one after another:
        they count for throttles but do not lock the host against it.
        """
        throttle_since = now - timedelta(seconds=rules.throttle_window_s)
        recur_since = now - timedelta(seconds=rules.recurrence_window_s)
        cool_since = now - timedelta(seconds=rules.cooldown_s)
        since = _iso(min(throttle_since, recur_since, cool_since))
        in_progress, host_runs, host_fixes, last_end = None, [], 0, None
        for ident, started, finished, expires, mode, pid, node in self._db.execute(
                "SELECT ident, started_at, finished_at, expires_at, mode, pid, node FROM"
                " guard_runs WHERE entry = ? AND host = ? AND (started_at >= ? OR finished_at"
                " IS NULL)", (entry, host, since)):
            start = _parse(started)
            if finished is None:
                stale = _parse(expires) <= now or (node == NODE and not _alive(pid))
                if not stale and ident not in own:
                    in_progress = ident
                continue
            end = _parse(finished)
            if mode == "live":  # only a change needs time to settle
                last_end = end if last_end is None or end > last_end else last_end
            if start >= throttle_since:
                host_runs.append(start)
            if mode == "live" and start >= recur_since:
                host_fixes += 1
        entry_runs, entry_fixes = self._db.execute(
            "SELECT count(DISTINCT CASE WHEN started_at >= ? THEN ident END), count(DISTINCT"
            " CASE WHEN mode = 'live' AND started_at >= ? THEN ident END) FROM guard_runs"
            " WHERE entry = ? AND started_at >= ?",
            (_iso(throttle_since), _iso(recur_since), entry,
             _iso(min(throttle_since, recur_since)))).fetchone()
        if entry not in self._breakers:
            row = self._db.execute("SELECT since FROM guard_breakers WHERE entry = ?",
                                   (entry,)).fetchone()
            self._breakers[entry] = row[0] if row else None
        return GuardFacts(in_progress=in_progress,
                          host_runs=tuple(host_runs), entry_runs=int(entry_runs),
                          last_run_end=last_end, host_fixes=host_fixes,
                          entry_fixes=int(entry_fixes), breaker_since=self._breakers[entry])

    def reserve(self, ident: str, entry: str, host: str, mode: str, now: datetime,
                lease_s: int) -> None:
        """Record a run starting on (entry, host): it counts for throttles and holds the lock."""
        self._db.execute(
            "INSERT OR IGNORE INTO guard_runs (ident, host, entry, mode, started_at, expires_at,"
            " pid, node) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ident, host, entry, mode, _iso(now), _iso(now + timedelta(seconds=lease_s)),
             os.getpid(), NODE))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)
