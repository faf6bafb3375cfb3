"""The planner on its own: recorded alerts, a catalog, and guard state held in memory.

Dedupe, re-fire, storm batching, blast radius, lowering and the reservations it stages, with
no store, no clock and no run.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from remediator import catalog as catalog_mod
from remediator import sources
from remediator.guardrails import GuardFacts
from remediator.inventory import Inventory
from remediator.limits import Guardrails
from remediator.models import Action, Alert, Mode
from remediator.planner import REFIRE_CLAIM, Batches, Planner, partition
from remediator.policy import PolicyContext
from remediator.reasons import Reason

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = datetime(2026, 11, 26, 9, 15, tzinfo=UTC)
CATALOG = """\
version: 1
remediations:
  - name: disk
    match: {alertname: DiskSpaceLow}
    playbook: noop.yml
    stage: oversight
    vars: {disk_mountpoint: labels.mountpoint}
    guardrails:
      blast_radius: {max_hosts: 2}
  - name: service
    match: {alertname: ServiceDown}
    playbook: noop.yml
    stage: observe
"""


@dataclass
class MemoryView:
    """Guard state in memory: what the store's session would show, and what was staged."""

    claims: dict[tuple[Any, ...], str] = field(default_factory=dict)
    reservations: list[tuple[str, str, str, str]] = field(default_factory=list)
    fixes: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)
    busy: dict[tuple[str, str], str] = field(default_factory=dict)  # another run's lock

    def seen(self, fingerprint: str, starts_at: str | None, status: str, mode: str, *,
             entry: str = "") -> str | None:
        return self.claims.get((fingerprint, starts_at, status, mode, entry))

    def claim(self, fingerprint: str, starts_at: str | None, status: str, mode: str,
              record_id: str, now: datetime, *, entry: str = "") -> None:
        self.claims[(fingerprint, starts_at, status, mode, entry)] = record_id

    def facts(self, entry: str, host: str, rules: Guardrails, now: datetime,
              own: AbstractSet[str] = frozenset()) -> GuardFacts:
        mine = [r for r in self.reservations if (r[1], r[2]) == (entry, host)]
        return GuardFacts(in_progress=self.busy.get((entry, host)),
                          host_runs=tuple(now for _ in mine), entry_runs=len(
                              [r for r in self.reservations if r[1] == entry]))

    def last_fix(self, entry: str, host: str) -> tuple[str, datetime] | None:
        return self.fixes.get((entry, host))

    def reserve(self, ident: str, entry: str, host: str, mode: str, now: datetime,
                lease_s: int) -> None:
        self.reservations.append((ident, entry, host, mode))


@pytest.fixture
def planner(tmp_path: Path) -> Planner:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "noop.yml").write_text("- hosts: all\n  tasks: []\n")
    (tmp_path / "catalog.yml").write_text(CATALOG)
    catalog = catalog_mod.load(tmp_path / "catalog.yml", tmp_path / "playbooks")
    ids = (f"rec-{n}" for n in itertools.count())
    return Planner(catalog, {}, refire_window=3600, refire_settle=120, new_id=lambda: next(ids))


def context(*hosts: str) -> PolicyContext:
    return PolicyContext(inventory=Inventory(sources=(), groups={"all": frozenset(hosts)}))


def recorded(name: str, **labels: str) -> Alert:
    """The first alert of a recorded payload (tests/data/alerts), its labels changed."""
    [alert, *_] = sources.normalize(json.loads((DATA / "alerts" / name).read_text()))
    merged = {**alert.labels, **labels}
    return replace(alert, labels=merged, fingerprint=f"{alert.fingerprint}-{sorted(merged)}"
                   f"-{merged.get('instance')}")


def plan(planner: Planner, view: MemoryView, alerts: list[Alert], hosts: tuple[str, ...]
         ) -> tuple[list[Any], Batches]:
    batches: Batches = {}
    own: set[str] = set()
    items = [planner.decide(alert, context(*hosts), NOW, view, batches, own)
             for alert in alerts]
    return items, batches


