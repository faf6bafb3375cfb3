"""Audit stores: append-only, hash-chained. SQLite is the embedded default."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol


class AuditStore(Protocol):
    """Where audit records live; ``append`` chains and stores atomically."""

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Seal ``record`` onto the chain and store it; returns the sealed record."""
        ...

    def get(self, record_id: str) -> dict[str, Any]:
        """The record with ``record_id`` (or a unique prefix of it); NotFoundError otherwise."""
        ...

    def records(self, since: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record in chain order, optionally only those created at or after ``since``."""
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
