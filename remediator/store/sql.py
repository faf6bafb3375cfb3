"""The little SQL both backends share: a connection that runs ``?``-parameter statements.

The guard mirror, its session and the intake plan are written once, in the SQL subset that
SQLite and PostgreSQL both speak (``ON CONFLICT DO NOTHING``, ``RETURNING``); a sqlite3
connection is a ``Db`` as it is, a PostgreSQL connection is wrapped by ``postgres.PgDb``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol


class Db(Protocol):
    """A connection inside a transaction, with ``?`` placeholders."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


def records_query(since: str | None, entry: str | None, host: str | None
                  ) -> tuple[str, list[str]]:
    """The ``records()`` statement of either store: (id, created_at, body) in chain order,
    filtered."""
    sql = "SELECT r.id, r.created_at, r.body FROM records r"
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
    return sql + " ORDER BY r.seq", args
