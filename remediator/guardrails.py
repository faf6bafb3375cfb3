"""Guardrails: the pure checks that keep automation from running away.

The engine gathers ``GuardFacts`` for an alert from the store (under one write transaction, so
processes agree), then ``apply`` turns the stage's decision into the guarded one. Every limit
that bites says so in the decision's reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .limits import Guardrails
from .models import Action, Decision, Mode, Stage
from .reasons import Reason


@dataclass(frozen=True, slots=True)
class GuardFacts:
    """What the store knows that the guardrails need, for one (entry, host) at one moment."""

    in_progress: str | None = None  # an unfinished run of the entry on this host
    host_runs: Sequence[datetime] = ()  # run starts on this host in the throttle window
    entry_runs: int = 0  # run starts of the entry in the throttle window
    last_run_end: datetime | None = None  # when the last run on this host ended
    host_fixes: int = 0  # live runs on this host in the recurrence window
    entry_fixes: int = 0  # live runs of the entry in the recurrence window
    breaker_since: str | None = None  # the breaker is open (since this time)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def joining(self, live: bool) -> GuardFacts:
        """These facts for a host joining a run that already counts once for the entry."""
        return GuardFacts(self.in_progress, self.host_runs, max(0, self.entry_runs - 1),
                          self.last_run_end, self.host_fixes,
                          max(0, self.entry_fixes - live), self.breaker_since, self.notes)


def apply(decision: Decision, facts: GuardFacts, rules: Guardrails, now: datetime) -> Decision:
    """The stage's decision after every guardrail.

    A maintenance window or an open breaker first lowers the decision (to a check run, or a
    preview for approval); the limits then apply to what is left, the first that bites decides.
    """
    if decision.mode is Mode.NONE:
        return decision
    decision = _lowered(decision, facts, rules, now)
    if facts.in_progress:
        return _stop(decision, Action.SKIP, Reason.LOCKED, "locked: a run of this entry on this "
                     f"host is in progress (record {facts.in_progress})")
    if facts.last_run_end is not None and rules.cooldown_s and \
            now < facts.last_run_end + timedelta(seconds=rules.cooldown_s):
        until = facts.last_run_end + timedelta(seconds=rules.cooldown_s)
        return _stop(decision, Action.SKIP, Reason.COOLDOWN, "cooldown: the last run on this host "
                     f"ended {int((now - facts.last_run_end).total_seconds())}s ago; next run "
                     f"allowed at {until.isoformat()}")
    span = rules.throttle_window_s
    if len(facts.host_runs) >= rules.throttle_host:
        return _stop(decision, Action.ESCALATE, Reason.THROTTLE_HOST,
                     f"throttled: {len(facts.host_runs)} runs on "
                     f"this host in the last {span}s (limit {rules.throttle_host})")
    if facts.entry_runs >= rules.throttle_entry:
        return _stop(decision, Action.ESCALATE, Reason.THROTTLE_ENTRY,
                     f"throttled: {facts.entry_runs} runs of this "
                     f"entry in the last {span}s (limit {rules.throttle_entry})")
    if decision.mode is Mode.LIVE:
        recurring = []
        if facts.host_fixes >= rules.recurrence_host:
            recurring.append(f"{facts.host_fixes + 1} fixes on this host")
        if facts.entry_fixes >= rules.recurrence_entry:
            recurring.append(f"{facts.entry_fixes + 1} fixes of this entry")
        if recurring:
            return decision.evolve(action=Action.ESCALATE, code=Reason.RECURRENCE,
                           reason=f"recurrence: {' and '.join(recurring)} within "
                           f"{rules.recurrence_window_s}s: this keeps happening, find the root "
                           "cause (the fix still runs)")
    return decision


def _lowered(decision: Decision, facts: GuardFacts, rules: Guardrails, now: datetime
             ) -> Decision:
    """The decision under an active maintenance window or an open circuit breaker."""
    for window in rules.maintenance:
        ends = window.active(now)
        if ends is not None and decision.stage is not None and \
                decision.stage.rank > Stage.OBSERVE.rank:
            note = f"maintenance window '{window.name}' until {ends.isoformat()}: observe only"
            return decision.evolve(action=Action.RUN, mode=Mode.CHECK, stage=Stage.OBSERVE,
                           code=Reason.MAINTENANCE,
                           reason=f"maintenance window '{window.name}': check-mode run only",
                           notes=(*decision.notes, note))
    if facts.breaker_since and decision.mode is Mode.LIVE:
        note = (f"circuit breaker open since {facts.breaker_since}: held at human-initiated "
                "until `remediator breaker reset`")
        return decision.evolve(action=Action.PENDING, mode=Mode.CHECK,
                       stage=Stage.HUMAN_INITIATED, code=Reason.BREAKER_OPEN,
                       reason="circuit breaker open: check-mode preview; a person must approve",
                       notes=(*decision.notes, note))
    return decision


def _stop(decision: Decision, action: Action, code: Reason, reason: str) -> Decision:
    return decision.evolve(action=action, mode=Mode.NONE, code=code, reason=reason)


def radius(rules: Guardrails, group_size: int | None) -> int:
    """How many hosts one run may touch."""
    limit = rules.max_hosts
    if rules.max_percent is not None and group_size is not None:
        limit = min(limit, max(1, int(group_size * rules.max_percent / 100)))
    return max(1, limit)
