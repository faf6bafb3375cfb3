"""Guardrail state, mirrored in memory for speed and kept honest by a generation.

One implementation for both stores, in the SQL they share (``sql.Db``). Every guard session's
writes commit in one exclusive transaction (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's guard
advisory lock), so processes take turns.
Every write transaction that changes the guard tables bumps the generation in ``guard_gen``,
for the entries it changed and overall; at the start of a session a different generation than
the mirror's means another connection changed guard state since this one last looked, and the
entries it changed are reloaded from the database when a session next reads them.
(Writes to other tables, such as the receiver's intake commits, leave the mirror alone.) The
mirror is also rebuilt once the horizon has moved on by its own length, so a long-running
process holds at most two horizons of guard rows. Within a
session, claims and reservations update the mirror at once and reach the database in one
``executemany`` before the commit. A single busy process therefore decides from memory, while
many processes still see each other's claims and locks.

A session either runs wholly inside its transaction, or (``SqlStore.guard_attempt``) decides
first and takes the transaction only to check that the generation is still the one it decided
at and to write; when it is not, nothing is written and the caller decides again inside.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .. import runproc
from ..common import iso, parse_time, utc_now
from ..guardrails import GuardFacts
from ..limits import Guardrails
from . import journal
from .intake import mark_planned, plan_body
from .owners import NODE, alive, owner_id
from .sql import Db

SKEW = timedelta(hours=1)  # allowance between the alert source's clock and ours


SETUP_FAILED = "setup-failed"  # a run's outcome when it stopped before touching any host


@dataclass(slots=True)
class _Run:
    ident: str
    host: str
    entry: str
    mode: str
    started: datetime
    expires: datetime
    finished: datetime | None = None
    pid: int | None = None
    node: str | None = None
    outcome: str | None = None


@dataclass
class _EntryRuns:
    """One entry's runs in start order: one element per run (ident), for windowed counts."""

    starts: list[datetime] = field(default_factory=list)
    idents: list[str] = field(default_factory=list)
    live: list[bool] = field(default_factory=list)
    known: set[str] = field(default_factory=set)
    void: set[str] = field(default_factory=set)  # runs that failed at setup: not counted

    def add(self, run: _Run) -> None:
        if run.outcome == SETUP_FAILED:
            self.void.add(run.ident)
        if run.ident in self.known:
            return
        index = bisect.bisect_right(self.starts, run.started)
        self.starts.insert(index, run.started)
        self.idents.insert(index, run.ident)
        self.live.insert(index, run.mode == "live")
        self.known.add(run.ident)

    def count(self, since: datetime, *, live_only: bool = False) -> int:
        first = bisect.bisect_left(self.starts, since)
        void = sum(1 for ident in self.idents[first:] if ident in self.void) if self.void else 0
        if not live_only:
            return len(self.starts) - first - void
        live = sum(self.live[first:])
        return live - (sum(1 for ident, is_live in zip(self.idents[first:], self.live[first:],
                                                       strict=True)
                           if is_live and ident in self.void) if self.void else 0)


# The first home of the global generation (moved to guard_gen by generation_migration).
GUARD_META_MIGRATION = """
CREATE TABLE IF NOT EXISTS guard_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT OR IGNORE INTO guard_meta (id, generation) VALUES (1, 0);
"""


def generation_migration(integer: str) -> str:
    """The migration to per-entry generations (``integer``: a 64-bit integer type).

    ``guard_gen`` holds each entry's (and claim partition's) generation at its last change,
    and the global one under ``*`` (no entry or alert name can be that), all in the page a
    guard write changes anyway. Each dedupe claim is filed under its partition; claims from
    before stay under ``''``, which no writer changes any more (they are read with the whole
    mirror).
    """
    return (f"CREATE TABLE IF NOT EXISTS guard_gen (entry TEXT PRIMARY KEY,"  # noqa: S608
            f" generation {integer} NOT NULL);\n"
            "INSERT INTO guard_gen (entry, generation) SELECT '*', generation FROM guard_meta;\n"
            "DROP TABLE guard_meta;\n"
            "ALTER TABLE guard_seen ADD COLUMN entry TEXT NOT NULL DEFAULT '';")


