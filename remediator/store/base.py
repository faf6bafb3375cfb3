"""What the SQLite and PostgreSQL stores share: the chain, requests, breakers, guard writes.

A backend supplies its transactions (``_tx``), reads (``_query``), record streaming
(``records``), a unique-prefix condition for ids and its insertion-order column; everything
else is written once here, in the SQL both engines speak (``?`` placeholders, ``RETURNING``,
``ON CONFLICT``), so that a fix lands in both stores at once.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..audit import GENESIS_HASH, seal
from ..errors import ChainError, NotFoundError, StoreError
from ..models import PendingRequest, RequestState
from ..record import AuditRecord, Draft, stored
from ..sealing import altered
from . import journal
from .decisions import COLUMNS as DECISION_COLUMNS
from .guard_state import (
    GuardCache,
    GuardSession,
    bump,
    generation,
    last_runs_failed,
    newest_live_runs,
)
from .index import INDEX_COLUMNS, check_got, check_read, index_row, indexed_hosts, walk
from .owners import owner_alive, owner_id
from .sql import Db, records_query

RUN_COLUMNS = "ident, host, entry, mode, started_at, expires_at, finished_at, outcome, pid, node"
BREAKER_COLUMNS = "entry, since, failures, record_id"


@dataclass(frozen=True, slots=True)
class GuardSnapshot:
    """Guard state rows as ``guard_snapshot`` reads them (RUN_COLUMNS, BREAKER_COLUMNS)."""

    runs: tuple[tuple[Any, ...], ...]
    breakers: tuple[tuple[Any, ...], ...]


CONTENDED_SESSIONS = 16  # after a lost optimistic attempt: sessions decided under the lock

REQUEST_FIELDS = ("id", "entry", "hosts", "fingerprint", "alert", "variables", "preview",
                  "created_at", "expires_at", "state", "decided_by", "decided_at",
                  "result_record", "seal", "requested_by")
REQUEST_COLUMNS = ", ".join(REQUEST_FIELDS)
# verify: each request row with the body of its pending record (by the record's checked id)
VERIFY_REQUESTS = (f"SELECT {', '.join('q.' + f for f in REQUEST_FIELDS)}, r.body"  # noqa: S608
                   " FROM requests q LEFT JOIN records r ON r.id = q.id ORDER BY q.id")


def _contradicts(request: PendingRequest, decided: Mapping[str, tuple[str, str]]
                 ) -> str | None:
    """What about the row's state (not sealed: it moves on purpose) the chain's decision of
    the request contradicts, if anything."""
    if request.id not in decided:
        return None  # undecided, or its decision not recorded yet (a crash in between)
    state, record_id = decided[request.id]
    if str(request.state) != state:
        return f"its row says {request.state}, record {record_id} {state} it"
    if state == "approved" and request.result_record not in (None, record_id):
        return f"its row links run {request.result_record}, the chain's run of it is {record_id}"
    return None


def request_of(row: Sequence[Any]) -> PendingRequest:
    """A PendingRequest from a row of ``REQUEST_COLUMNS``."""
    (rid, entry, hosts, fingerprint, alert, variables, preview, created, expires, state,
     decided_by, decided_at, result, sealed, requested_by) = row
    return PendingRequest(
        id=rid, entry=entry, hosts=tuple(json.loads(hosts)), fingerprint=fingerprint,
        alert=json.loads(alert) if alert else None, variables=json.loads(variables),
        preview=json.loads(preview), created_at=created, expires_at=expires,
        state=RequestState(state), decided_by=decided_by, decided_at=decided_at,
        result_record=result, seal=sealed,
        requested_by=json.loads(requested_by) if requested_by else None)


PRUNE_CHUNK = 5000  # guard rows forgotten per transaction


class SqlStore(ABC):
    """The AuditStore protocol over a backend's transactions and reads."""

    path: Any  # what messages name: the file, or the URL without its password
    SEQ = "seq"  # guard_runs' insertion-order column
    HOSTS_JSON = ""  # a records row's record_hosts as a JSON array (correlated on r.seq)
    _guard: GuardCache
    _mirror_lock: threading.RLock
    _contended: int
    lost_attempts: int
    _chain_lock: int | None = None  # advisory locks, where the backend needs them
    _guard_lock: int | None = None

    # -- what a backend supplies --

    @abstractmethod
    def _tx(self, what: str, lock: int | None = None) -> AbstractContextManager[Db]:
        """One write transaction (holding ``lock`` where the backend has such locks)."""

    @abstractmethod
    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        """The rows of one read."""

    @abstractmethod
    def _prefix(self, key: str) -> tuple[str, str]:
        """The condition (and its argument) for ids that start with ``key``."""

    @abstractmethod
    def _stream(self, sql: str, args: Sequence[Any], what: str
                ) -> Generator[Sequence[Any], None, None]:
        """The rows of one read, streamed with flat memory however many there are."""

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Db]:
        """A connection for reads outside any write transaction (a snapshot per statement is
        enough: what matters is checked again under the write lock)."""

    def _guard_begin(self, db: Db) -> None:  # noqa: B027 - optional: most backends need none
        """Session settings at the start of a guard transaction."""

    def _init_guard(self) -> None:
        """The guard mirror, and the lock that lets one thread at a time use or change it
        (taken before any write transaction, never inside one)."""
        self._guard = GuardCache()
        self._mirror_lock = threading.RLock()
        self._contended = 0  # sessions left that decide inside the transaction
        self.lost_attempts = 0  # optimistic sessions another writer overtook

    # -- the chain --

    def append(self, record: Draft) -> AuditRecord:
        """Seal onto the chain and store, with its host index, in one transaction."""
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[Draft], chunk: int = 64) -> list[AuditRecord]:
        """Seal and store several records in order, ``chunk`` per transaction (a long write
        would hold up the receiver's commits); on error, the ones not stored are in
        ``StoreError.unsaved``."""
        sealed: list[AuditRecord] = []
        for start in range(0, len(records), chunk):
            part = records[start:start + chunk]
            what = f"audit record {part[0].get('id')}" + \
                (f" and {len(part) - 1} more" if len(part) > 1 else "")
            done: list[AuditRecord] = []
            try:
                with self._tx(what, self._chain_lock) as db:
                    row = db.execute("SELECT hash FROM records ORDER BY seq DESC LIMIT 1"
                                     ).fetchone()
                    head = row[0] if row else GENESIS_HASH
                    for record in part:
                        done.append(seal(record, head))
                        head = done[-1]["hash"]
                        _insert(db, done[-1])
            except StoreError as exc:
                exc.unsaved = [dict(r) for r in records[start:]]
                raise
            sealed += done
        return sealed

    def get(self, record_id: str) -> AuditRecord:
        """The record with ``record_id`` or a unique prefix of it (a ChainError when its body
        is another record's: the id column was edited)."""
        ((column_id, body),) = self._by_id("records", "id, body", record_id)
        record = dict(json.loads(body))
        check_got(record, column_id, record_id)
        return stored(record)

    def records(self, since: str | None = None, *, entry: str | None = None,
                host: str | None = None) -> Iterator[AuditRecord]:
        """Records in chain order, streamed; optionally only since a time, for an entry/host.
        A record whose row does not say what its body says is a ChainError."""
        sql, args = records_query(since, entry, host)
        for column_id, created_at, body in self._stream(sql, args, "the audit store"):
            record = json.loads(body)
            check_read(record, column_id, created_at, entry, host)
            yield stored(record)

    def has_record(self, record_id: str) -> bool:
        """True when a record with exactly this id is on the chain."""
        return bool(self._query("SELECT 1 FROM records WHERE id = ?", (record_id,)))

    def _by_id(self, table: str, columns: str, key: str) -> list[Any]:
        rows = self._query(f"SELECT {columns} FROM {table} WHERE id = ?", (key,))  # noqa: S608
        if not rows and key:
            condition, arg = self._prefix(key)
            rows = self._query(f"SELECT {columns} FROM {table} WHERE {condition}"  # noqa: S608
                               " LIMIT 2", (arg,))
        if len(rows) != 1:
            what = "no" if not rows else "more than one"
            kind = "record" if table == "records" else "request"
            raise NotFoundError(f"{what} {kind} with id {key!r}", where=str(self.path))
        return rows

    def verify(self) -> tuple[int, str]:
        """Re-walk the whole chain from the stored bodies, streamed; check every index column
        and host index row against its record's body, and every request row against its
        pending record and seal. (count, head) or a ChainError naming the first misfit."""
        columns = ", ".join(f"r.{c}" for c in INDEX_COLUMNS)
        rows = self._stream(f"SELECT r.seq, {columns}, r.body, ({self.HOSTS_JSON})"  # noqa: S608
                            " FROM records r ORDER BY r.seq", (), "the audit store")
        decided: dict[str, tuple[str, str]] = {}
        with closing(rows):  # a misfit ends the read at once, giving its connection back
            count, head = walk(rows, decided)
        for seq, host in self._query("SELECT h.seq, h.host FROM record_hosts h WHERE NOT"
                                     " EXISTS (SELECT 1 FROM records r WHERE r.seq = h.seq)"
                                     " LIMIT 1", ()):
            raise ChainError(f"record_hosts lists host {host!r} for row {seq}, which holds no"
                             " record (the host index was altered)")
        for *fields, body in self._stream(VERIFY_REQUESTS, (), "the requests"):
            request = request_of(fields)
            problem = "its pending record is not on the chain" if body is None else \
                altered(request, json.loads(body)) or _contradicts(request, decided)
            if problem:
                raise ChainError(f"request {request.id}: {problem} (it was altered)",
                                 record_id=request.id)
        return count, head

    # -- a copy of guard state (simulate replays on a scratch store) --

    def guard_snapshot(self, since: str) -> GuardSnapshot:
        """The runs started since ``since`` and every unfinished one, and the open breakers."""
        with self._reading() as db:
            runs = db.execute(f"SELECT {RUN_COLUMNS} FROM guard_runs WHERE"  # noqa: S608
                              " started_at >= ? OR finished_at IS NULL", (since,)).fetchall()
            breakers = db.execute(f"SELECT {BREAKER_COLUMNS} FROM guard_breakers"  # noqa: S608
                                  ).fetchall()
        return GuardSnapshot(tuple(map(tuple, runs)), tuple(map(tuple, breakers)))

    def restore_guard(self, snapshot: GuardSnapshot) -> None:
        """Write ``snapshot`` into this store's guard state (a scratch store's, for a replay)."""
        entries = {run[2] for run in snapshot.runs} | {b[0] for b in snapshot.breakers}
        with self._mirror_lock, self._guard_tx("a copy of guard state") as db, \
                self._mirrored(db, entries):
            db.executemany(f"INSERT INTO guard_runs ({RUN_COLUMNS}) VALUES"  # noqa: S608
                           " (?,?,?,?,?,?,?,?,?,?)", snapshot.runs)
            db.executemany(f"INSERT INTO guard_breakers ({BREAKER_COLUMNS}) VALUES"  # noqa: S608
                           " (?,?,?,?)", snapshot.breakers)
            self._guard.version = None  # the mirror reloads what it holds

    # -- the web page's logouts (see web_sessions.py) --

    def log_out(self, nonce: str, expires_at: int, now: int) -> None:
        """Refuse the session ``nonce`` until ``expires_at``; forget logouts past theirs."""
        with self._tx("a logout") as db:
            db.execute("DELETE FROM web_logouts WHERE expires_at <= ?", (now,))
            db.execute("INSERT INTO web_logouts (nonce, expires_at) VALUES (?, ?)"
                       " ON CONFLICT DO NOTHING", (nonce, expires_at))

    def logged_out(self, nonce: str) -> bool:
        """True when the session ``nonce`` was logged out."""
        return bool(self._query("SELECT 1 FROM web_logouts WHERE nonce = ?", (nonce,)))

    # -- the run journal (see journal.py) --

    def journal_close(self, keys: Sequence[str]) -> None:
        """These journal rows' records are on the chain."""
        if keys:
            with self._tx("run journal") as db:
                journal.close(db, keys)

    def journal_orphans(self, now: str) -> list[journal.Unfinished]:
        """Journal rows whose owner died (or whose lease ended), taken over by this process;
        a plain read when there is none (a read-only store can still be opened)."""
        me = owner_id()
        rows = self._query("SELECT owner, expires_at FROM run_journal", ())
        if not any(owner != me and (expires <= now or not owner_alive(owner))
                   for owner, expires in rows):
            return []
        with self._tx("run journal recovery") as db:
            return journal.take_over(db, now, me)

    # -- pending requests (mutable state beside the append-only records) --

    def add_request(self, request: PendingRequest) -> None:
        """Store a new pending request."""
        with self._tx(f"request {request.id}") as db:
            db.execute(
                "INSERT INTO requests (id, entry, hosts, fingerprint, alert, variables, preview,"
                " created_at, expires_at, state, seal, requested_by)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (request.id, request.entry, json.dumps(list(request.hosts)), request.fingerprint,
                 json.dumps(dict(request.alert)) if request.alert is not None else None,
                 json.dumps(dict(request.variables)), json.dumps(dict(request.preview)),
                 request.created_at, request.expires_at, str(request.state), request.seal,
                 json.dumps(dict(request.requested_by)) if request.requested_by else None))

    def get_request(self, request_id: str) -> PendingRequest:
        """The request with ``request_id`` or a unique prefix of it."""
        return request_of(self._by_id("requests", REQUEST_COLUMNS, request_id)[0])

    def requests(self, states: tuple[RequestState, ...] = (RequestState.PENDING,)
                 ) -> list[PendingRequest]:
        """Requests in the given states, oldest first."""
        if not states:
            return []
        marks = ", ".join("?" for _ in states)
        rows = self._query(f"SELECT {REQUEST_COLUMNS} FROM requests WHERE state IN ({marks})"  # noqa: S608
                           " ORDER BY created_at, id", tuple(str(s) for s in states))
        return [request_of(row) for row in rows]

    def transition_request(self, request_id: str, to: RequestState, *, by: str | None, at: str,
                           result_record: str | None = None) -> bool:
        """Move a pending request to ``to``; False when it was no longer pending (a lost race)."""
        with self._tx(f"request {request_id}") as db:
            cursor = db.execute(
                "UPDATE requests SET state = ?, decided_by = ?, decided_at = ?,"
                " result_record = COALESCE(?, result_record) WHERE id = ? AND state = 'pending'",
                (str(to), by, at, result_record, request_id))
            return int(cursor.rowcount) == 1

    def add_decision(self, request_id: str, outcome: str, person: str,
                     approver: Mapping[str, Any], at: str, code: str | None = None) -> bool:
        """Note one person's decision on a request (approved, denied, refused); False when
        it is an approval this person already gave (it counts once)."""
        with self._tx(f"request {request_id}") as db:
            cursor = db.execute(
                f"INSERT INTO request_decisions ({DECISION_COLUMNS}) VALUES"  # noqa: S608
                " (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                (request_id, at, outcome, code, person, approver["channel"], approver["id"],
                 approver["name"], approver.get("os_user")))
            return int(cursor.rowcount) == 1

    def decisions(self, request_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The decisions noted on these requests (all when None), in the order given."""
        where = ""
        args: tuple[str, ...] = ()
        if request_ids is not None:
            if not request_ids:
                return []
            where = f" WHERE request_id IN ({', '.join('?' for _ in request_ids)})"
            args = tuple(request_ids)
        rows = self._query(f"SELECT {DECISION_COLUMNS} FROM request_decisions{where}"  # noqa: S608
                           " ORDER BY at, person", args)
        names = [c.strip() for c in DECISION_COLUMNS.split(",")]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def approval_counts(self, now: str) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        """For ``/metrics``: requests pending (not yet past their time) by entry, and the
        decisions noted by (channel, outcome)."""
        pending = self._query("SELECT entry, COUNT(*) FROM requests WHERE state = 'pending'"
                              " AND expires_at > ? GROUP BY entry", (now,))
        decided = self._query("SELECT channel, outcome, COUNT(*) FROM request_decisions"
                              " GROUP BY channel, outcome", ())
        return ({str(e): int(n) for e, n in pending},
                {(str(c), str(o)): int(n) for c, o, n in decided})

    def set_request_result(self, request_id: str, record_id: str) -> None:
        """Link a decided request to the record of what followed."""
        with self._tx(f"request {request_id}") as db:
            db.execute("UPDATE requests SET result_record = ? WHERE id = ?",
                       (record_id, request_id))

    def resolve_requests(self, fingerprint: str, at: str) -> list[str]:
        """Mark pending requests for an alert that resolved; returns their ids."""
        with self._tx(f"requests for {fingerprint}") as db:
            rows = db.execute("UPDATE requests SET state = 'resolved', decided_at = ? WHERE"
                              " fingerprint = ? AND state = 'pending' RETURNING id",
                              (at, fingerprint)).fetchall()
        return sorted(str(r[0]) for r in rows)

    # -- guardrail state --

    @contextmanager
    def guard(self, now: datetime, horizon_s: int) -> Iterator[GuardSession]:
        """One write transaction in which decisions claim alerts and reserve (entry, host);
        every process's (and every instance's) decisions take turns.

        ``horizon_s`` is the longest guardrail window in use: how far back the state matters.
        """
        with self._mirror_lock:
            try:
                with self._guard_tx("guardrail state") as db:
                    session = GuardSession(db, self._guard, now, horizon_s)
                    yield session
                    session.flush()
                session.committed = True
            except BaseException:
                self._guard.version = None  # the mirror may hold what was rolled back
                raise

    @contextmanager
    def guard_attempt(self, now: datetime, horizon_s: int) -> Iterator[GuardSession]:
        """``guard``, optimistically: the decisions are made from the mirror outside any write
        transaction, and the write transaction that follows only checks and writes.

        Their writes commit only if no writer changed guard state since the session began (the
        generation is unchanged under the write lock), so the result is the same as deciding
        inside the transaction; ``session.committed`` is False when another writer came first,
        nothing was written and the caller decides again (``guard`` always commits). Other
        writers (a receiver, other processes) wait only for the writes, not the decisions.
        After a lost attempt, the next ``CONTENDED_SESSIONS`` decide inside the transaction:
        two busy writers would otherwise keep overtaking each other and decide everything twice.
        """
        with self._mirror_lock:
            if self._contended > 0:  # lost lately: decide inside, as ``guard`` does
                self._contended -= 1
                with self.guard(now, horizon_s) as session:
                    yield session
                return
            try:
                with self._reading() as reader:
                    session = GuardSession(reader, self._guard, now, horizon_s)
                    yield session
                with self._guard_tx("guardrail state") as db:
                    # what changed after the mirror's generation (this thread's own writes
                    # meanwhile moved it on): only the entries these decisions read matter
                    cache, current = self._guard, generation(db)
                    if cache.version is None or (current != cache.version and cache.overtaken(
                            db, session.entries, current)):
                        cache.version = None  # it holds these decisions: reload
                        self._contended = CONTENDED_SESSIONS
                        self.lost_attempts += 1
                        return
                    session.bind(db)
                    session.flush()
                session.committed = True
            except BaseException:
                self._guard.version = None
                raise

    @contextmanager
    def _guard_tx(self, what: str) -> Iterator[Db]:
        """A write transaction on the guard tables (the caller holds the mirror lock)."""
        with self._tx(what, self._guard_lock) as db:
            self._guard_begin(db)
            yield db

    def finish_run(self, ident: str, host: str, outcome: str, at: str) -> None:
        """Mark a reserved run finished: its lock is released, cooldowns count from ``at``."""
        self.finish_runs([(ident, host, outcome, at)])

    def finish_runs(self, runs: list[tuple[str, str, str, str]],
                    release_claims: Iterable[str] = (), *, open_only: bool = False) -> None:
        """finish_run for many (ident, host, outcome, at) in one transaction; the dedupe
        claims of the records in ``release_claims`` are dropped with it (a run that failed
        before touching any host: the next delivery of its alerts is handled again). With
        ``open_only``, a run already finished keeps its outcome (recovery)."""
        released = sorted(set(release_claims))
        with self._mirror_lock, self._tx("runs", self._guard_lock) as db:
            entries = {row[0] for ident in {ident for ident, _, _, _ in runs}
                       for row in db.execute("SELECT DISTINCT entry FROM guard_runs WHERE"
                                             " ident = ?", (ident,))}
            entries |= {row[0] for record_id in released for row in db.execute(
                "SELECT DISTINCT entry FROM guard_seen WHERE record_id = ?", (record_id,))}
            with self._mirrored(db, entries):
                db.executemany("UPDATE guard_runs SET finished_at = ?, outcome = ? WHERE"
                               " ident = ? AND host = ? AND (finished_at IS NULL OR ?)",
                               [(at, o, i, h, not open_only) for i, h, o, at in runs])
                for ident, host, outcome, at in runs:
                    self._guard.finish(ident, host, datetime.fromisoformat(at), outcome,
                                       open_only=open_only)
                if released:
                    db.executemany("DELETE FROM guard_seen WHERE record_id = ?",
                                   [(record_id,) for record_id in released])
                    self._guard.forget_claims(set(released))

    @contextmanager
    def _mirrored(self, db: Db, entries: set[str]) -> Iterator[None]:
        """Around a guard write to ``entries`` that also updates the mirror: if the mirror was
        current, it stays current (the generation moves with it); if not, its next session
        reloads what changed meanwhile, these entries with it."""
        current = self._guard.version == generation(db)
        yield
        after = bump(db, entries)
        if current:
            self._guard.version = after

    def prune_guard(self, before: str, keep_last: int, chunk: int = PRUNE_CHUNK
                    ) -> tuple[int, int]:
        """Forget dedupe claims filed before ``before``, and runs finished before it but for
        each entry's newest ``keep_last`` finished live runs (what its circuit breaker reads);
        unfinished runs (locks) always stay. (claims, run rows) forgotten.

        ``chunk`` rows per transaction, so a first prune of a long history never holds the
        write lock for long. The guard generation is left alone: what goes is older than any
        mirror's horizon, so no decision a mirror makes reads it.
        """
        claims = self._prune_chunks("guard_seen", "claimed_at", "", (), before, chunk)
        with self._mirror_lock, self._reading() as db:
            entries = [row[0] for row in db.execute("SELECT DISTINCT entry FROM guard_runs")]
            kept = [ident for entry in entries
                    for ident in newest_live_runs(db, entry, keep_last, self.SEQ)]
        keep = f"ident NOT IN ({', '.join('?' * len(kept))}) AND " if kept else ""
        # by start (indexed): a run finished before ``before`` started before it too
        runs = self._prune_chunks("guard_runs", "started_at", keep + "finished_at < ? AND ",
                                  (*kept, before), before, chunk)
        return claims, runs

    def oldest_claim(self) -> str | None:
        """When the oldest dedupe claim was filed (one index lookup), or None."""
        rows = self._query("SELECT MIN(claimed_at) FROM guard_seen", ())
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    def _prune_chunks(self, table: str, column: str, keep: str, keep_args: tuple[Any, ...],
                      before: str, chunk: int) -> int:
        """Delete ``table``'s rows with ``column`` before ``before`` (and the ``keep``
        condition), oldest first, about ``chunk`` per transaction (all the rows of the chunk's
        last time go with it, so each pass makes progress)."""
        gone = 0
        while True:
            with self._mirror_lock, self._guard_tx(f"prune {table}") as db:
                # the chunk's upper bound: the time of the chunk-th oldest row, or ``before``
                row = db.execute(f"SELECT {column} FROM {table} WHERE {keep}{column} < ?"  # noqa: S608
                                 f" ORDER BY {column} LIMIT 1 OFFSET ?",
                                 (*keep_args, before, chunk)).fetchone()
                bound = before if row is None else str(row[0])
                count = db.execute(f"DELETE FROM {table} WHERE {keep}{column} < ? AND"  # noqa: S608
                                   f" {column} <= ?", (*keep_args, before, bound)).rowcount
            gone += max(0, int(count))
            if row is None:
                return gone

    def check_breaker(self, entry: str, failures: int, at: str, record_id: str) -> bool:
        """Open the entry's breaker if its last ``failures`` live runs all failed; True if opened.
        """
        if failures < 1:
            return False
        with self._mirror_lock, self._tx(f"breaker {entry}", self._guard_lock) as db:
            if db.execute("SELECT 1 FROM guard_breakers WHERE entry = ?", (entry,)).fetchone():
                return False
            if not last_runs_failed(db, entry, failures, self.SEQ):
                return False
            with self._mirrored(db, {entry}):
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
        with self._mirror_lock, self._tx(f"breaker {entry}", self._guard_lock) as db:
            row = db.execute("SELECT since, failures, record_id FROM guard_breakers WHERE"
                             " entry = ?", (entry,)).fetchone()
            with self._mirrored(db, {entry}):
                db.execute("DELETE FROM guard_breakers WHERE entry = ?", (entry,))
                self._guard.breakers.pop(entry, None)
        return None if row is None else {"since": row[0], "failures": row[1],
                                         "record_id": row[2]}


def _insert(db: Db, sealed: Mapping[str, Any]) -> None:
    """One sealed record, its index columns (derived from it: ``index_row``) and its host
    index rows."""
    seq = db.execute(
        f"INSERT INTO records ({', '.join(INDEX_COLUMNS)}, body) VALUES"  # noqa: S608
        f" ({', '.join('?' * (len(INDEX_COLUMNS) + 1))}) RETURNING seq",
        (*index_row(sealed), json.dumps(sealed, sort_keys=True, ensure_ascii=False)),
    ).fetchone()[0]
    hosts = indexed_hosts(sealed)
    if hosts:
        db.executemany("INSERT INTO record_hosts (seq, host) VALUES (?, ?)",
                       [(seq, h) for h in hosts])
