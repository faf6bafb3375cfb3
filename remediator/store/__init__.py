"""Audit stores: append-only, hash-chained. SQLite is the embedded default."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from ..models import PendingRequest, RequestState


class AuditStore(Protocol):
    """Where audit records live; ``append`` chains and stores atomically."""

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Seal ``record`` onto the chain and store it; returns the sealed record."""
        ...

    def get(self, record_id: str) -> dict[str, Any]:
        """The record with ``record_id`` (or a unique prefix of it); NotFoundError otherwise."""
        ...

    def records(self, since: str | None = None, *, entry: str | None = None,
                host: str | None = None) -> Iterator[dict[str, Any]]:
        """Records in chain order, optionally only since a time, for one entry or host."""
        ...

    def last_live_fix(self, entry: str, host: str) -> dict[str, Any] | None:
        """The newest successful live run of ``entry`` on ``host``."""
        ...

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

    def verify(self) -> tuple[int, str]:
        """Re-walk the chain: (record count, head hash), or ChainError naming the first misfit."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def open_store(location: Path) -> AuditStore:
    """The store at ``location`` (a SQLite file path for now)."""
    from .sqlite import SqliteStore

    return SqliteStore(location)
