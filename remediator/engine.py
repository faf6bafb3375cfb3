"""The engine wires one alert through match -> decide -> execute -> notify -> record."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from . import approvals as approvals_mod
from . import audit, galaxy, notify, vault
from . import catalog as catalog_mod
from . import inventory as inventory_mod
from .audit import is_trouble
from .catalog import Catalog
from .common import current_user, iso, new_record_id, utc_now
from .config import Config
from .errors import ConfigError, StoreError, UsageError
from .executor import Executor, ProgressFn, RunPlan
from .identity import Approver, cli_approver
from .inventory import Inventory
from .models import (
    Action,
    Alert,
    Decision,
    HostResult,
    Mode,
    Outcome,
    PendingRequest,
    Remediation,
    RunnerStatus,
    RunResult,
)
from .notify.message import plan as plan_message
from .planner import Batch, Batches, Item, Planner
from .policy import PolicyContext, decide_manual
from .reasons import Reason
from .record import AuditRecord, Draft, Notification
from .recovery import Journal, Recovery
from .results import outcome_of
from .revision import config_revision, file_sha256, requirement_files
from .store import AuditStore, GuardSession, open_store
from .store.guard_state import SETUP_FAILED
from .validate import check_accelerators, check_approvers, check_awx, check_channels

__all__ = ["Engine", "host_run", "is_trouble", "open_engine"]

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]
SPOOL = "unsaved"  # beside the run folders: records the store refused, until it takes them



@dataclass
class Engine:
    """Handles alerts, manual runs and approvals; every decision ends as one audit record."""

    config: Config
    catalog: Catalog
    inventory: Inventory
    store: AuditStore
    executor: Executor
    revision: Mapping[str, Any]
    notifiers: Mapping[str, notify.Notifier] = field(default_factory=dict)
    clock: Clock = utc_now
    new_id: IdFactory = new_record_id
    progress: ProgressFn | None = None
    sleep: Callable[[float], None] = time.sleep
    spool: Path | None = None  # where records the store refused wait for the next start
    _playbook_sha: dict[str, str | None] = field(default_factory=dict)
    # collection -> why its installed version is not the reviewed one (galaxy.unreviewed)
    unreviewed: Mapping[str, str] = field(default_factory=dict)
    _horizon_s: int | None = None
    approvals: approvals_mod.Approvals = field(init=False, repr=False)
    planner: Planner = field(init=False, repr=False)
    recovery: Recovery = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.approvals = approvals_mod.Approvals(self)
        self.recovery = Recovery(self)
        self.planner = Planner(self.catalog, self.inventory.groups, self.config.refire_window,
                               self.config.refire_settle, self.new_id)

    def close(self) -> None:
        """Release the store (a PostgreSQL pool closes with its last user); idempotent."""
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def context(self, allow_uncommitted: bool = False) -> PolicyContext:
        """The policy's view of the world right now."""
        return PolicyContext(
            inventory=self.inventory,
            max_stage=self.config.max_stage,
            uncommitted=bool(self.revision.get("dirty")),
            dirty_paths=tuple(self.revision.get("dirty_paths") or ()),
            allow_uncommitted=allow_uncommitted,
            unreviewed=self.unreviewed,
        )

    # -- alerts --

    def handle(self, alerts: Iterable[Alert], *, allow_uncommitted: bool = False,
               initiated_by: str = "automation", record_duplicates: bool = True,
               journal: Journal | None = None) -> list[AuditRecord]:
        """Decide every alert under the guardrails, run each batch once, record each alert.

        Alerts of one entry with the same variables share one run over all their hosts (storm
        coalescing), bounded by the blast radius; each alert still gets its own record.
        With ``record_duplicates`` off, a re-delivery of an alert already handled in the same
        mode gets no record (the receiver and the poller see the same alert many times).
        ``journal`` is called with the session, the draft records and the reserved runs (see
        ``recover``); what it writes through the session (``intake_planned``, ``defer``)
        commits with the decisions or not at all, so a crash after the commit leaves enough to
        record the runs as interrupted.
        """
        return self.handle_groups([(list(alerts), journal)], allow_uncommitted=allow_uncommitted,
                                  initiated_by=initiated_by, record_duplicates=record_duplicates)

    def handle_groups(self, groups: Iterable[tuple[list[Alert], Journal | None]], *,
                      allow_uncommitted: bool = False, initiated_by: str = "automation",
                      record_duplicates: bool = True) -> list[AuditRecord]:
        """``handle`` for alerts decided in several transactions (one per group, each with its
        journal), so that no single write holds the store for long, yet coalesced into the
        same runs."""
        keys: list[str] = []  # the run journal's rows, for groups that bring no journal
        groups = [(alerts, journal if journal is not None else self.recovery.journal(keys))
                  for alerts, journal in groups]
        items, batches = self.plan_groups(groups, allow_uncommitted=allow_uncommitted,
                                          initiated_by=initiated_by,
                                          record_duplicates=record_duplicates)
        for batch in batches:
            self._execute(batch)
        kept: list[Item] = []
        drafts = []
        for item in items:
            if item.duplicate_of is not None and not record_duplicates:
                continue
            if item.duplicate_of is not None and not self.store.has_record(item.duplicate_of):
                item.decision = item.decision.evolve(reason=f"{item.decision.reason} (its run "
                                                     "is still going: that record is written "
                                                     "when it ends)")
            if item.remediation is not None and not item.alert.firing:
                self.store.resolve_requests(item.alert.fingerprint, iso(self.clock()))
            kept.append(item)
            drafts.append(self._build(item.record_id, item.alert, item.remediation,
                                      item.decision, initiated_by, allow_uncommitted,
                                      item.batch))
        opened = [self.approvals.sealed_request(draft, item.alert, item.remediation,
                                                item.decision)
                  for item, draft in zip(kept, drafts, strict=True)
                  if item.decision.action is Action.PENDING and item.remediation is not None]
        records = self.recovery.append(drafts)
        self.store.journal_close(keys)
        for request in opened:
            self.store.add_request(request)
        return records

    def plan(self, alerts: Iterable[Alert], *, allow_uncommitted: bool = False,
             finish_now: bool = False) -> tuple[list[Item], list[Batch]]:
        """Decide every alert under the guardrails in one transaction; nothing runs yet.

        Executing decisions reserve their (entry, host) and are grouped into batches.
        """
        return self.plan_groups([(list(alerts), None)], allow_uncommitted=allow_uncommitted,
                                finish_now=finish_now)

    def plan_groups(self, groups: Iterable[tuple[list[Alert], Journal | None]], *,
                    allow_uncommitted: bool = False, finish_now: bool = False,
                    initiated_by: str = "automation", record_duplicates: bool = True
                    ) -> tuple[list[Item], list[Batch]]:
        """``plan`` with one transaction per group; the batches span every group."""
        ctx = self.context(allow_uncommitted)
        now = self.clock()
        items: list[Item] = []
        batches: Batches = {}
        own: set[str] = set()  # the batches' idents: our own runs do not lock us out
        for alerts, journal in groups:
            first = len(items)
            before = {key: (len(b.hosts), len(b.items)) for key, b in batches.items()}
            own_before = set(own)
            # Decided outside the write lock; if another writer changed guard state
            # meanwhile, nothing was written: undo this group and decide it again inside.
            for guard in (self.store.guard_attempt, self.store.guard):
                with guard(now, self._horizon()) as session:
                    for alert in alerts:
                        items.append(self.planner.decide(alert, ctx, now, session, batches,
                                                         own))
                    reserved = [(b, b.hosts[before.get(key, (0, 0))[0]:])
                                for key, b in batches.items()]
                    reserved = [(b, hosts) for b, hosts in reserved if hosts]
                    if finish_now:  # simulate: each run ends as it starts, successfully
                        for batch, hosts in reserved:
                            session.finish(batch.ident, hosts, "succeeded", now)
                    if journal is not None:
                        plan = {
                            "drafts": [self._draft(item, initiated_by, allow_uncommitted)
                                       for item in items[first:]
                                       if record_duplicates or item.duplicate_of is None],
                            "batches": [{"ident": b.ident, "hosts": hosts}
                                        for b, hosts in reserved]}
                        journal(session, plan)
                if session.committed:
                    break
                del items[first:]
                for key in [key for key in batches if key not in before]:
                    del batches[key]
                for key, (host_count, item_count) in before.items():
                    del batches[key].hosts[host_count:], batches[key].items[item_count:]
                own.intersection_update(own_before)
        return items, list(batches.values())

    def recover_unfinished(self) -> list[AuditRecord]:
        """Store what earlier processes could not (``Recovery.recover_unfinished``)."""
        return self.recovery.recover_unfinished()

    def recover(self, plan: Mapping[str, Any], reason: str) -> list[AuditRecord]:
        """Record what a dead worker had planned (``Recovery.recover``)."""
        return self.recovery.recover(plan, reason)

    def store_unsaved(self) -> list[AuditRecord]:
        """Append the records kept in the spool folder (``Recovery.store_unsaved``)."""
        return self.recovery.store_unsaved()

    def _draft(self, item: Item, initiated_by: str, allow_uncommitted: bool
               ) -> Draft:
        """The record an alert gets if its run never reports back."""
        extra = {}
        if item.batch is not None:
            extra["batch"] = {"ident": item.batch.ident}
        return audit.build(
            record_id=item.record_id, created_at=iso(self.clock()), alert=item.alert,
            hosts=item.decision.hosts, remediation=item.remediation,
            playbook_sha256=self.playbook_sha256(item.remediation),
            catalog_revision=self._revision(item.decision, allow_uncommitted)
            if item.remediation else None,
            decision=item.decision, initiated_by=initiated_by, run=None, extra=extra)

    def simulate(self, alerts: Iterable[Alert]) -> list[Decision]:
        """Decide only: every batch counts as an instant successful run; nothing is recorded.

        The guardrail state moves on as if the runs happened (use a scratch store to replay).
        """
        items, _ = self.plan(alerts, finish_now=True)
        return [item.decision for item in items]

    def _horizon(self) -> int:
        """The longest guardrail window of any entry: how far back guard state matters."""
        if self._horizon_s is None:
            self._horizon_s = max([max(e.guardrails.throttle_window_s,
                                       e.guardrails.recurrence_window_s, e.guardrails.cooldown_s)
                                   for e in self.catalog] + [3600, self.config.refire_window])
        return self._horizon_s

    def prune_guard_state(self, *, slack_s: int = 0) -> tuple[int, int]:
        """Forget dedupe claims and finished runs older than ``keep_guard_state`` (never
        within two guardrail horizons, which mirrors may hold); each entry keeps the live runs
        its circuit breaker reads. (claims, run rows) forgotten.

        With ``slack_s``, only when the oldest claim is that much past keeping (one index
        lookup otherwise): a command run per alert prunes about once per ``slack_s``."""
        kept = max(self.config.keep_guard_state, 2 * self._horizon() + 3600)
        cutoff = self.clock() - timedelta(seconds=kept)
        if slack_s:
            oldest = self.store.oldest_claim()
            if oldest is None or oldest >= iso(cutoff - timedelta(seconds=slack_s)):
                return 0, 0
        keep_last = max([e.guardrails.breaker_failures for e in self.catalog] + [1])
        return self.store.prune_guard(iso(cutoff), keep_last)

    def _execute(self, batch: Batch) -> None:
        """Run one batch's playbook over all its hosts, then release the hosts."""
        remediation, decision = batch.remediation, batch.decision
        plan = RunPlan(
            ident=batch.ident,
            playbook=Path(remediation.playbook_path),
            inventory=self.inventory.sources,
            hosts=tuple(batch.hosts),
            mode=decision.mode,
            untrusted_vars=decision.variables,
            trusted_vars=_without(remediation.static_vars, decision.variables),
            timeout_s=remediation.timeout_s,
            job_template=remediation.job_template,
            accelerator=remediation.accelerator,
        )
        try:
            batch.run = self.executor.run(plan, self.progress)
        finally:
            at = iso(self.clock())
            setup = batch.run is not None and batch.run.setup_failure is not None
            try:  # one transaction releases every host of the run
                # A run that stopped before touching any host (a missing role, a vault
                # password, no host matched) is no remediation: it uses up neither the
                # alerts' dedupe claims nor a throttle slot, but counts for the breaker.
                self.store.finish_runs([
                    (batch.ident, host, SETUP_FAILED if setup else
                     str(host_outcome(batch.run, host)) if batch.run else "failed", at)
                    for host in batch.hosts], release_claims=batch.items if setup else ())
                opened = decision.mode is Mode.LIVE and self.store.check_breaker(
                    remediation.name, remediation.guardrails.breaker_failures, at, batch.ident)
            except StoreError as exc:  # the run happened: keep going so its record is tried
                batch.note = f"guardrail state not updated ({exc}); its locks expire by lease"
                opened = False
            else:
                if setup:
                    batch.note = ("setup failure: the run touched no host, so it used up "
                                  "neither the alert's dedupe claim nor a throttle slot (the "
                                  "next delivery is handled again); it counts toward the "
                                  "circuit breaker")
        if opened:
            opened_note = (f"circuit breaker opened: {remediation.guardrails.breaker_failures} "
                           "consecutive failed live runs; the entry is held at human-initiated "
                           f"until `remediator breaker reset {remediation.name} --by NAME`")
            batch.note = f"{batch.note}; {opened_note}" if batch.note else opened_note

    def run_manual(self, entry: str, hosts: Iterable[str], mode: Mode, *,
                   variables: Mapping[str, str] | None = None, user: str | None = None,
                   allow_uncommitted: bool = False,
                   requester: Approver | None = None) -> AuditRecord:
        """A person starts ``entry`` on ``hosts``; unknown entries, hosts or vars are errors.

        A live run of a ``four_eyes`` entry does not run: like a human-initiated alert, it
        opens a sealed pending request (a check-mode preview) that someone else approves;
        ``requester`` is who asked (default: the CLI's OS account, named ``user``)."""
        remediation = self.entry(entry)
        resolved = []
        for host in hosts:
            name = self.inventory.resolve(host)
            if name is None:
                raise UsageError(f"host '{host}' is not in the inventory",
                                 where=str(self.inventory.path))
            resolved.append(name)
        if not resolved:
            raise UsageError("--limit names no host")
        variables = dict(variables or {})
        fixed = sorted(set(variables) & (set(remediation.static_vars) - set(remediation.vars)))
        if fixed:  # reviewed values: a person changes them in the catalog, not on a command
            raise UsageError(f"entry '{entry}': --var {', '.join(fixed)} would override the "
                             "catalog's static_vars (reviewed with the catalog); change the "
                             "catalog instead", where=str(self.catalog.path))
        allowed = set(remediation.vars)
        unknown = sorted(set(variables) - allowed)
        if unknown:
            raise UsageError(f"entry '{entry}' has no variable {', '.join(unknown)} "
                             f"(allowed: {', '.join(sorted(allowed)) or 'none'})")
        missing = [v for v, s in remediation.vars.items()
                   if s.required and v not in variables and v not in remediation.static_vars]
        if missing:
            raise UsageError(f"entry '{entry}' needs --var for {', '.join(missing)}")
        for var, source in remediation.vars.items():
            if var not in variables and source.default is not None:
                variables[var] = source.default
        user = user or current_user()
        decision = decide_manual(remediation, tuple(dict.fromkeys(resolved)), mode, user,
                                 variables, self.context(allow_uncommitted))
        if decision.mode is Mode.LIVE and remediation.approval.four_eyes:
            decision = replace(decision, action=Action.PENDING, code=Reason.FOUR_EYES,
                               mode=Mode.CHECK, reason=f"four eyes: live run asked for by "
                               f"{user}; check-mode preview, someone else must approve it")
            return self.run_person(None, remediation, decision, user, allow_uncommitted,
                                   requester=requester or cli_approver(user))
        return self.run_person(None, remediation, decision, user, allow_uncommitted)

    def approve(self, request_id: str, *, by: str | None = None,
                approver: Approver | None = None, reason: str = "",
                allow_uncommitted: bool = False) -> tuple[AuditRecord, bool]:
        """Start a pending request's live run; (record, True if this call ran it).

        ``approver`` is who, as a channel vouches for them (default: the CLI's OS account,
        named ``by``); ``reason``, optional, goes into the record."""
        return self.approvals.approve(request_id, approver=approver or cli_approver(by),
                                      reason=reason, allow_uncommitted=allow_uncommitted)

    def deny(self, request_id: str, *, by: str | None = None,
             approver: Approver | None = None, reason: str = "") -> AuditRecord:
        """Close a pending request without running anything; recorded."""
        return self.approvals.deny(request_id, approver=approver or cli_approver(by),
                                   reason=reason)

    def pending(self, include_closed: bool = False) -> list[PendingRequest]:
        """Requests waiting for a person (expired ones marked so on the way)."""
        return self.approvals.pending(include_closed)

    def reset_breaker(self, entry: str, *, by: str | None = None) -> AuditRecord:
        """Close an entry's circuit breaker so its automation resumes; recorded."""
        by = by or current_user()
        remediation = self.entry(entry)
        was = self.store.reset_breaker(entry)
        if was is None:
            raise UsageError(f"the circuit breaker of '{entry}' is not open")
        decision = Decision(Action.SKIP, Reason.BREAKER_RESET,
                            f"circuit breaker reset by {by} (open since "
                            f"{was['since']} after {was['failures']} failed live runs, last "
                            f"run {was['record_id']})", Mode.NONE, remediation.stage,
                            remediation.stage)
        return self._record(self.new_id(), None, remediation, decision, by, False, None)

    # -- the common path --

    def entry(self, name: str) -> Remediation:
        """The catalog entry ``name``; a UsageError naming the entries otherwise."""
        remediation = self.catalog.get(name)
        if remediation is None:
            names = ", ".join(e.name for e in self.catalog) or "none"
            raise UsageError(f"no catalog entry '{name}' (entries: {names})",
                             where=str(self.catalog.path))
        return remediation

    def run_person(self, alert: Alert | None, remediation: Remediation, decision: Decision,
                   initiated_by: str, allow_uncommitted: bool,
                   request: Mapping[str, Any] | None = None, *,
                   requester: Approver | None = None,
                   claim: Callable[[GuardSession], bool] | None = None) -> AuditRecord:
        """A person's run (manual or approved): lock its hosts, run, record. A pending
        decision with a ``requester`` opens that person's sealed request with its record.

        ``claim`` (an approval's) runs first in the transaction that reserves the hosts and
        journals the run: when it returns False nothing is written and ``RequestTaken`` is
        raised; when a host is locked the claim is rolled back, nothing runs and the
        record's ``request`` link says ``locked``."""
        record_id = self.new_id()
        batch = None
        if decision.executes:
            draft = audit.build(
                record_id=record_id, created_at=iso(self.clock()), alert=alert,
                hosts=decision.hosts, remediation=remediation,
                playbook_sha256=self.playbook_sha256(remediation),
                catalog_revision=self._revision(decision, allow_uncommitted), decision=decision,
                initiated_by=initiated_by, run=None,
                extra={"batch": {"ident": record_id}, **({"request": dict(request)}
                                                         if request else {})})
            decision, batch = self._lock(record_id, remediation, decision, draft, claim)
            if batch is None and claim is not None and request:
                request = {**request, "state": "locked"}
        built = self._build(record_id, alert, remediation, decision, initiated_by,
                            allow_uncommitted, batch, request)
        opened = self.approvals.sealed_request(built, alert, remediation, decision, requester) \
            if requester is not None and decision.action is Action.PENDING else None
        record = self.recovery.append([built])[0]
        if batch is not None:
            self.store.journal_close([record_id])
        if opened is not None:
            self.store.add_request(opened)
        return record

    def _lock(self, ident: str, remediation: Remediation, decision: Decision,
              draft: Draft, claim: Callable[[GuardSession], bool] | None = None
              ) -> tuple[Decision, Batch | None]:
        """Reserve every host of a person's run; a host already being fixed refuses it.
        ``claim`` goes first: a concurrent approval of the same request that lost is told
        so (RequestTaken), not that the winner's run holds the hosts; a host found busy
        after a claim rolls the claim back."""
        now = self.clock()
        rules = remediation.guardrails
        try:
            with self.store.guard(now, self._horizon()) as session:
                if claim is not None and not claim(session):
                    raise approvals_mod.RequestTaken(ident)
                for host in decision.hosts:
                    busy = session.facts(remediation.name, host, rules, now).in_progress
                    if busy:
                        raise _Busy(host, busy)  # rolls back the claim, if any
                lease = rules.lock_timeout_s or remediation.timeout_s + 60
                for host in decision.hosts:
                    session.reserve(ident, remediation.name, host, str(decision.mode), now,
                                    lease)
                session.journal(ident, {"drafts": [draft], "batches": [
                    {"ident": ident, "hosts": list(decision.hosts)}]},
                    now + timedelta(seconds=self.recovery.journal_lease()))
        except _Busy as busy:
            return replace(decision, action=Action.ESCALATE, mode=Mode.NONE,
                           code=Reason.LOCKED,
                           reason=f"locked: a run of this entry on {busy.host} is in "
                           f"progress (record {busy.record}); try again when it ends"), None
        batch = Batch(ident, remediation, decision, hosts=list(decision.hosts), items=[ident])
        self._execute(batch)
        return decision, batch

    def record_decision(self, alert: Alert | None, remediation: Remediation | None,
                        decision: Decision, initiated_by: str, allow_uncommitted: bool,
                        request: Mapping[str, Any] | None = None) -> AuditRecord:
        """Record a decision that runs nothing (notified as its stage says); the record."""
        return self._record(self.new_id(), alert, remediation, decision, initiated_by,
                            allow_uncommitted, None, request)

    def _record(self, record_id: str, alert: Alert | None, remediation: Remediation | None,
                decision: Decision, initiated_by: str, allow_uncommitted: bool,
                batch: Batch | None, request: Mapping[str, Any] | None = None
                ) -> AuditRecord:
        """Build the record, notify, append."""
        built = self._build(record_id, alert, remediation, decision, initiated_by,
                            allow_uncommitted, batch, request)
        return self.recovery.append([built])[0]

    def _build(self, record_id: str, alert: Alert | None, remediation: Remediation | None,
               decision: Decision, initiated_by: str, allow_uncommitted: bool,
               batch: Batch | None, request: Mapping[str, Any] | None = None) -> Draft:
        """The record (this alert's share of its batch's run), after notifying; the caller
        appends it."""
        run = None
        extra: dict[str, Any] = {}
        if batch is not None and batch.run is not None:
            run = batch.run if alert is None else host_run(batch.run, decision.hosts[0])
            if len(batch.hosts) > 1 or len(batch.items) > 1:
                extra["batch"] = {"ident": batch.ident, "hosts": list(batch.hosts),
                                  "records": list(batch.items), "outcome": str(batch.run.outcome)}
            if batch.note:
                decision = replace(decision, notes=(*decision.notes, batch.note))
        if request:
            extra["request"] = dict(request)
        record = audit.build(
            record_id=record_id,
            created_at=iso(self.clock()),
            alert=alert,
            hosts=decision.hosts,
            remediation=remediation,
            playbook_sha256=self.playbook_sha256(remediation),
            catalog_revision=self._revision(decision, allow_uncommitted) if remediation else None,
            decision=decision,
            initiated_by=initiated_by,
            run=run,
            extra=extra or None,
        )
        record["notifications"] = self.notify(record, remediation)
        return record

    def notify(self, record: Draft, remediation: Remediation | None
                ) -> list[Notification]:
        """Tell the entry's channels what its stage calls for; delivery results for the record."""
        message = plan_message(record, record_url=self.config.notifications.record_url,
                               request_url=self.config.notifications.request_url)
        if message is None or remediation is None:
            return []
        names = remediation.notify if remediation.notify is not None \
            else self.config.notifications.default
        targets = [self.notifiers[n] for n in names if n in self.notifiers]
        return notify.deliver(targets, message, self.config.notifications, self.sleep)

    def _revision(self, decision: Decision, allow_uncommitted: bool) -> dict[str, Any]:
        revision = dict(self.revision)
        if decision.mode is Mode.LIVE and revision.get("dirty"):
            revision["allow_uncommitted"] = allow_uncommitted
        return revision

    def playbook_sha256(self, remediation: Remediation | None) -> str | None:
        """The sha256 of the entry's playbook, read once (None for an AWX template)."""
        if remediation is None or not remediation.playbook_path:  # an AWX job template
            return None
        if remediation.playbook_path not in self._playbook_sha:
            self._playbook_sha[remediation.playbook_path] = file_sha256(
                Path(remediation.playbook_path))
        return self._playbook_sha[remediation.playbook_path]


