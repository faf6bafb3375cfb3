"""The planner: what happens to each alert under its catalog entry, its stage and the
guardrails, and which alerts share a run.

Dedupe, re-fire, storm batching, the limits, blast radius and the host reservations, decided
one alert at a time over a ``GuardView``: the guardrail state as one transaction sees it, with
the claims and reservations this transaction made so far. The engine gives it the store's
session (read before, written after: ``GuardSession``); tests give it one held in memory.
Nothing here reads a clock, a store or a file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .catalog import Catalog
from .common import iso
from .guardrails import GuardFacts, radius
from .guardrails import apply as apply_guardrails
from .limits import Guardrails as Limits
from .models import Action, Alert, Decision, Mode, Remediation, RunResult
from .policy import PolicyContext, decide, refire
from .reasons import Reason

REFIRE_CLAIM = "refire"  # the dedupe key under which a re-fire escalation is claimed


def partition(alert_name: str) -> str:
    """Whose guard state an alert's dedupe claims belong to: its name's (``~name``: entry
    names cannot start with ``~``), whatever entry a catalog matches it to, so that processes
    with different catalogs still see each other's claims."""
    return f"~{alert_name}"


class GuardView(Protocol):
    """The guardrail state one decision transaction sees, and what it stages."""

    def seen(self, fingerprint: str, starts_at: str | None, status: str, mode: str, *,
             entry: str = "") -> str | None:
        """The record that already handled this alert delivery in ``mode``, or None."""
        ...

    def claim(self, fingerprint: str, starts_at: str | None, status: str, mode: str,
              record_id: str, now: datetime, *, entry: str = "") -> None:
        """Mark this alert delivery handled in the mode that really happened."""
        ...

    def facts(self, entry: str, host: str, rules: Limits, now: datetime,
              own: AbstractSet[str] = frozenset()) -> GuardFacts:
        """What the guardrails need to know about (entry, host) now."""
        ...

    def last_fix(self, entry: str, host: str) -> tuple[str, datetime] | None:
        """(ident, finished) of the newest successful live run of ``entry`` on ``host``."""
        ...

    def reserve(self, ident: str, entry: str, host: str, mode: str, now: datetime,
                lease_s: int) -> None:
        """A run starting on (entry, host): it counts and holds the lock."""
        ...


@dataclass(slots=True)
class Batch:
    """One playbook run shared by the alerts (hosts) that joined it."""

    ident: str
    remediation: Remediation
    decision: Decision
    hosts: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)  # the record ids that share this run
    run: RunResult | None = None
    note: str | None = None


@dataclass(slots=True)
class Item:
    """One alert on its way to a record."""

    alert: Alert
    remediation: Remediation | None
    decision: Decision
    record_id: str
    batch: Batch | None = None
    duplicate_of: str | None = None  # the record that already handled this delivery


Batches = dict[tuple[Any, ...], Batch]  # by (entry, mode, variables): who shares a run


@dataclass
class Planner:
    """Decides alerts one at a time; executing ones join (or open) a batch."""

    catalog: Catalog
    groups: Mapping[str, Collection[str]]  # the inventory's groups (blast radius in percent)
    refire_window: int
    refire_settle: int
    new_id: Callable[[], str]

    def decide(self, alert: Alert, ctx: PolicyContext, now: datetime, session: GuardView,
               batches: Batches, own: set[str]) -> Item:
        """One alert's guarded decision; executing ones join (or open) a batch."""
        record_id = self.new_id()
        remediation = self.catalog.match(alert)
        decision = decide(alert, remediation, ctx)
        delivery = (alert.fingerprint, alert.starts_at, alert.status)
        claims = partition(alert.name)
        duplicate = session.seen(*delivery, str(decision.mode), entry=claims)
        if duplicate:  # this very alert again: still firing after a fix that did not hold?
            refired = None if remediation is None else self._refired(alert, remediation,
                                                                      decision, now, session)
            if refired is not None and not session.seen(*delivery, REFIRE_CLAIM, entry=claims):
                # escalate only once
                session.claim(*delivery, REFIRE_CLAIM, record_id, now, entry=claims)
                return Item(alert, remediation, refired, record_id)
            return Item(alert, remediation, decision.evolve(
                action=Action.SKIP, mode=Mode.NONE, code=Reason.DUPLICATE,
                reason=f"duplicate: this alert "
                f"(same fingerprint, start and status) was already handled in this mode in record "
                f"{duplicate}"), record_id, duplicate_of=duplicate)
        if remediation is None:  # claimed too: a poller must not record it every minute
            session.claim(*delivery, str(decision.mode), record_id, now, entry=claims)
            return Item(alert, None, decision, record_id)

        def done(final: Decision, batch: Batch | None = None) -> Item:
            """Claim the delivery under the mode that really happens."""
            session.claim(*delivery, str(final.mode), record_id, now, entry=claims)
            return Item(alert, remediation, final, record_id, batch)

        if not decision.executes:
            return done(decision)
        rules = remediation.guardrails
        host = decision.hosts[0]
        variables = tuple(sorted(decision.variables.items()))
        mode = decision.mode
        batch = batches.get((remediation.name, mode, variables))
        if batch is not None and host in batch.hosts:  # the same run already covers this host
            batch.items.append(record_id)
            return done(decision, batch)
        facts = session.facts(remediation.name, host, rules, now, own)
        if batch is not None:  # this run counts once, however many hosts it covers
            facts = facts.joining(live=mode is Mode.LIVE)
        decision = apply_guardrails(decision, facts, rules, now)
        if not decision.executes:
            return done(decision)
        if decision.mode is not mode:  # lowered (a window, the breaker): another batch
            batch = batches.get((remediation.name, decision.mode, variables))
        if batch is None:
            batch = batches[(remediation.name, decision.mode, variables)] = \
                Batch(record_id, remediation, decision)
            own.add(record_id)
        limit = radius(rules, self._group_size(rules))
        if len(batch.hosts) >= limit:
            return done(decision.evolve(
                action=Action.ESCALATE, mode=Mode.NONE, code=Reason.BLAST_RADIUS,
                reason=f"blast radius: run "
                f"{batch.ident} already covers {len(batch.hosts)} hosts (limit {limit}); "
                "this host was not touched, a person must decide"))
        lease = rules.lock_timeout_s or remediation.timeout_s + 60
        session.reserve(batch.ident, remediation.name, host, str(decision.mode), now, lease)
        batch.hosts.append(host)
        batch.items.append(record_id)
        return done(decision, batch)

    def _refired(self, alert: Alert, remediation: Remediation, decision: Decision,
                 now: datetime, session: GuardView) -> Decision | None:
        """The escalation for an alert still firing after its fix, if it is that."""
        if not decision.hosts or decision.mode is not Mode.LIVE:
            return None
        fix = session.last_fix(remediation.name, decision.hosts[0])
        last = None if fix is None else {"id": fix[0], "finished_at": iso(fix[1]),
                                         "alert": {"fingerprint": alert.fingerprint}}
        return refire(alert, decision, last, now, self.refire_window,
                      self.refire_settle)

    def _group_size(self, rules: Limits) -> int | None:
        if rules.group is None:
            return None
        return len(self.groups.get(rules.group, ()))
