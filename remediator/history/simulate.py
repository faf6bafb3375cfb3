"""Replay an alert history through today's catalog and guardrails, deciding only.

Every delivery of the history (an incident firing at its start, resolving at its end) goes,
in time order, through ``Engine.plan_groups``: the decision code of ``handle`` itself, with the
engine's clock set to the delivery's time and every run counted as an instant success
(``finish_now``). Nothing runs, nothing is recorded, nobody is notified.

The guardrail state lives in a scratch SQLite file in a temporary folder, removed afterwards;
the real store is never written. It starts empty ("what would this catalog have done
last month?"), or with a copy of the real store's recent runs, open locks and open circuit
breakers (``from_store_state``: "what would happen if this history started now?"; the
history is then moved in time to start now). Alert claims (dedupe) are not copied: the
history's alerts are new to the simulation.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .. import catalog as catalog_mod
from .. import inventory as inventory_mod
from ..common import ManualClock, iso, utc_now
from ..config import Config
from ..engine import Engine
from ..errors import StoreError
from ..executor import ProgressFn, RunPlan
from ..models import Action, Alert, Decision, Remediation, RunResult
from ..reasons import MISSING_LABELS, Reason
from ..store import StoreLocation, open_store
from ..store.sqlite import SqliteStore
from ._common import Incident
from .coverage import Coverage
from .timeline import TimeOrder, alert_of, deliveries

GROUP = 64  # deliveries of one instant decided in one transaction, as a serve worker does
REOPEN_EVERY = 20_000  # deliveries between reopenings of the scratch store (see ``_Replay``)
PROGRESS_EVERY = 50_000
ACTIONS = tuple(a.value for a in Action)
_INSTANCE = {"instance": ""}


@dataclass
class Tally:
    """What the replay decided, counted."""

    state: str = "empty"  # the scratch guardrail state started "empty" or from the "store"
    shift_s: float = 0.0  # how far the history was moved in time (from_store_state)
    first: datetime | None = None
    last: datetime | None = None
    incidents: int = 0
    deliveries: Counter[str] = field(default_factory=Counter)  # firing / resolved
    actions: Counter[str] = field(default_factory=Counter)  # firing deliveries by action
    resolved: Counter[str] = field(default_factory=Counter)  # resolved ones by reason code
    reasons: dict[str, Counter[str]] = field(default_factory=dict)  # reason code -> actions
    examples: dict[str, str] = field(default_factory=dict)  # code -> the first reason seen
    entries: dict[str, Counter[str]] = field(default_factory=dict)  # entry -> actions, modes
    stages: dict[str, str] = field(default_factory=dict)  # entry -> configured stage
    modes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stage, mode) decisions
    runs: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stage, mode) playbook runs
    hosts: Counter[tuple[str, str]] = field(default_factory=Counter)  # ... hosts they covered
    days: dict[str, Counter[str]] = field(default_factory=dict)  # day -> actions, "runs"
    gaps: list[dict[str, Any]] = field(default_factory=list)  # entries the history can't judge

    def decided(self, at: float, alert: Alert, remediation: Remediation | None,
                decision: Decision, code: str | None = None) -> None:
        """Count one delivery's decision; ``at`` is its time in the history, ``code`` the
        reason code it is counted under when not the decision's own."""
        group = code or str(decision.code)
        if not alert.firing:
            self.deliveries["resolved"] += 1
            self.resolved[group] += 1
            return
        action = str(decision.action)
        self.deliveries["firing"] += 1
        self.actions[action] += 1
        self.reasons.setdefault(group, Counter())[action] += 1
        self.examples.setdefault(group, decision.reason if code is None else
                                 "the history lacks labels a catalog entry needs")
        day = datetime.fromtimestamp(at, UTC).date().isoformat()
        self.days.setdefault(day, Counter())[action] += 1
        name = remediation.name if remediation is not None else "(no entry)"
        counts = self.entries.setdefault(name, Counter())
        counts[action] += 1
        if remediation is not None:
            self.stages.setdefault(name, str(remediation.stage))
        if decision.executes:
            counts[str(decision.mode)] += 1
            self.modes[(str(decision.stage), str(decision.mode))] += 1
            self.days[day]["runs"] += 1

    def ran(self, decision: Decision, hosts: int) -> None:
        """Count one playbook run (a batch: one run however many alerts share it)."""
        key = (str(decision.stage), str(decision.mode))
        self.runs[key] += 1
        self.hosts[key] += hosts


class _NoRuns:
    """The executor of a simulation: it is never called, and says so if it is."""

    def run(self, plan: RunPlan, progress: ProgressFn | None = None) -> RunResult:
        """Refuse: a simulation decides only."""
        raise RuntimeError(f"simulate tried to run {plan.playbook}: a simulation never runs")