def generation(db: Db) -> int:
    """How many write transactions have changed the guard tables, from any connection."""
    return int(db.execute("SELECT generation FROM guard_gen WHERE entry = '*'").fetchone()[0])


def bump(db: Db, entries: AbstractSet[str]) -> int:
    """Count a write transaction that changes the guard state of ``entries`` (every writer
    calls this, in the same transaction); the new generation, which each of them now carries
    in ``guard_gen``."""
    version = int(db.execute("UPDATE guard_gen SET generation = generation + 1 WHERE"
                             " entry = '*' RETURNING generation").fetchone()[0])
    if entries:
        db.executemany("INSERT INTO guard_gen (entry, generation) VALUES (?, ?) ON CONFLICT"
                       " (entry) DO UPDATE SET generation = excluded.generation",
                       [(entry, version) for entry in sorted(entries)])
    return version


def changed_since(db: Db, version: int) -> list[tuple[str, int]]:
    """(entry, generation) of the entries whose guard state changed after ``version``."""
    return [(str(row[0]), int(row[1])) for row in db.execute(
        "SELECT entry, generation FROM guard_gen WHERE generation > ? AND entry <> '*'",
        (version,))]


PAGE_ROWS = (16, 1024)  # rows per read of an entry's finished runs: first, most


def finished_index(order: str) -> str:
    """The migration that adds the breaker's index: an entry's finished live runs, newest first
    (``order``: the columns after ``finished_at``; SQLite's rowid needs none)."""
    return ("CREATE INDEX IF NOT EXISTS guard_runs_finished ON guard_runs"
            f" (entry, mode, finished_at{order}) WHERE finished_at IS NOT NULL;")


def last_runs_failed(db: Db, entry: str, count: int, seq: str) -> bool:
    """True when each of the last ``count`` live runs of ``entry`` to finish failed (a run
    failed when any of its hosts did). ``seq`` is the table's insertion order column."""
    idents = newest_live_runs(db, entry, count, seq)
    if len(idents) < count:
        return False
    marks = ", ".join("?" * count)
    failed = db.execute(f"SELECT DISTINCT ident FROM guard_runs WHERE ident IN ({marks}) AND"  # noqa: S608
                        " mode = 'live' AND finished_at IS NOT NULL AND outcome <> 'succeeded'",
                        tuple(idents)).fetchall()
    return len(failed) == count


def newest_live_runs(db: Db, entry: str, count: int, seq: str) -> list[str]:
    """The idents of the last ``count`` live runs of ``entry`` to finish, newest first.

    Reads the entry's finished live runs newest first through ``guard_runs_finished``, a page at
    a time until ``count`` runs are found, so the cost does not grow with the history kept.
    """
    idents: list[str] = []
    query = ("SELECT ident, finished_at, {seq} FROM guard_runs WHERE entry = ? AND mode = 'live'"
             " AND finished_at IS NOT NULL{after} ORDER BY finished_at DESC, {seq} DESC"
             " LIMIT {limit}")
    page = max(PAGE_ROWS[0], 2 * count)  # most runs have one host: read a little more
    rows = db.execute(query.format(seq=seq, after="", limit=page), (entry,)).fetchall()
    while True:
        for ident, _, _ in rows:
            if ident not in idents:
                idents.append(ident)
                if len(idents) == count:
                    break
        if len(idents) == count or len(rows) < page:
            break
        last = rows[-1]
        page = min(page * 4, PAGE_ROWS[1])  # wide runs: larger reads
        rows = db.execute(query.format(seq=seq, limit=page,
                                       after=f" AND (finished_at, {seq}) < (?, ?)"),
                          (entry, last[1], last[2])).fetchall()
    return idents


_SEEN = ("SELECT fingerprint, starts_at, status, mode, record_id, entry FROM guard_seen"
         " WHERE claimed_at >= ?")
