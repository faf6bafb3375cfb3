"""Audit stores: append-only, hash-chained. SQLite is the embedded default."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..models import PendingRequest, RequestState
from ..planner import GuardView
from ..record import AuditRecord, Draft
from ..settings import StoreLocation as StoreLocation  # re-exported: the stores open one
from .intake import Accepted, IntakeRow, Orphan
from .journal import Unfinished

if TYPE_CHECKING:
    from .base import GuardSnapshot


class GuardSession(GuardView, Protocol):
    """Guardrail reads and reservations inside one write transaction: what the planner sees
    (``GuardView``), and what the engine and ``serve`` write with it."""

    def finish(self, ident: str, hosts: list[str], outcome: str, now: datetime) -> None:
        """End reserved runs within this session (simulations)."""
        ...

    def intake_planned(self, ids: Sequence[int], plan: dict[str, Any]) -> None:
        """Mark intake rows decided, with the plan to recover from, in this transaction."""
        ...

    def journal(self, key: str, plan: dict[str, Any], expires_at: datetime) -> None:
        """Journal the drafts and runs of this transaction (store/journal.py)."""
        ...

    def claim_request(self, request_id: str, by: str, at: str) -> bool:
        """Move a pending request to approved in this transaction (False: not pending)."""
        ...

    committed: bool  # the session's writes are in the store

    def defer(self, write: Callable[[], None]) -> None:
        """Run ``write`` inside the session's write transaction, before its own writes."""
        ...