def simulate(config: Config, incidents: Iterable[Incident], *, from_store_state: bool = False,
             progress: Callable[[str, int], None] | None = None,
             now: Callable[[], datetime] = utc_now) -> Tally:
    """Replay ``incidents`` through the config's catalog, inventory and guardrails.

    ``progress(stage, count)`` hears about long inputs: ``"sorted"`` deliveries, then
    ``"decided"`` ones, every 50,000, and at the end of each once past 50,000 (the last
    "sorted" count is the total to decide).
    """
    catalog = catalog_mod.load(config.catalog, config.playbooks, config.guardrails,
                               config.ansible_setup.collections_paths())
    inventory = inventory_mod.load_config(config)
    with tempfile.TemporaryDirectory(prefix="remediator-simulate-") as tmp:
        folder = Path(tmp)
        order = TimeOrder(folder)
        tally = Tally()
        coverage = Coverage(catalog)
        for incident in incidents:
            tally.incidents += 1
            coverage.see(incident.labels)
            if incident.host:
                coverage.see(_INSTANCE)  # the timeline gives the host as ``instance``
            for row in deliveries(incident):
                order.add(row)
                if progress is not None and order.count % PROGRESS_EVERY == 0:
                    progress("sorted", order.count)
        if progress is not None and order.count > PROGRESS_EVERY:
            progress("sorted", order.count)  # the total the deciding works towards
        scratch = folder / "scratch.db"
        SqliteStore(scratch).close()  # the schema
        if from_store_state:
            started = now()
            _copy_guard_state(config.store, scratch, started - timedelta(
                seconds=_horizon(catalog, config)))
            tally.state = "store"
            tally.shift_s = started.timestamp() - order.first if order.first else 0.0
        clock = ManualClock()
        engine = Engine(config=replace(config, store=scratch, runs=folder / "runs"),
                        catalog=catalog, inventory=inventory, store=SqliteStore(scratch),
                        executor=_NoRuns(), revision={"vcs": "none", "dirty": False},
                        clock=clock)
        replay = _Replay(engine, clock, tally, scratch, progress, coverage)
        try:
            replay.run(order)
            if progress is not None and replay.count > PROGRESS_EVERY:
                progress("decided", replay.count)
        finally:
            engine.store.close()
    tally.gaps = coverage.gaps()
    return tally


class _Replay:
    """Feeds time-ordered deliveries to the engine, one transaction per instant.

    The store keeps an in-memory mirror of recent guard rows that only grows while one
    connection writes; reopening the scratch store every REOPEN_EVERY deliveries reloads it
    from the file, limited to the guardrail horizon, so memory stays bounded.
    """

    def __init__(self, engine: Engine, clock: ManualClock, tally: Tally, scratch: Path,
                 progress: Callable[[str, int], None] | None, coverage: Coverage) -> None:
        self.engine, self.clock, self.tally = engine, clock, tally
        self.coverage = coverage
        self.scratch, self.progress = scratch, progress
        self.group: list[Alert] = []
        self.times: list[float] = []
        self.instant: float | None = None
        self.count = 0

    def run(self, order: Iterable[tuple[Any, ...]]) -> None:
        """Decide every delivery in ``order``."""
        shift = self.tally.shift_s
        for row in order:
            at = row[0]
            if self.group and (at != self.instant or len(self.group) >= GROUP):
                self._flush()
            self.instant = at
            self.group.append(alert_of(row, shift))
            self.times.append(at)
            if self.tally.first is None:
                self.tally.first = datetime.fromtimestamp(at, UTC)
            self.tally.last = datetime.fromtimestamp(at, UTC)
        if self.group:
            self._flush()

    def _flush(self) -> None:
        """Decide the gathered deliveries of one instant."""
        assert self.instant is not None
        self.clock.now = datetime.fromtimestamp(self.instant + self.tally.shift_s, UTC)
        items, batches = self.engine.plan_groups([(self.group, None)], allow_uncommitted=True,
                                                 finish_now=True)
        for at, item in zip(self.times, items, strict=True):
            self.tally.decided(at, item.alert, item.remediation, item.decision,
                               self._unjudged(item.alert, item.remediation, item.decision))
        for batch in batches:
            self.tally.ran(batch.decision, len(batch.hosts))
        before = self.count
        self.count += len(self.group)
        self.group, self.times = [], []
        if before // REOPEN_EVERY != self.count // REOPEN_EVERY:
            self.engine.store.close()
            self.engine.store = SqliteStore(self.scratch)
        if self.progress is not None and before // PROGRESS_EVERY != self.count // PROGRESS_EVERY:
            self.progress("decided", self.count)


    def _unjudged(self, alert: Alert, entry: Remediation | None, decision: Decision
                  ) -> str | None:
        """MISSING_LABELS when the history lacked the labels to judge this firing alert."""
        if not alert.firing:
            return None
        if decision.code is Reason.NO_ENTRY and self.coverage.unmatched(alert.labels):
            return MISSING_LABELS
        if decision.code is Reason.NO_TARGET and entry is not None and \
                self.coverage.untargeted(alert.labels, entry):
            return MISSING_LABELS
        return None


def _horizon(catalog: catalog_mod.Catalog, config: Config) -> int:
    """How far back guard state matters: the longest window of any entry, in seconds."""
    windows = [max(e.guardrails.throttle_window_s, e.guardrails.recurrence_window_s,
                   e.guardrails.cooldown_s) for e in catalog]
    return max([*windows, 3600, config.refire_window])


def _copy_guard_state(real: StoreLocation, scratch: Path, since: datetime) -> None:
    """Copy the real store's runs since ``since`` (and every unfinished one) and its open
    breakers into the scratch store; the real store is only read."""
    if isinstance(real, Path) and not real.is_file():
        raise StoreError("no audit store to copy the guardrail state from", where=str(real))
    source = open_store(real)
    try:
        snapshot = source.guard_snapshot(iso(since))
    finally:
        source.close()
    target = SqliteStore(scratch)
    try:
        target.restore_guard(snapshot)
    finally:
        target.close()
