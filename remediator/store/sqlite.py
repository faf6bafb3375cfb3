"""SQLite audit store: one file, WAL, append-only by trigger, chain extended under a write lock."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..audit import GENESIS_HASH, seal, verify_chain
from ..errors import NotFoundError, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    alert_name TEXT,
    fingerprint TEXT,
    remediation TEXT,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS records_created ON records (created_at);
CREATE INDEX IF NOT EXISTS records_fingerprint ON records (fingerprint);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
"""


class SqliteStore:
    """Append-only audit records in one SQLite file (WAL, safe across processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the audit store: {exc}", where=str(path)) from None

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Seal onto the chain inside one IMMEDIATE transaction, so writers never fork it."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
                sealed = seal(record, row[0] if row else GENESIS_HASH)
                alert = sealed.get("alert") or {}
                self._db.execute(
                    "INSERT INTO records (id, created_at, alert_name, fingerprint, remediation,"
                    " action, outcome, body, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (sealed["id"], sealed["created_at"], alert.get("name"),
                     alert.get("fingerprint"), (sealed.get("remediation") or {}).get("name"),
                     sealed["decision"]["action"], sealed["outcome"],
                     json.dumps(sealed, sort_keys=True, ensure_ascii=False),
                     sealed["prev_hash"], sealed["hash"]),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write audit record {record.get('id')}: {exc}",
                             where=str(self.path)) from None
        return sealed

    def get(self, record_id: str) -> dict[str, Any]:
        """The record with ``record_id`` or a unique prefix of it."""
        rows = self._query("SELECT body FROM records WHERE id = ?", (record_id,))
        if not rows:
            escaped = record_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = self._query("SELECT body FROM records WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                               (escaped + "%",))
        if len(rows) != 1:
            what = "no record" if not rows else "more than one record"
            raise NotFoundError(f"{what} with id {record_id!r}", where=str(self.path))
        return dict(json.loads(rows[0][0]))

    def records(self, since: str | None = None) -> Iterator[dict[str, Any]]:
        """Records in chain order, streamed from the database."""
        sql = "SELECT body FROM records ORDER BY seq"
        args: tuple[str, ...] = ()
        if since:
            sql = "SELECT body FROM records WHERE created_at >= ? ORDER BY seq"
            args = (since,)
        try:
            for (body,) in self._db.execute(sql, args):
                yield json.loads(body)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the audit store: {exc}", where=str(self.path)) from None

    def verify(self) -> tuple[int, str]:
        """Re-walk the whole chain from the stored bodies."""
        return verify_chain(self.records())

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the audit store: {exc}", where=str(self.path)) from None
