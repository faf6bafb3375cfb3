"""Workers take accepted payloads from the intake queue and handle them with an Engine each.

A worker claims every queued payload at once (up to ``batch``), so a storm arriving together
becomes one ``Engine.handle`` call and one coalesced run per entry. Its decisions and draft
records are written in the same transaction as the guardrail claims; a worker that dies after
that leaves enough behind for the next start to record its runs as interrupted.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .. import sources
from ..common import iso, parse_time, utc_now
from ..config import Config
from ..engine import Engine, open_engine
from ..errors import RemediatorError, StoreError
from ..models import Alert
from ..record import AuditRecord
from ..recovery import Journal
from ..store import GuardSession, IntakeStore, open_intake
from ..store.intake import IntakeRow
from ..store.owners import owner_id
from .metrics import Metrics

Log = Callable[[str], None]
PRUNE_EVERY_S = 3600.0
# Alerts per decision and write transaction: larger groups commit less often (bench/decisions.py
# measures the throughput) but make the receiver wait, since the worker's long stretches of
# Python hold the GIL (bench/webhooks.py measures the p99). 128 is where the two balance.
GROUP_ALERTS = 128


def log(message: str) -> None:
    """One line on stderr."""
    print(f"remediator serve: {message}", file=sys.stderr, flush=True)


@dataclass
class Pool:
    """The workers, the event that wakes them, and the stop flag they watch."""

    config: Config
    metrics: Metrics
    log: Log = log
    engine_factory: Callable[[Config], Engine] = open_engine
    wake: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    engines: list[Engine] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    busy: int = 0
    stranded: list[int] = field(default_factory=list)  # claimed rows to put back in the queue
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def recover(self) -> None:
        """Before the first worker starts: requeue what dead workers only claimed, and record
        the runs they had started as interrupted."""
        intake = open_intake(self.config.store, durable=False)
        try:
            self.prune(intake)
            requeued, orphans = intake.recover()
            if requeued:
                self.log(f"requeued {requeued} payload(s) a stopped worker had claimed")
            if not orphans:
                return
            engine = self.engine_factory(self.config)
            try:
                for orphan in orphans:
                    records = engine.recover(orphan.plan, "interrupted: remediator serve "
                                             "stopped while this run was in progress; the "
                                             "playbook may have partly applied")
                    self.metrics.observe_records(records)
                    recovered = {"recovered": [r["id"] for r in records]}
                    intake.done(orphan.ids, iso(utc_now()), dict.fromkeys(orphan.ids, recovered))
                    self.log(f"payloads {_span(orphan.ids)}: recorded {len(records)} "
                             "decision(s) of a stopped worker (runs as interrupted)")
            finally:
                engine.store.close()
        finally:
            intake.close()

    def prune(self, intake: IntakeStore, engine: Engine | None = None) -> None:
        """Forget handled payloads older than ``server.keep_intake`` (their records stay), and
        with ``engine`` guard state older than ``keep_guard_state``."""
        cutoff = iso(utc_now() - timedelta(seconds=self.config.server.keep_intake))
        gone = intake.prune(cutoff)
        if gone:
            self.log(f"forgot {gone} handled payload(s) received before {cutoff}")
        if engine is not None:
            claims, runs = engine.prune_guard_state()
            if claims or runs:
                self.log(f"forgot {claims} dedupe claim(s) and {runs} finished run row(s) "
                         f"older than keep_guard_state ({self.config.keep_guard_state} s)")

    def start(self, count: int) -> None:
        """Start ``count`` workers, each with its own engine and store connections, opened
        here: before ``serve`` listens, so a flood of connections cannot take the file
        descriptors they need."""
        for number in range(count):
            engine = self.engine_factory(self.config)
            self.engines.append(engine)
            intake = open_intake(self.config.store, durable=False)
            thread = threading.Thread(target=self._run, args=(engine, intake),
                                      name=f"worker-{number + 1}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def stop(self, grace_s: float) -> None:
        """Let running work finish for ``grace_s``; then cancel runs (recorded interrupted)."""
        self.stopping.set()
        self.wake.set()
        deadline = time.monotonic() + grace_s
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self.threads):
            self.log("grace period over: cancelling the runs still going")
            for engine in self.engines:
                cancel = getattr(engine.executor, "cancel", None)
                if cancel is not None:
                    cancel.set()
            for thread in self.threads:
                thread.join()

    @property
    def alive(self) -> int:
        return sum(t.is_alive() for t in self.threads)

    def _window(self, engine: Engine) -> float:
        """How long the oldest queued payload waits for others: the longest storm window of
        any entry, and at least ``server.gather`` (claims of a few rows each would compete
        with the receiver for the store and the CPU)."""
        return float(max([e.guardrails.storm_window_s for e in engine.catalog] +
                         [self.config.guardrails.storm_window_s, self.config.server.gather]))

    def _run(self, engine: Engine, intake: IntakeStore) -> None:
        owner = owner_id()
        window = self._window(engine)
        pruned = time.monotonic() - PRUNE_EVERY_S  # guard state at once, then hourly
        try:
            while not self.stopping.is_set():
                if time.monotonic() - pruned > PRUNE_EVERY_S and engine is self.engines[0]:
                    pruned = time.monotonic()
                    try:
                        self.prune(intake, engine)
                    except StoreError as exc:
                        self.log(f"cannot prune the intake queue and guard state: {exc}")
                self.wake.wait(1.0)
                self.wake.clear()
                if self.stranded and not self._release_stranded(intake, engine):
                    continue
                try:
                    if window and not self._gathered(intake, window):
                        continue
                    rows = intake.claim(owner, iso(utc_now()), self.config.server.batch)
                except StoreError as exc:  # the store is unreachable: wait, keep the worker
                    self.metrics.errors.inc()
                    self.log(f"cannot claim payloads: {exc}")
                    self.stopping.wait(1.0)
                    continue
                if not rows:
                    continue
                self.wake.set()  # more may be queued: let another worker look
                with self._lock:
                    self.busy += 1
                try:
                    self._handle(engine, intake, rows)
                finally:
                    with self._lock:
                        self.busy -= 1
        finally:
            intake.close()
            engine.store.close()

    def _release_stranded(self, intake: IntakeStore, engine: Engine) -> bool:
        """Once the store answers again after a batch failed under it (a database outage, a
        full disk): put its claimed rows back in the queue, store the records kept in the
        spool meanwhile, and record the planned rows' runs (those without a stored record as
        interrupted). False while the store is still unreachable."""
        with self._lock:
            ids, self.stranded = list(self.stranded), []
        try:
            intake.release(ids)
            kept = engine.store_unsaved()
            recovered: dict[str, list[AuditRecord]] = {}
            results: dict[int, Any] = {}
            for rid in ids:
                done = _recover_planned(engine, intake, rid, recovered, "interrupted: the "
                                        "audit store failed while this batch was handled; "
                                        "the playbook may have run")
                if done is not None:
                    results[rid] = {"recovered": done[1]}
            if results:
                intake.done(list(results), iso(utc_now()), results)
            if kept or results:
                self.log(f"stored {len(kept)} record(s) kept while the store failed, and "
                         f"the decisions of {len(results)} payload(s) it had taken")
        except StoreError as exc:
            with self._lock:
                self.stranded.extend(ids)
            self.log(f"cannot put payloads {_span(ids)} back in the queue yet: {exc}")
            self.stopping.wait(1.0)
            return False
        self.log(f"payloads {_span(ids)} are back in the queue")
        return True

    def _gathered(self, intake: IntakeStore, window: float) -> bool:
        """True once the oldest queued payload has waited the storm window out."""
        oldest = parse_time(intake.oldest_queued())
        if oldest is None:
            return False
        wait = (oldest + timedelta(seconds=window) - utc_now()).total_seconds()
        if wait > 0:
            self.stopping.wait(min(wait, 1.0))
            self.wake.set()
            return False
        return True

    def _handle(self, engine: Engine, intake: IntakeStore, rows: Sequence[IntakeRow]) -> None:
        """Normalise the rows' payloads, handle all their alerts together, mark them done."""
        started = time.monotonic()
        alerts: list[Alert] = []
        per_row: dict[int, list[Alert]] = {}
        results: dict[int, Any] = {}
        for row in rows:
            try:
                found = sources.normalize(sources.parse_json(row.body, f"intake row {row.id}"),
                                          row.source, f"intake row {row.id}")
            except RemediatorError as exc:  # validated on the way in; a source may change
                results[row.id] = {"error": str(exc)}
                continue
            per_row[row.id] = found
            alerts.extend(found)
        ids = list(per_row)
        failed: set[int] = set()
        records: list[AuditRecord] = []
        try:
            if alerts:
                records = engine.handle_groups(_groups(per_row), record_duplicates=False)
        except StoreError as exc:
            self.metrics.errors.inc()
            self.log(f"payloads {_span(ids)}: {exc}; the ones not decided yet go back to"
                     " the queue")
            if exc.unsaved is not None:
                self.log(f"what could not be stored: {json.dumps(exc.unsaved)}")
            self.stranded.extend(row.id for row in rows)
            return
        except Exception:  # noqa: BLE001 - a worker must outlive one bad batch
            self.metrics.errors.inc()
            self.log(f"payloads {_span(ids)} failed:\n{traceback.format_exc()}")
            records, failed = self._one_by_one(engine, intake, per_row, results)
        self.metrics.observe_records(records)
        # a failure stays a failure: never an empty result that reads as "already handled"
        results.update({rid: result for rid, result in _results(per_row, records).items()
                        if rid not in failed})
        self.metrics.duplicates.inc(sum(r["duplicates"] for r in results.values()
                                        if isinstance(r, dict) and "duplicates" in r))
        try:
            intake.done([row.id for row in rows], iso(utc_now()), results)
        except StoreError as exc:
            self.log(f"payloads {_span([r.id for r in rows])} handled but not marked done: "
                     f"{exc}")
        elapsed = time.monotonic() - started
        for _ in rows:
            self.metrics.handle_seconds.observe(elapsed)
        if records:
            self.log(f"payloads {_span([r.id for r in rows])}: {len(alerts)} alert(s), "
                     f"{len(records)} record(s) ({_summary(records)}) in {elapsed:.1f} s")

    def _one_by_one(self, engine: Engine, intake: IntakeStore, per_row: Mapping[int, list[Alert]],
                    results: dict[int, Any]) -> tuple[list[AuditRecord], set[int]]:
        """After a batch failed: each payload alone, so that one bad payload fails alone.
        A payload whose decisions were already committed (planned) is not decided again:
        its plan is recorded as ``recover`` records a stopped worker's."""
        records: list[AuditRecord] = []
        failed: set[int] = set()
        recovered: dict[str, list[AuditRecord]] = {}  # a plan (its group's rows share it)
        for rid, found in per_row.items():
            try:
                done = _recover_planned(engine, intake, rid, recovered, "interrupted: the "
                                        "worker failed while handling this batch; the "
                                        "playbook may have run")
                if done is not None:
                    records += done[0]
                    results[rid] = {"recovered": done[1]}
                    continue
                records += engine.handle_groups(_groups({rid: found}),
                                                record_duplicates=False)
            except Exception:  # noqa: BLE001 - this payload alone
                self.log(f"payload {rid} failed alone:\n{traceback.format_exc()}")
                results[rid] = {"error": "the worker failed on this payload; see the server "
                                "log"}
                failed.add(rid)
        if failed:
            self.log(f"payloads {_span(sorted(failed))} failed; the others of the batch were "
                     "handled alone")
        return records, failed


