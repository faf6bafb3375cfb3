"""PostgreSQL audit store: shared state for several remediator instances.

The same contract as the SQLite store, with the cross-process guarantees taken from the server:

- the hash chain is extended under a transaction-level advisory lock, so concurrent writers on
  any number of machines queue and the chain never forks;
- every change to guard state (claims, reservations, finished runs, breakers) takes the guard
  advisory lock, which plays the part of SQLite's single writer: decisions on different
  instances see each other's claims, locks and throttle counts;
- the intake queue hands out rows with ``FOR UPDATE SKIP LOCKED`` (``postgres_intake``).

Lock keys are derived from the database and schema, so two deployments in one server do not
wait on each other. Connections come from a psycopg pool shared by every store object of a URL
in the process. Migrations are versioned SQL applied at start under their own advisory lock.
Unreachable servers and lost connections become a StoreError naming the URL without its password.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import StoreError
from .base import SqlStore
from .decisions import MIGRATION as DECISIONS_MIGRATION
from .guard_state import finished_index, generation_migration
from .journal import MIGRATION as JOURNAL_MIGRATION
from .sql import Db
from .web_sessions import MIGRATION as WEB_LOGOUTS_MIGRATION

URL_SCHEMES = ("postgresql", "postgres")
DEFAULT_POOL = 8

# Dedupe claims keyed by the alert's start first: new claims land at the right edge of the
# index instead of on a random page each (as in SQLite's migration).
SEEN_BY_START = """
    ALTER TABLE guard_seen DROP CONSTRAINT guard_seen_pkey;
    ALTER TABLE guard_seen ADD PRIMARY KEY (starts_at, fingerprint, status, mode);
"""

# Tamper evidence, as in SQLite's migration: the host index by seq for verify; request seals.
SEALS = """
    CREATE INDEX IF NOT EXISTS record_hosts_seq ON record_hosts (seq);
    ALTER TABLE requests ADD COLUMN IF NOT EXISTS seal TEXT;
"""

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS records (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
        seq BIGINT NOT NULL REFERENCES records (seq),
        host TEXT NOT NULL,
        PRIMARY KEY (host, seq)
    );
    CREATE OR REPLACE FUNCTION remediator_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit records are append-only'; END $$;
    CREATE TRIGGER records_no_change BEFORE UPDATE OR DELETE ON records
        FOR EACH ROW EXECUTE FUNCTION remediator_append_only();
    CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON records
        FOR EACH STATEMENT EXECUTE FUNCTION remediator_append_only();
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
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
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
    CREATE TABLE IF NOT EXISTS guard_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation BIGINT NOT NULL
    );
    INSERT INTO guard_meta (id, generation) VALUES (1, 0) ON CONFLICT DO NOTHING;
    CREATE TABLE IF NOT EXISTS intake_plans (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        body TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS intake (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        received_at TEXT NOT NULL,
        source TEXT NOT NULL,
        body TEXT NOT NULL,
        replay_key TEXT UNIQUE,
        state TEXT NOT NULL DEFAULT 'queued',
        owner TEXT,
        claimed_at TEXT,
        done_at TEXT,
        result TEXT,
        plan_id BIGINT
    );
    CREATE INDEX IF NOT EXISTS intake_state ON intake (state, id);
    CREATE INDEX IF NOT EXISTS intake_plan ON intake (plan_id) WHERE plan_id IS NOT NULL;
    """,
    finished_index(", seq"),
    generation_migration("BIGINT"),
    SEEN_BY_START,
    JOURNAL_MIGRATION,
    SEALS,
    DECISIONS_MIGRATION,
    WEB_LOGOUTS_MIGRATION,
)


def is_url(location: object) -> bool:
    """True when a configured store location names a PostgreSQL server."""
    return isinstance(location, str) and urlsplit(location).scheme in URL_SCHEMES


def redact(url: str) -> str:
    """The URL with any password replaced: safe for messages, logs and records."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (our statements hold no other ``?`` or ``%``)."""
    if "%" in sql:
        raise ValueError(f"statement holds a literal %: {sql[:60]}")
    return sql.replace("?", "%s")