def test_a_storm_of_one_entry_shares_one_run_up_to_its_blast_radius(planner: Planner) -> None:
    view = MemoryView()
    alerts = [recorded("disk-space-low.json", instance=f"app-0{n}:9100") for n in (1, 2, 3)]
    items, batches = plan(planner, view, alerts, ("app-01", "app-02", "app-03"))
    [batch] = batches.values()
    assert batch.hosts == ["app-01", "app-02"] and batch.items == ["rec-0", "rec-1"]
    assert [i.decision.action for i in items] == [Action.RUN, Action.RUN, Action.ESCALATE]
    assert items[2].decision.code is Reason.BLAST_RADIUS and items[2].batch is None
    assert view.reservations == [("rec-0", "disk", "app-01", "live"),
                                 ("rec-0", "disk", "app-02", "live")]
    # each delivery is claimed under the mode that happened
    modes = sorted(key[3] for key in view.claims)
    assert modes == ["live", "live", "none"]


def test_a_second_alert_for_a_host_in_the_run_joins_without_a_second_reservation(
        planner: Planner) -> None:
    view = MemoryView()
    first = recorded("disk-space-low.json", instance="app-01:9100")
    again = replace(first, fingerprint="another-alert-same-host")
    items, batches = plan(planner, view, [first, again], ("app-01",))
    [batch] = batches.values()
    assert batch.items == ["rec-0", "rec-1"] and batch.hosts == ["app-01"]
    assert len(view.reservations) == 1 and items[1].batch is batch


def test_different_variables_are_different_runs(planner: Planner) -> None:
    view = MemoryView()
    alerts = [recorded("disk-space-low.json", instance="app-01:9100", mountpoint="/var"),
              recorded("disk-space-low.json", instance="app-02:9100", mountpoint="/srv")]
    _, batches = plan(planner, view, alerts, ("app-01", "app-02"))
    assert sorted(len(b.hosts) for b in batches.values()) == [1, 1]


def test_a_delivery_already_handled_is_a_duplicate_naming_its_record(planner: Planner) -> None:
    alert = recorded("disk-space-low.json", instance="app-01:9100")
    view = MemoryView()
    view.claim(alert.fingerprint, alert.starts_at, alert.status, "live", "rec-earlier", NOW,
               entry=partition(alert.name))
    [item], batches = plan(planner, view, [alert], ("app-01",))
    assert item.duplicate_of == "rec-earlier" and item.decision.code is Reason.DUPLICATE
    assert "rec-earlier" in item.decision.reason and not batches and not view.reservations


def test_still_firing_after_a_fix_escalates_once(planner: Planner) -> None:
    alert = recorded("disk-space-low.json", instance="app-01:9100")
    # the fix ended after the alert began (09:10:03), and longer ago than refire_settle
    view = MemoryView(fixes={("disk", "app-01"): ("run-fix", NOW - timedelta(seconds=200))})
    view.claim(alert.fingerprint, alert.starts_at, alert.status, "live", "rec-fix", NOW,
               entry=partition(alert.name))
    [first], _ = plan(planner, view, [alert], ("app-01",))
    assert first.decision.code is Reason.REFIRE and first.decision.action is Action.ESCALATE
    assert (alert.fingerprint, alert.starts_at, alert.status, REFIRE_CLAIM,
            partition(alert.name)) in view.claims
    [second], _ = plan(planner, view, [alert], ("app-01",))
    assert second.decision.code is Reason.DUPLICATE  # escalated once, then a duplicate


def test_a_host_locked_by_another_run_is_not_reserved(planner: Planner) -> None:
    view = MemoryView(busy={("disk", "app-01"): "run-other"})
    [item], batches = plan(planner, view, [recorded("disk-space-low.json",
                                                    instance="app-01:9100")], ("app-01",))
    assert item.decision.code is Reason.LOCKED and not item.decision.executes
    assert not batches and not view.reservations


def test_an_alert_no_entry_matches_is_claimed_and_runs_nothing(planner: Planner) -> None:
    view = MemoryView()
    [item], batches = plan(planner, view, [recorded("inodes-low.json")], ("app-01",))
    assert item.remediation is None and item.decision.code is Reason.NO_ENTRY
    assert len(view.claims) == 1 and not batches


def test_an_observe_entry_plans_a_check_run(planner: Planner) -> None:
    view = MemoryView()
    alert = recorded("service-down.json")
    host = alert.labels["instance"].split(":")[0]
    [item], batches = plan(planner, view, [alert], (host,))
    [batch] = batches.values()
    assert item.decision.mode is Mode.CHECK and batch.decision.mode is Mode.CHECK
    assert view.reservations == [(item.record_id, "service", host, "check")]