class AuditLog(Protocol):
    """The audit records: ``append`` chains and stores atomically; what reports read."""

    def append(self, record: Draft) -> AuditRecord:
        """Seal ``record`` onto the chain and store it; returns the sealed record."""
        ...

    def get(self, record_id: str) -> AuditRecord:
        """The record with ``record_id`` (or a unique prefix of it); NotFoundError otherwise."""
        ...

    def append_many(self, records: Sequence[Draft]) -> list[AuditRecord]:
        """``append`` for several records, in order; a StoreError carries those not stored."""
        ...

    def has_record(self, record_id: str) -> bool:
        """True when a record with exactly this id is stored."""
        ...

    def records(self, since: str | None = None, *, entry: str | None = None,
                host: str | None = None) -> Iterator[AuditRecord]:
        """Records in chain order, optionally only since a time, for one entry or host."""
        ...

    def verify(self) -> tuple[int, str]:
        """Re-walk the chain: (record count, head hash), or ChainError naming the first misfit."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class RequestStore(Protocol):
    """Pending approval requests: mutable state beside the append-only records."""

    def add_request(self, request: PendingRequest) -> None:
        """Store a new pending request."""
        ...

    def get_request(self, request_id: str) -> PendingRequest:
        """The request with this id or unique prefix; NotFoundError otherwise."""
        ...

    def requests(self, states: tuple[RequestState, ...] = (RequestState.PENDING,)
                 ) -> list[PendingRequest]:
        """Requests in the given states, oldest first."""
        ...

    def transition_request(self, request_id: str, to: RequestState, *, by: str | None, at: str,
                           result_record: str | None = None) -> bool:
        """Atomically move a pending request on; False if it was no longer pending."""
        ...

    def set_request_result(self, request_id: str, record_id: str) -> None:
        """Link a decided request to the record of what followed."""
        ...

    def resolve_requests(self, fingerprint: str, at: str) -> list[str]:
        """Mark the pending requests of a resolved alert; their ids."""
        ...

    def add_decision(self, request_id: str, outcome: str, person: str,
                     approver: Mapping[str, Any], at: str, code: str | None = None) -> bool:
        """Note one person's decision on a request; False for an approval already given."""
        ...

    def decisions(self, request_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The decisions noted on these requests (all when None)."""
        ...

    def approval_counts(self, now: str) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        """Pending requests by entry; decisions by (channel, outcome)."""
        ...

class RunJournal(Protocol):
    """What each command is about to run, written with its decisions (journal.py)."""

    def journal_close(self, keys: Sequence[str]) -> None:
        """These run-journal rows' records are on the chain."""
        ...

    def journal_orphans(self, now: str) -> list[Unfinished]:
        """Run-journal rows of dead owners (or past their lease), taken over by this process."""
        ...

class GuardStore(Protocol):
    """Guardrail state: dedupe claims, runs and their locks, breakers."""

    def guard(self, now: datetime, horizon_s: int) -> AbstractContextManager[GuardSession]:
        """One write transaction for guardrail claims, facts and reservations."""
        ...

    def guard_attempt(self, now: datetime, horizon_s: int
                      ) -> AbstractContextManager[GuardSession]:
        """``guard`` deciding outside the write transaction; ``session.committed`` is False
        when another writer changed guard state meanwhile and nothing was written."""
        ...

    def finish_run(self, ident: str, host: str, outcome: str, at: str) -> None:
        """Mark a reserved run finished (its lock released)."""
        ...

    def prune_guard(self, before: str, keep_last: int) -> tuple[int, int]:
        """Forget claims and finished runs older than ``before`` (each entry's newest
        ``keep_last`` live runs stay); (claims, run rows) forgotten."""
        ...

    def oldest_claim(self) -> str | None:
        """When the oldest dedupe claim was filed, or None."""
        ...

    def finish_runs(self, runs: list[tuple[str, str, str, str]],
                    release_claims: Iterable[str] = (), *, open_only: bool = False) -> None:
        """finish_run for many (ident, host, outcome, at) at once (with ``open_only``, runs
        already finished keep their outcome)."""
        ...

    def check_breaker(self, entry: str, failures: int, at: str, record_id: str) -> bool:
        """Open the entry's breaker after ``failures`` consecutive failed live runs."""
        ...

    def breakers(self) -> dict[str, dict[str, Any]]:
        """Open breakers by entry."""
        ...

    def reset_breaker(self, entry: str) -> dict[str, Any] | None:
        """Close an entry's breaker; what it was."""
        ...

    def guard_snapshot(self, since: str) -> GuardSnapshot:
        """Runs since ``since`` (and unfinished ones) and open breakers, as rows."""
        ...

    def restore_guard(self, snapshot: GuardSnapshot) -> None:
        """Write a snapshot into this store's guard state (a scratch store's)."""
        ...


class SessionLog(Protocol):
    """The web page's logouts (store/web_sessions.py)."""

    def log_out(self, nonce: str, expires_at: int, now: int) -> None:
        """Refuse the session ``nonce`` until ``expires_at``; forget logouts past theirs."""
        ...

    def logged_out(self, nonce: str) -> bool:
        """True when the session ``nonce`` was logged out."""
        ...


class AuditStore(AuditLog, RequestStore, RunJournal, GuardStore, SessionLog, Protocol):
    """Everything a store keeps; the engine uses all of it, most readers only ``AuditLog``."""


class RequestLog(AuditLog, RequestStore, Protocol):
    """The records and the requests: what approvals use."""


class WebStore(RequestLog, SessionLog, Protocol):
    """What the web page reads and writes: records, requests, logouts."""


class IntakeStore(Protocol):
    """The intake queue of a store: payloads written down before the receiver answers."""

    def accept(self, payloads: Sequence[Accepted]) -> list[int | None]: ...

    def claim(self, owner: str, at: str, limit: int = 500) -> list[IntakeRow]: ...

    def oldest_queued(self) -> str | None: ...

    def done(self, ids: Sequence[int], at: str, results: dict[int, Any]) -> None: ...

    def release(self, ids: Sequence[int]) -> None: ...

    def recover(self) -> tuple[int, list[Orphan]]: ...

    def counts(self) -> dict[str, int]: ...

    def row(self, rid: int) -> dict[str, Any]: ...

    def prune(self, before: str) -> int: ...

    def close(self) -> None: ...


def is_url(location: StoreLocation) -> bool:
    """True when ``location`` names a PostgreSQL server rather than a SQLite file."""
    from .postgres import is_url as pg_url

    return pg_url(location)


def describe(location: StoreLocation) -> str:
    """``location`` for people: a file path, or the URL without its password."""
    from .postgres import redact

    return redact(location) if isinstance(location, str) else str(location)


def exists(location: StoreLocation) -> bool:
    """True when there is a store to read: a SQLite file, or any server URL (reaching it is
    ``open_store``'s business, and a report on an empty schema is an empty report)."""
    return isinstance(location, str) or location.is_file()


def open_store(location: StoreLocation, *, pool_size: int | None = None) -> AuditStore:
    """The store at ``location``: a SQLite file, or a PostgreSQL server named by URL."""
    if isinstance(location, str):
        from .postgres import DEFAULT_POOL, PgStore

        return PgStore(location, pool_size=pool_size or DEFAULT_POOL)
    from .sqlite import SqliteStore

    return SqliteStore(location)


def open_intake(location: StoreLocation, *, durable: bool = True) -> IntakeStore:
    """The intake queue of the store at ``location``."""
    if isinstance(location, str):
        from .postgres_intake import PgIntakeQueue

        return PgIntakeQueue(location, durable=durable)
    from .sqlite_intake import IntakeQueue

    return IntakeQueue(location, durable=durable)