class PgDb:
    """A psycopg connection seen through the shared ``?``-placeholder interface."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        return self.conn.execute(_pg(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        cursor = self.conn.cursor()
        cursor.executemany(_pg(sql), list(parameters))
        return cursor


# -- pools: one per URL per process, shared by every store and queue on it --

_POOLS: dict[str, tuple[Any, int]] = {}
_POOLS_LOCK = threading.Lock()
# (URL, pool) of each store garbage-collected unclosed. The collector may run a finalizer at
# any allocation, also on a thread that holds _POOLS_LOCK: finalizers only append here, and the
# pools are released at the next acquire or close, outside the lock.
_ABANDONED: deque[tuple[str, Any]] = deque()


def _abandoned(url: str, pool: Any) -> None:
    _ABANDONED.append((url, pool))  # no lock: see _ABANDONED


def _release_abandoned() -> None:
    while True:
        try:
            url, pool = _ABANDONED.popleft()
        except IndexError:
            return
        _release_pool(url, pool)


def _acquire_pool(url: str, size: int) -> Any:
    _release_abandoned()
    try:
        import psycopg
        from psycopg_pool import ConnectionPool
    except ImportError:
        raise StoreError("a postgresql:// store needs the PostgreSQL driver: pip install"
                         " 'remediator[postgresql]'", where=redact(url)) from None

    with _POOLS_LOCK:
        pool, users = _POOLS.get(url, (None, 0))
        if pool is None:
            try:  # one plain connection first: its error says why (the pool's only times out)
                psycopg.connect(url, connect_timeout=5).close()
            except psycopg.Error as exc:
                raise StoreError(f"cannot reach the audit store: {_reason(exc)}",
                                 where=redact(url)) from None
            # check: a connection the server dropped (a restart, a failover) is replaced
            # when taken, instead of failing the next statement
            pool = ConnectionPool(url, min_size=1, max_size=max(1, size), open=False,
                                  check=ConnectionPool.check_connection, timeout=5.0,
                                  reconnect_timeout=30.0, max_idle=60.0,
                                  kwargs={"connect_timeout": 5, "application_name":
                                          "remediator"},
                                  name=f"remediator {redact(url)}")
            try:
                pool.open(wait=True, timeout=10.0)
            except Exception as exc:  # noqa: BLE001 - PoolTimeout or a connect error
                pool.close()
                raise StoreError(f"cannot reach the audit store: {_reason(exc)}",
                                 where=redact(url)) from None
        _POOLS[url] = (pool, users + 1)
        return pool


def _release_pool(url: str, pool: Any) -> None:
    """One user of ``pool`` fewer: it closes with its last user. A pool that close_pools
    already closed (and a later store replaced under the same URL) is left as it is."""
    with _POOLS_LOCK:
        current, users = _POOLS.get(url, (None, 0))
        if current is not pool:
            return
        if users > 1:
            _POOLS[url] = (pool, users - 1)
            return
        del _POOLS[url]
    pool.close()


def close_pools(prefix: str = "") -> None:
    """Close every pool whose URL starts with ``prefix`` (tests, before dropping a database)."""
    for _ in range(len(_ABANDONED)):  # their pools close here, whoever else used them
        url, pool = _ABANDONED.popleft()
        if not url.startswith(prefix):
            _ABANDONED.append((url, pool))
    with _POOLS_LOCK:
        doomed = [url for url in _POOLS if url.startswith(prefix)]
        pools = [_POOLS.pop(url)[0] for url in doomed]
    for pool in pools:
        pool.close()


def _reason(exc: BaseException) -> str:
    """A driver error in one line; the pool's timeout says what it was waiting for."""
    text = str(exc).strip().splitlines()
    reason = text[0] if text else type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None and "couldn't get a connection" in reason:
        reason += f" ({_reason(cause)})"
    return reason