_RUNS = ("SELECT ident, host, entry, mode, started_at, expires_at, finished_at, pid, node,"
         " outcome FROM guard_runs WHERE (started_at >= ? OR finished_at IS NULL)")
_SEEN_ROWS = {True: _SEEN, False: _SEEN + " AND entry = ?"}  # by "every entry"
_RUN_ROWS = {True: _RUNS, False: _RUNS + " AND entry = ?"}


class GuardCache:
    """The in-memory mirror of recent guard rows for one connection, by entry.

    ``version`` is the generation it is current at, but for the ``stale`` entries: those
    another writer changed since (``guard_gen``), reloaded one by one when a session first
    reads them (``ensure``), so another process's writes to entries this one does not handle
    cost it nothing. ``fresh`` holds entries reloaded at a generation newer than ``version``.
    """

    def __init__(self) -> None:
        self.version: int | None = None
        self.stale: set[str] = set()
        self.fresh: dict[str, int] = {}
        self.horizon: datetime | None = None
        self.seen: dict[tuple[str, str, str, str], str] = {}
        self.seen_of: dict[str, set[tuple[str, str, str, str]]] = {}  # by partition
        self.host_runs: dict[tuple[str, str], list[_Run]] = {}
        self.entry_runs: dict[str, _EntryRuns] = {}
        self.runs_of: dict[str, list[_Run]] = {}
        self.breakers: dict[str, str] = {}
        self.by_key: dict[tuple[str, str], _Run] = {}

    def add_run(self, run: _Run) -> None:
        self.by_key[(run.ident, run.host)] = run
        self.host_runs.setdefault((run.entry, run.host), []).append(run)
        self.entry_runs.setdefault(run.entry, _EntryRuns()).add(run)
        self.runs_of.setdefault(run.entry, []).append(run)

    def add_seen(self, key: tuple[str, str, str, str], record_id: str, entry: str) -> None:
        self.seen[key] = record_id
        self.seen_of.setdefault(entry, set()).add(key)

    def load(self, db: Db, horizon: datetime) -> None:
        """Rebuild from the database: runs since ``horizon`` (and every unfinished one)."""
        self.__init__()  # type: ignore[misc]
        self.horizon = horizon
        self._read(db, horizon, None)
        self.breakers = {row[0]: row[1] for row in db.execute(
            "SELECT entry, since FROM guard_breakers")}

    def reload(self, db: Db, entries: AbstractSet[str]) -> None:
        """Forget and read again the guard state of ``entries`` (changed by another writer)."""
        assert self.horizon is not None  # only a loaded mirror is refreshed
        for entry in entries:
            for key in self.seen_of.pop(entry, ()):
                self.seen.pop(key, None)
            for run in self.runs_of.pop(entry, ()):
                self.by_key.pop((run.ident, run.host), None)
                self.host_runs.pop((run.entry, run.host), None)
            self.entry_runs.pop(entry, None)
            self.breakers.pop(entry, None)
            self._read(db, self.horizon, entry)
            row = db.execute("SELECT since FROM guard_breakers WHERE entry = ?",
                             (entry,)).fetchone()
            if row:
                self.breakers[entry] = row[0]

    def _read(self, db: Db, horizon: datetime, entry: str | None) -> None:
        """Add the rows since ``horizon`` (unfinished runs whenever they started): of
        ``entry``, or of every entry."""
        args: tuple[str, ...] = (iso(horizon),) if entry is None else (iso(horizon), entry)
        for fingerprint, starts, status, mode, record_id, claim_entry in db.execute(
                _SEEN_ROWS[entry is None], args):
            self.add_seen((fingerprint, starts, status, mode), record_id, claim_entry)
        for ident, host, run_entry, mode, started, expires, finished, pid, node, outcome in \
                db.execute(_RUN_ROWS[entry is None], args):
            self.add_run(_Run(ident, host, run_entry, mode, datetime.fromisoformat(started),
                              datetime.fromisoformat(expires),
                              datetime.fromisoformat(finished) if finished else None, pid, node,
                              outcome))

    def refresh(self, db: Db, horizon: datetime, horizon_s: int) -> None:
        """Catch up with the database: the entries changed since ``version`` become stale (or
        the whole mirror is read again, when it was never loaded, was given up or its horizon
        moved on)."""
        version = generation(db)
        if self.version is None or self.horizon is None or self.horizon > horizon or \
                horizon - self.horizon > timedelta(seconds=max(60, horizon_s)):
            self.load(db, horizon)
            self.version = version
        elif version != self.version:
            self.overtaken(db, set(), version)

    def overtaken(self, db: Db, read: AbstractSet[str], version: int) -> bool:
        """Mark the entries changed since the mirror's version stale and move on to
        ``version``; True instead (nothing marked) if any of them is in ``read``, the entries
        a session decided from."""
        assert self.version is not None  # only a loaded mirror catches up
        changed = [entry for entry, at in changed_since(db, self.version)
                   if at > self.fresh.get(entry, self.version)]
        if read and not read.isdisjoint(changed):
            return True
        self.stale.update(changed)
        self.version = version
        self.fresh = {entry: at for entry, at in self.fresh.items() if at > version}
        return False

    def ensure(self, db: Db, entry: str) -> None:
        """Reload ``entry`` if it is stale, before a session reads it."""
        if entry in self.stale:
            at = generation(db)
            self.reload(db, {entry})
            self.stale.discard(entry)
            if self.version is not None and at > self.version:
                self.fresh[entry] = at

    def finish(self, ident: str, host: str, at: datetime, outcome: str, *,
               open_only: bool = False) -> None:
        """Mirror a finished run (this connection's own write)."""
        run = self.by_key.get((ident, host))
        if run is not None and not (open_only and run.finished is not None):
            run.finished = at
            run.outcome = outcome
            if outcome == SETUP_FAILED and run.entry in self.entry_runs:
                self.entry_runs[run.entry].void.add(ident)

    def forget_claims(self, record_ids: AbstractSet[str]) -> None:
        """Mirror deleted dedupe claims (this connection's own write)."""
        doomed = [key for key, record_id in self.seen.items() if record_id in record_ids]
        for key in doomed:
            del self.seen[key]
            for keys in self.seen_of.values():
                keys.discard(key)