def _recover_planned(engine: Engine, intake: IntakeStore, rid: int,
                     recovered: dict[str, list[AuditRecord]], reason: str
                     ) -> tuple[list[AuditRecord], list[str]] | None:
    """If intake row ``rid`` is planned (its decisions committed), record its plan as a
    stopped worker's is recorded, once per plan (``recovered``: plan -> its records): (the
    records made now, the ids of all the plan's records, some stored before). None when the
    row is not planned."""
    row = intake.row(rid)
    if row["state"] != "planned" or row["plan"] is None:
        return None
    key = json.dumps(row["plan"], sort_keys=True)
    ids = [draft["id"] for draft in row["plan"].get("drafts", ())]  # all on the chain now
    if key in recovered:
        return [], ids
    recovered[key] = engine.recover(row["plan"], reason)
    return recovered[key], ids

def _groups(per_row: Mapping[int, list[Alert]], size: int = GROUP_ALERTS
            ) -> list[tuple[list[Alert], Journal]]:
    """Rows in groups of about ``size`` alerts, each group decided in its own transaction
    and journalled with its own rows: no single write holds the store for long."""
    groups: list[tuple[list[Alert], Journal]] = []
    alerts: list[Alert] = []
    ids: list[int] = []

    def close() -> None:
        def journal(session: GuardSession, plan: dict[str, Any], rows: list[int] = ids
                    ) -> None:
            session.intake_planned(rows, plan)

        groups.append((alerts, journal))

    for rid, found in per_row.items():
        if ids and len(alerts) + len(found) > size:
            close()
            alerts, ids = [], []
        alerts = alerts + found
        ids.append(rid)
    if ids:
        close()
    return groups


def _results(per_row: Mapping[int, list[Alert]], records: Sequence[AuditRecord]
             ) -> dict[int, Any]:
    """Each row's share: the records of its alerts, and how many were already handled."""
    by_alert: dict[tuple[Any, ...], list[str]] = {}
    for record in records:
        shown = record["alert"]
        key = (None, None, None) if shown is None else (
            shown["fingerprint"], shown.get("starts_at"), shown["status"])
        by_alert.setdefault(key, []).append(record["id"])
    results: dict[int, Any] = {}
    for rid, alerts in per_row.items():
        mine: list[str] = []
        duplicates = 0
        for alert in alerts:
            found = by_alert.get((alert.fingerprint, alert.starts_at, alert.status))
            if found:
                mine.append(found.pop(0))
            else:
                duplicates += 1
        results[rid] = {"records": mine, "duplicates": duplicates}
    return results


def _summary(records: Sequence[AuditRecord]) -> str:
    counts: dict[str, int] = {}
    for record in records:
        key = f"{record['decision']['action']}/{record['outcome']}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def _span(ids: Sequence[int]) -> str:
    if not ids:
        return "-"
    return str(ids[0]) if len(ids) == 1 else f"{min(ids)}-{max(ids)}"