def lock_key(namespace: str, name: str) -> int:
    """A signed 64-bit advisory lock key for ``name`` within one database and schema."""
    digest = hashlib.blake2b(f"remediator:{namespace}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PgStore(SqlStore):
    """Append-only audit records and guard state in PostgreSQL, shared by many processes."""

    HOSTS_JSON = "SELECT json_agg(host)::text FROM record_hosts h WHERE h.seq = r.seq"

    def __init__(self, url: str, *, pool_size: int = DEFAULT_POOL) -> None:
        self.url = url
        self.path = redact(url)  # what messages name, as the SQLite store names its file
        self._pool = _acquire_pool(url, pool_size)
        self._closed = False
        self._finalizer = weakref.finalize(self, _abandoned, url, self._pool)
        try:
            namespace = self._one("SELECT current_database() || '.' || current_schema()", ())
            self.namespace = str(namespace)
            self._chain_lock = lock_key(self.namespace, "chain")
            self._guard_lock = lock_key(self.namespace, "guard")
            self._migrate()
        except BaseException:
            self.close()
            raise
        self._init_guard()

    # -- plumbing --

    @contextmanager
    def _tx(self, what: str, lock: int | None = None) -> Iterator[PgDb]:
        """One transaction on a pooled connection, after taking ``lock`` (released at commit)."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn, conn.transaction():
                if lock is not None:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
                yield PgDb(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"cannot write {what}: {_reason(exc)}", where=self.path) from None

    @contextmanager
    def _reading(self) -> Iterator[PgDb]:
        """A pooled connection in a read-only transaction (read committed: each statement
        sees what is committed)."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn, conn.transaction():
                yield PgDb(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"cannot read guardrail state: {_reason(exc)}",
                             where=self.path) from None

    def _query(self, sql: str, args: Sequence[Any]) -> list[Any]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn:
                return list(conn.execute(_pg(sql), args).fetchall())
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"cannot read the audit store: {_reason(exc)}",
                             where=self.path) from None

    def _one(self, sql: str, args: Sequence[Any]) -> Any:
        rows = self._query(sql, args)
        return rows[0][0] if rows else None

    def _migrate(self) -> None:
        """Apply the migrations this database has not seen, under the migration lock."""
        with self._tx("schema migrations", lock_key(self.namespace, "migrate")) as db:
            db.conn.execute("CREATE TABLE IF NOT EXISTS remediator_schema ("
                            " version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL"
                            " DEFAULT now())")
            row = db.conn.execute("SELECT max(version) FROM remediator_schema").fetchone()
            version = int(row[0] or 0)
            if version > len(MIGRATIONS):
                raise StoreError(f"the database is at schema version {version}, newer than"
                                 f" this remediator knows ({len(MIGRATIONS)}): upgrade"
                                 " remediator", where=self.path)
            for number, script in enumerate(MIGRATIONS[version:], version + 1):
                db.conn.execute(script)
                db.conn.execute("INSERT INTO remediator_schema (version) VALUES (%s)",
                                (number,))

    def schema_version(self) -> int:
        """How many migrations this database has had."""
        return int(self._one("SELECT max(version) FROM remediator_schema", ()) or 0)

    def _prefix(self, key: str) -> tuple[str, str]:
        return "starts_with(id, ?)", key

    def _guard_begin(self, db: Db) -> None:
        # as SQLite's synchronous=NORMAL: a server crash may lose the last claims, never
        # corrupt them; waiting for the disk here held every instance up
        db.execute("SET LOCAL synchronous_commit = off")

    def _stream(self, sql: str, args: Sequence[Any], what: str
                ) -> Generator[Sequence[Any], None, None]:
        """The rows of one read, streamed through a server-side cursor."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn, conn.transaction(), \
                    conn.cursor(name="remediator_records") as cursor:
                cursor.itersize = 500
                cursor.execute(_pg(sql), args)
                yield from cursor
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"cannot read {what}: {_reason(exc)}", where=self.path) from None

    def close(self) -> None:
        """Give the pool back (it closes with its last user)."""
        if not self._closed:
            self._closed = True
            if self._finalizer.detach() is not None:
                _release_pool(self.url, self._pool)
        _release_abandoned()