class GuardSession:
    """Guardrail reads and reservations, written by one write transaction of the store.

    Either the whole session runs inside that transaction (``SqlStore.guard``), or it decides
    from the mirror first and the transaction only writes, if the generation it decided at is
    still the database's (``SqlStore.guard_attempt``; ``committed`` says whether it did).
    """

    def __init__(self, db: Db, cache: GuardCache, now: datetime,
                 horizon_s: int) -> None:
        self._db = db
        self._cache = cache
        self._claims: list[tuple[str, str, str, str, str, str, str]] = []
        self._reservations: list[tuple[object, ...]] = []
        self._finishes: list[tuple[str, str, str, str]] = []
        self._deferred: list[Callable[[], None]] = []
        self._pid = os.getpid()
        self._now_text: tuple[datetime, str] | None = None
        self._windows: dict[tuple[datetime, int, int], tuple[datetime, datetime]] = {}
        self.committed = False
        self.entries: set[str] = set()  # whose guard state these decisions read or wrote
        self._written: set[str] = set()  # ... and wrote
        cache.refresh(db, now - timedelta(seconds=horizon_s), horizon_s)

    def bind(self, db: Db) -> None:
        """Write through ``db`` (the write transaction) from now on."""
        self._db = db

    def defer(self, write: Callable[[], None]) -> None:
        """Run ``write`` inside the write transaction, just before the session's own writes."""
        self._deferred.append(write)

    def _use(self, entry: str) -> None:
        """These decisions read ``entry``'s guard state: the first time, make sure the
        mirror's is current."""
        if entry not in self.entries:
            self.entries.add(entry)
            self._cache.ensure(self._db, entry)

    def _iso(self, moment: datetime) -> str:
        """iso(), remembered for the session's one ``now``."""
        if self._now_text is None or self._now_text[0] != moment:
            self._now_text = (moment, iso(moment))
        return self._now_text[1]

    def intake_planned(self, ids: Sequence[int], plan: dict[str, Any]) -> None:
        """These intake rows are decided: their plan commits with the claims, or not at all
        (serialised now, outside the write lock; written with the claims)."""

        body = plan_body(plan)
        self.defer(lambda: mark_planned(self._db, ids, body))

    def claim_request(self, request_id: str, by: str, at: str) -> bool:
        """Move a pending request to approved in this transaction, now: the transition
        commits with the run's reservations and journal, or not at all (a crash between the
        two would leave a request approved with nothing to record its run). False when it was
        no longer pending (another approval won)."""
        cursor = self._db.execute(
            "UPDATE requests SET state = 'approved', decided_by = ?, decided_at = ?"
            " WHERE id = ? AND state = 'pending'", (by, at, request_id))
        return int(cursor.rowcount) == 1

    def journal(self, key: str, plan: dict[str, Any], expires_at: datetime) -> None:
        """Journal this transaction's drafts and runs (journal.py): they commit together."""

        row = (key, owner_id(), self._iso(utc_now()), iso(expires_at), plan_body(plan))
        self.defer(lambda: journal.write(self._db, *row))

    def flush(self) -> None:
        """Write the session's claims and reservations (called before the commit)."""
        for write in self._deferred:
            write()
        if self._claims:
            self._db.executemany("INSERT INTO guard_seen (fingerprint, starts_at, status, mode,"
                                 " record_id, claimed_at, entry) VALUES (?,?,?,?,?,?,?)"
                                 " ON CONFLICT DO NOTHING", self._claims)
        if self._reservations:
            self._db.executemany("INSERT INTO guard_runs (ident, host, entry, mode, started_at,"
                                 " expires_at, pid, node) VALUES (?,?,?,?,?,?,?,?)"
                                 " ON CONFLICT DO NOTHING", self._reservations)
        if self._finishes:
            self._db.executemany("UPDATE guard_runs SET finished_at = ?, outcome = ? WHERE"
                                 " ident = ? AND host = ?", self._finishes)
        if self._claims or self._reservations or self._finishes:
            self._cache.version = bump(self._db, self._written)  # the mirror holds these

    def seen(self, fingerprint: str, starts_at: str | None, status: str, mode: str, *,
             entry: str = "") -> str | None:
        """The record that already handled this alert delivery in ``mode``, or None
        (``entry``: the claim's ``partition``)."""
        self._use(entry)
        key = (fingerprint, starts_at or "", status, mode)
        cache = self._cache
        if key in cache.seen:
            return cache.seen[key]
        if not self._covered(starts_at):  # an old alert: its claim may predate the mirror
            row = self._db.execute("SELECT record_id FROM guard_seen WHERE fingerprint = ? AND"
                                   " starts_at = ? AND status = ? AND mode = ?", key).fetchone()
            if row:
                cache.add_seen(key, str(row[0]), entry)
                return str(row[0])
        return None

    def claim(self, fingerprint: str, starts_at: str | None, status: str, mode: str,
              record_id: str, now: datetime, *, entry: str = "") -> None:
        """Mark this alert delivery handled in ``mode`` (the mode that really happened).

        A check run does not use up the alert: once the stage (or the brake) allows it, the
        same alert is still fixed live, once. The claim is filed under the later of now and
        the alert's start, so a mirror that holds the alert's start holds its claim too.
        """
        key = (fingerprint, starts_at or "", status, mode)
        self._use(entry)
        if key in self._cache.seen:
            return
        self._cache.add_seen(key, record_id, entry)
        self._written.add(entry)
        started = parse_time(starts_at)
        filed = now if started is None or started < now else started
        self._claims.append((*key, record_id, self._iso(filed), entry))

    def _covered(self, starts_at: str | None) -> bool:
        """True when any claim of an alert that started at ``starts_at`` is in the mirror."""
        started = parse_time(starts_at)
        if started is None or self._cache.horizon is None:
            return False
        return started >= self._cache.horizon + SKEW

    def last_fix(self, entry: str, host: str) -> tuple[str, datetime] | None:
        """(ident, finished) of the newest successful live run of ``entry`` on ``host``."""
        self._use(entry)
        best: tuple[str, datetime] | None = None
        for run in self._cache.host_runs.get((entry, host), ()):
            if run.mode == "live" and run.outcome == "succeeded" and run.finished is not None \
                    and (best is None or run.finished > best[1]):
                best = (run.ident, run.finished)
        return best

    def facts(self, entry: str, host: str, rules: Guardrails, now: datetime,
              own: AbstractSet[str] = frozenset()) -> GuardFacts:
        """What the guardrails need to know about (entry, host) now.

        Runs in ``own`` were reserved by this same caller, which runs them one after another:
        they count for throttles but do not lock the host against it.
        """
        self._use(entry)
        throttle_since, recur_since = self._since(now, rules)
        in_progress, host_runs, host_fixes, last_end = None, [], 0, None
        for run in self._cache.host_runs.get((entry, host), ()):
            if run.outcome == SETUP_FAILED:  # it never touched the host: no run at all
                continue
            if run.started >= throttle_since:  # started runs count, finished or not
                host_runs.append(run.started)
            if run.finished is None:
                # an owner that died may leave its playbook behind for a few seconds (its
                # reaper stops it): the lock holds while any of the run's processes lives
                stale = run.expires <= now or (run.node == NODE and not alive(run.pid)
                                               and not runproc.processes([run.ident]))
                if not stale and run.ident not in own:
                    in_progress = run.ident
                continue
            if run.mode == "live" and (last_end is None or run.finished > last_end):
                last_end = run.finished  # only a change needs time to settle
            if run.mode == "live" and run.started >= recur_since:
                host_fixes += 1
        runs = self._cache.entry_runs.get(entry)
        entry_runs = runs.count(throttle_since) if runs else 0
        entry_fixes = runs.count(recur_since, live_only=True) if runs else 0
        return GuardFacts(in_progress=in_progress, host_runs=tuple(host_runs),
                          entry_runs=entry_runs, last_run_end=last_end, host_fixes=host_fixes,
                          entry_fixes=entry_fixes, breaker_since=self._cache.breakers.get(entry))

    def _since(self, now: datetime, rules: Guardrails) -> tuple[datetime, datetime]:
        """When ``rules``' throttle and recurrence windows began, remembered per ``now``."""
        key = (now, rules.throttle_window_s, rules.recurrence_window_s)
        since = self._windows.get(key)
        if since is None:
            since = self._windows[key] = (now - timedelta(seconds=key[1]),
                                          now - timedelta(seconds=key[2]))
        return since

    def finish(self, ident: str, hosts: list[str], outcome: str, now: datetime) -> None:
        """End reserved runs within this session (for simulations: no run happens)."""
        for host in hosts:
            run = self._cache.by_key.get((ident, host))
            if run is not None:
                self._use(run.entry)
                self._written.add(run.entry)
            self._cache.finish(ident, host, now, outcome)
        self._finishes += [(self._iso(now), outcome, ident, host) for host in hosts]

    def reserve(self, ident: str, entry: str, host: str, mode: str, now: datetime,
                lease_s: int) -> None:
        """Record a run starting on (entry, host): it counts for throttles and holds the lock."""
        self._use(entry)
        self._written.add(entry)
        run = _Run(ident, host, entry, mode, now, now + timedelta(seconds=lease_s),
                   pid=self._pid, node=NODE)
        self._cache.add_run(run)
        self._reservations.append((ident, host, entry, mode, self._iso(now), iso(run.expires),
                                   run.pid, run.node))
