"""SQLite audit store: one file, WAL, append-only by trigger, chain extended under a write lock."""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Generator, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .base import SqlStore
from .decisions import MIGRATION as DECISIONS_MIGRATION
from .guard_state import GUARD_META_MIGRATION, finished_index, generation_migration
from .intake import MIGRATION as INTAKE_MIGRATION
from .intake import PLANS_MIGRATION
from .journal import MIGRATION as JOURNAL_MIGRATION
from .sqlite_tx import gate_for, read, use_wal, write
from .web_sessions import MIGRATION as WEB_LOGOUTS_MIGRATION

# Dedupe claims keyed by the alert's start first: new claims land at the right edge of
# the tree (alerts arrive roughly in start order), so a transaction of claims dirties a few
# pages, not one per claim (random fingerprints first made commits 24% of the decide path).
# Without a rowid, the claim is stored in its key's tree only.
SEEN_BY_START = """
    CREATE TABLE guard_seen_by_start (
        fingerprint TEXT NOT NULL,
        starts_at TEXT NOT NULL,
        status TEXT NOT NULL,
        mode TEXT NOT NULL,
        record_id TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        entry TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (starts_at, fingerprint, status, mode)
    ) WITHOUT ROWID;
    INSERT INTO guard_seen_by_start (fingerprint, starts_at, status, mode, record_id,
        claimed_at, entry)
        SELECT fingerprint, starts_at, status, mode, record_id, claimed_at, entry FROM guard_seen;
    DROP TABLE guard_seen;
    ALTER TABLE guard_seen_by_start RENAME TO guard_seen;
    CREATE INDEX guard_seen_claimed ON guard_seen (claimed_at);
"""

# Tamper evidence: verify reads each record's host index rows by seq; a request's seal.
# Requests opened before this migration have none: they are checked against their pending
# record (remediator/sealing.py).
SEALS = """
    CREATE INDEX IF NOT EXISTS record_hosts_seq ON record_hosts (seq);
    ALTER TABLE requests ADD COLUMN seal TEXT;
"""

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
    generation_migration("INTEGER"),
    SEEN_BY_START,
    JOURNAL_MIGRATION,
    SEALS,
    DECISIONS_MIGRATION,
    WEB_LOGOUTS_MIGRATION,
)


class SqliteStore(SqlStore):
    """Append-only audit records in one SQLite file (WAL, safe across processes)."""

    SEQ = "rowid"
    HOSTS_JSON = "SELECT json_group_array(host) FROM record_hosts h WHERE h.seq = r.seq"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._gate = gate_for(path)
        try:
            if read_only(path):  # an audit copy on read-only media: list, show, verify
                self._open_read_only(path)
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                                       check_same_thread=False)
            use_wal(self._db)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            self._init_guard()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the audit store: {exc}", where=str(path)) from None

    def _open_read_only(self, path: Path) -> None:
        """Open without writing anything: no WAL switch, no migration (a store of another
        schema is an error saying so), and on a read-only file system as immutable, since
        SQLite cannot make the WAL's shared-memory file there. Writes fail as StoreErrors."""
        immutable = "&immutable=1" if _read_only_fs(path) else ""
        self._db = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro{immutable}",
                                   uri=True, timeout=30, isolation_level=None,
                                   check_same_thread=False)
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version != len(MIGRATIONS):
            raise StoreError(f"this read-only store has schema version {version}; this "
                             f"remediator reads version {len(MIGRATIONS)}: open a writable "
                             "copy once to upgrade it", where=str(path))
        self._init_guard()

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

    def _tx(self, what: str, lock: int | None = None) -> AbstractContextManager[sqlite3.Connection]:
        """One IMMEDIATE transaction: writers queue here (one writer per file is SQLite's own
        lock, so ``lock`` is not needed), and the chain never forks."""
        return write(self._db, self.path, what, gate=self._gate)

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        return read(self._db, self.path, sql, args, "the audit store")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, outside a transaction: each statement reads what is committed."""
        try:
            yield self._db
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read guardrail state: {exc}", where=str(self.path)
                             ) from None

    def _prefix(self, key: str) -> tuple[str, str]:
        escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return "id LIKE ? ESCAPE '\\'", escaped + "%"

    def _stream(self, sql: str, args: Sequence[Any], what: str
                ) -> Generator[Sequence[Any], None, None]:
        """The rows of one read, one at a time from the cursor."""
        try:
            yield from self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {what}: {exc}", where=str(self.path)) from None

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


def read_only(path: Path) -> bool:
    """True for an existing store this process cannot write (the file or its file system)."""
    return path.is_file() and (_read_only_fs(path) or not os.access(path, os.W_OK))


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


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