def host_run(run: RunResult, host: str) -> RunResult:
    """One host's share of a run: its results, and its own outcome."""
    return replace(run, hosts={host: run.hosts.get(host, HostResult())},
                   outcome=host_outcome(run, host))


def host_outcome(run: RunResult, host: str) -> Outcome:
    """The outcome of ``run`` on ``host`` alone."""
    result = run.hosts.get(host, HostResult())
    status = run.status
    if status is RunnerStatus.FAILED and result.reached and not result.failed and \
            not result.unreachable:
        status = RunnerStatus.SUCCESSFUL  # another host failed, this one did not
    return outcome_of(status, {host: result}, [host])


def _without(values: Mapping[str, Any], drop: Iterable[str]) -> dict[str, Any]:
    dropped = set(drop)
    return {k: v for k, v in values.items() if k not in dropped}


class _Busy(Exception):
    """A host of a person's run is being fixed by another run (``record``)."""

    def __init__(self, host: str, record: str) -> None:
        super().__init__(host, record)
        self.host = host
        self.record = record


def open_engine(config: Config, *, progress: ProgressFn | None = None,
                clock: Clock = utc_now, new_id: IdFactory = new_record_id,
                env: Mapping[str, str] | None = None, executor: Executor | None = None
                ) -> Engine:
    """An Engine over the config's catalog, inventory, store, channels and executors (local,
    and AWX for entries that name a job template), unless ``executor`` is given."""
    catalog = catalog_mod.load(config.catalog, config.playbooks, config.guardrails,
                               config.ansible_setup.collections_paths())
    env = os.environ if env is None else env
    problems = (check_channels(catalog, config) + check_awx(catalog, config) +
                check_approvers(catalog, config) +
                check_accelerators(catalog, config, env))
    if problems:
        raise ConfigError("; ".join(problems))
    inventory = inventory_mod.load_config(config)
    vaulted = vault.project_vaulted(config)
    engine = Engine(
        config=config,
        catalog=catalog,
        inventory=inventory,
        store=open_store(config.store, pool_size=config.store_pool),
        executor=executor or build_executor(config, catalog, env, clock, vaulted),
        revision=config_revision(config, vaulted),
        unreviewed=galaxy.unreviewed(catalog, requirement_files(config), config.base_dir),
        notifiers=notify.build(config.notifications, env),
        clock=clock,
        new_id=new_id,
        progress=progress,
        spool=config.runs / SPOOL,
    )
    try:
        engine.recover_unfinished()
    except StoreError as exc:  # a read-only copy, the disk still full: the next start tries
        print(f"remediator: warning: unfinished runs not recorded yet: {exc}", file=sys.stderr)
    return engine



def build_executor(config: Config, catalog: Catalog, env: Mapping[str, str],
                   clock: Clock = utc_now, vaulted: Iterable[Path] | None = None) -> Executor:
    """The local executor, behind a Router with the AWX one when the catalog names job
    templates (its token read from the environment now: a missing one is a ConfigError)."""
    from .executor.local import LocalExecutor

    local = LocalExecutor(config.runs, keep_runs=config.keep_runs, clock=clock,
                          hide_env=config.secret_envs(), accelerator=config.accelerator,
                          ansible=config.ansible_setup,
                          vault=vault.scan_config(config, vaulted))
    if config.awx is None or all(e.job_template is None for e in catalog):
        return local
    from .executor.awx import AwxExecutor
    from .executor.router import Router

    return Router(local, AwxExecutor(config.awx, config.awx.token(env), clock=clock))
