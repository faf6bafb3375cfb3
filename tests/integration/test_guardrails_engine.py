"""Guardrails through the engine: real SQLite store, a FakeClock and a RecordingExecutor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest

from remediator.config import Config, load
from remediator.errors import UsageError
from remediator.executor import RunPlan
from remediator.models import Alert, Mode, Outcome, Stage
from remediator.testing import FakeClock, RecordingExecutor, alert, engine_for

from ..conftest import Project, shared_inventory, write_inventory

HOSTS = [f"node-{n:02d}" for n in range(12)]
INVENTORY = shared_inventory({"all": {"children": {"web": {"hosts": {
    h: {"ansible_connection": "local"} for h in HOSTS}}}}})
ENTRY = "fix"
FIRST_START = "2026-01-05T12:00:00.000+00:00"  # the FakeClock's start


def entry(stage: str = "oversight", **guardrails: Any) -> dict[str, Any]:
    """A catalog entry for alert ``Fix`` with a defaulted variable and these guardrails."""
    return {"name": ENTRY, "match": {"alertname": "Fix"}, "playbook": "disk_space_cleanup.yml",
            "stage": stage, "vars": {"mount": {"from": "labels.mountpoint", "default": "/"}},
            "timeout": 300, "guardrails": guardrails}


def fix(host: str = "node-00", fingerprint: str | None = None, **labels: str) -> Alert:
    """A firing ``Fix`` alert for ``host``."""
    return alert("Fix", host, fingerprint=fingerprint, labels=labels)


@dataclass
class Rig:
    """A configured project, its clock, and engines over it."""

    project: Project
    config: Config
    clock: FakeClock = field(default_factory=FakeClock)

    def engine(self, **outcomes: Outcome) -> Any:
        """A fresh engine (its own store connection) with a RecordingExecutor."""
        executor = RecordingExecutor(clock=self.clock, outcomes=dict(outcomes))
        return engine_for(self.config, clock=self.clock, executor=executor)


@pytest.fixture
def rig(project: Project) -> Rig:
    """The project with twelve local hosts in group ``web`` and a default entry."""
    write_inventory(project.root, INVENTORY)
    project.write_catalog(entry())
    return Rig(project, load(project.config, env={}))


def configure(rig: Rig, stage: str = "oversight", **guardrails: Any) -> Any:
    """Rewrite the catalog with these guardrails and return an engine over it."""
    rig.project.write_catalog(entry(stage, **guardrails))
    return rig.engine()


def decision(record: dict[str, Any]) -> tuple[str, str]:
    """(action, mode) of a record."""
    return record["decision"]["action"], record["mode"]


def plans(engine: Any) -> list[RunPlan]:
    """The plans an engine's RecordingExecutor saw."""
    return list(engine.executor.plans)


# -- dedupe --


def test_same_alert_three_times_runs_once(rig: Rig) -> None:
    """The same delivery (fingerprint and start) handled three times runs once, then skips."""
    engine = configure(rig, "observe")
    same = fix(fingerprint="dup")
    records = [engine.handle([same])[0] for _ in range(3)]
    assert len(plans(engine)) == 1
    assert decision(records[0]) == ("run", "check")
    for later in records[1:]:
        assert decision(later) == ("skip", "none")
        assert later["decision"]["reason"].startswith("duplicate:")
        assert records[0]["id"] in later["decision"]["reason"]


def test_redelivery_of_a_failed_live_fix_is_a_duplicate(rig: Rig) -> None:
    """A live run that failed is not run again when the same delivery comes back."""
    rig.project.write_catalog(entry(cooldown=0))
    engine = rig.engine(**{"node-00": Outcome.FAILED})
    first, second = (engine.handle([fix(fingerprint="dup")])[0] for _ in range(2))
    assert (decision(first), first["outcome"]) == (("run", "live"), "failed")
    assert decision(second) == ("skip", "none")
    assert second["decision"]["reason"].startswith("duplicate:")
    assert len(plans(engine)) == 1


def test_check_run_does_not_use_up_the_live_run(rig: Rig) -> None:
    """An alert seen under the observe brake still gets its one live run once the brake is off."""
    engine = configure(rig, cooldown=0)
    same = fix(fingerprint="braked")
    engine.config = rig.config.with_max_stage(Stage.OBSERVE)
    (braked,) = engine.handle([same])
    engine.config = rig.config
    (live,) = engine.handle([same])
    (again,) = engine.handle([same])
    assert [p.mode for p in plans(engine)] == [Mode.CHECK, Mode.LIVE]
    assert decision(braked) == ("run", "check") and braked["decision"]["max_stage"] == "observe"
    assert decision(live) == ("run", "live")
    assert decision(again)[1] == "none"  # the live run is used up (a re-fire after the fix)


def test_resolved_alert_never_runs(rig: Rig) -> None:
    """A resolved delivery is recorded and runs nothing."""
    engine = configure(rig)
    (record,) = engine.handle([alert("Fix", "node-00", status="resolved")])
    assert decision(record) == ("skip", "none")
    assert plans(engine) == []


# -- throttle and cooldown --


def test_host_throttle_within_the_window(rig: Rig) -> None:
    """Past per_host runs in the window a host's alerts escalate; after the window they run."""
    engine = configure(rig, throttle={"per_host": 2, "window": 600}, cooldown=0,
                       recurrence={"per_host": 50})
    first = [engine.handle([fix()])[0] for _ in range(2)]
    (throttled,) = engine.handle([fix()])
    (other_host,) = engine.handle([fix("node-01")])
    assert [decision(r) for r in first] == [("run", "live")] * 2
    assert decision(throttled) == ("escalate", "none")
    assert throttled["decision"]["reason"] == (
        "throttled: 2 runs on this host in the last 600s (limit 2)")
    assert decision(other_host) == ("run", "live")
    rig.clock.advance(600)  # the window still includes the runs that started at its edge
    assert decision(engine.handle([fix()])[0]) == ("escalate", "none")
    rig.clock.advance(1)
    assert decision(engine.handle([fix()])[0]) == ("run", "live")
    assert [p.hosts for p in plans(engine)] == [("node-00",), ("node-00",), ("node-01",),
                                                ("node-00",)]


def test_entry_throttle_within_the_window(rig: Rig) -> None:
    """Past per_entry runs in the window any host escalates; after the window they run."""
    engine = configure(rig, throttle={"per_entry": 2, "window": 300}, cooldown=0)
    ran = [engine.handle([fix(h)])[0] for h in HOSTS[:2]]
    (throttled,) = engine.handle([fix(HOSTS[2])])
    assert [decision(r) for r in ran] == [("run", "live")] * 2
    assert decision(throttled) == ("escalate", "none")
    assert throttled["decision"]["reason"] == (
        "throttled: 2 runs of this entry in the last 300s (limit 2)")
    rig.clock.advance(301)
    assert decision(engine.handle([fix(HOSTS[2])])[0]) == ("run", "live")
    assert len(plans(engine)) == 3


def test_one_storm_run_counts_once_for_the_entry_throttle(rig: Rig) -> None:
    """Alerts coalesced into one run count as one run of the entry."""
    engine = configure(rig, throttle={"per_entry": 1})
    records = engine.handle([fix(h) for h in HOSTS[:4]])
    assert [decision(r) for r in records] == [("run", "live")] * 4
    assert [p.hosts for p in plans(engine)] == [tuple(HOSTS[:4])]


def test_host_throttle_counts_an_earlier_batch_of_the_same_payload(rig: Rig) -> None:
    """Two alerts for one host with different variables in one payload respect per_host 1."""
    engine = configure(rig, throttle={"per_host": 1}, cooldown=0)
    records = engine.handle([fix(mountpoint="/"), fix(mountpoint="/var")])
    assert len(plans(engine)) == 1
    assert decision(records[1]) == ("escalate", "none")


def test_cooldown_after_a_live_run(rig: Rig) -> None:
    """After a live run the host cools down: skipped with the next allowed time, then runs."""
    engine = configure(rig, cooldown=300)
    (first,) = engine.handle([fix()])
    rig.clock.advance(100)
    (cooling,) = engine.handle([fix()])
    (elsewhere,) = engine.handle([fix("node-01")])
    assert decision(first) == ("run", "live")
    assert decision(cooling) == ("skip", "none")
    assert cooling["decision"]["reason"] == (
        "cooldown: the last run on this host ended 100s ago; next run allowed at "
        "2026-01-05T12:05:00+00:00")
    assert decision(elsewhere) == ("run", "live")
    rig.clock.advance(200)
    assert decision(engine.handle([fix()])[0]) == ("run", "live")
    assert [p.hosts for p in plans(engine)] == [("node-00",), ("node-01",), ("node-00",)]


def test_check_runs_do_not_start_a_cooldown(rig: Rig) -> None:
    """Only a live run needs time to settle; check runs back to back are fine."""
    engine = configure(rig, "observe", cooldown=300)
    records = [engine.handle([fix()])[0] for _ in range(3)]
    assert [decision(r) for r in records] == [("run", "check")] * 3


# -- locks --


def test_handle_while_a_run_is_in_progress_is_locked(rig: Rig) -> None:
    """A second engine handling an alert for a host being fixed skips it as locked."""
    engine = configure(rig, cooldown=0)
    other = rig.engine()
    seen: list[dict[str, Any]] = []
    engine.executor.on_run = lambda plan: seen.extend(
        other.handle([fix("node-00"), fix("node-01")]))
    (first,) = engine.handle([fix("node-00")])
    locked, free = seen
    assert decision(locked) == ("skip", "none")
    assert locked["decision"]["reason"].startswith("locked:")
    assert first["runner"]["ident"] in locked["decision"]["reason"]
    assert decision(free) == ("run", "live")
    assert [p.hosts for p in plans(other)] == [("node-01",)]
    assert decision(other.handle([fix("node-00")])[0]) == ("run", "live")  # released


def test_manual_run_while_a_run_is_in_progress_is_refused(rig: Rig) -> None:
    """A person's run on a host being fixed escalates as locked and runs nothing."""
    engine = configure(rig, cooldown=0)
    other = rig.engine()
    seen: list[dict[str, Any]] = []
    engine.executor.on_run = lambda plan: seen.append(
        other.run_manual(ENTRY, ["node-01", "node-00"], Mode.LIVE, user="bob"))
    (first,) = engine.handle([fix("node-00")])
    (manual,) = seen
    assert decision(manual) == ("escalate", "none")
    assert manual["decision"]["reason"].startswith("locked: a run of this entry on node-00")
    assert first["runner"]["ident"] in manual["decision"]["reason"]
    assert manual["initiated_by"] == "bob"
    assert plans(other) == []
    after = other.run_manual(ENTRY, ["node-01", "node-00"], Mode.LIVE, user="bob")
    assert decision(after) == ("run", "live")
    assert [p.hosts for p in plans(other)] == [("node-01", "node-00")]


def test_a_manual_run_holds_the_lock_against_alerts(rig: Rig) -> None:
    """While a person's run is going, an alert for the same host is skipped as locked."""
    engine = configure(rig, cooldown=0)
    other = rig.engine()
    seen: list[dict[str, Any]] = []
    engine.executor.on_run = lambda plan: seen.extend(other.handle([fix("node-00")]))
    engine.run_manual(ENTRY, ["node-00"], Mode.CHECK, user="bob")
    (locked,) = seen
    assert decision(locked) == ("skip", "none")
    assert locked["decision"]["reason"].startswith("locked:")


def test_stale_lock_does_not_block(rig: Rig) -> None:
    """A run unfinished past lock_timeout no longer locks its host."""
    engine = configure(rig, cooldown=0, lock_timeout=60)
    other = rig.engine()
    seen: list[dict[str, Any]] = []

    def stall(plan: RunPlan) -> None:
        seen.extend(other.handle([fix("node-00")]))
        rig.clock.advance(60)  # the lease ends now
        seen.extend(other.handle([fix("node-00")]))

    engine.executor.on_run = stall
    engine.handle([fix("node-00")])
    held, expired = seen
    assert decision(held) == ("skip", "none") and held["decision"]["reason"].startswith("locked")
    assert decision(expired) == ("run", "live")
    assert [p.hosts for p in plans(other)] == [("node-00",)]


def test_default_lease_is_the_entry_timeout_plus_a_minute(rig: Rig) -> None:
    """Without lock_timeout, a run holds its host for the entry's timeout plus 60 s."""
    engine = configure(rig, cooldown=0)
    other = rig.engine()
    seen: list[dict[str, Any]] = []

    def stall(plan: RunPlan) -> None:
        rig.clock.advance(359)
        seen.extend(other.handle([fix("node-00")]))
        rig.clock.advance(1)
        seen.extend(other.handle([fix("node-00")]))

    engine.executor.on_run = stall
    engine.handle([fix("node-00")])
    assert [decision(r)[0] for r in seen] == ["skip", "run"]


# -- blast radius and storms --


def test_blast_radius_max_hosts(rig: Rig) -> None:
    """Five alerts for five hosts with max_hosts 3: one run over three, two escalated."""
    engine = configure(rig, blast_radius={"max_hosts": 3})
    records = engine.handle([fix(h) for h in HOSTS[:5]])
    (plan,) = plans(engine)
    assert plan.hosts == tuple(HOSTS[:3])
    assert [decision(r) for r in records] == [("run", "live")] * 3 + [("escalate", "none")] * 2
    for record in records[3:]:
        assert record["decision"]["reason"] == (
            f"blast radius: run {plan.ident} already covers 3 hosts (limit 3); this host was "
            "not touched, a person must decide")
        assert record["runner"] is None and record["outcome"] == "not-run"


def test_blast_radius_percent_of_a_group(rig: Rig) -> None:
    """max_percent 25 of the twelve-host group ``web`` allows three hosts per run."""
    engine = configure(rig, blast_radius={"max_percent": 25, "group": "web"})
    records = engine.handle([fix(h) for h in HOSTS[:6]])
    (plan,) = plans(engine)
    assert len(plan.hosts) == 3
    assert [decision(r)[0] for r in records] == ["run"] * 3 + ["escalate"] * 3
    assert "(limit 3)" in records[-1]["decision"]["reason"]


def test_storm_coalesces_into_one_run(rig: Rig) -> None:
    """Ten alerts with the same variables: one run over all ten hosts, ten records sharing it."""
    engine = configure(rig)
    records = engine.handle([fix(h) for h in HOSTS[:10]])
    (plan,) = plans(engine)
    assert plan.hosts == tuple(HOSTS[:10])
    assert len(records) == 10
    assert {r["batch"]["ident"] for r in records} == {plan.ident}
    assert {r["runner"]["ident"] for r in records} == {plan.ident}
    assert records[0]["batch"]["records"] == [r["id"] for r in records]
    assert [list(r["hosts"]) for r in records] == [[h] for h in HOSTS[:10]]


def test_storm_with_different_variables_runs_separately(rig: Rig) -> None:
    """Alerts whose variables differ get one run per set of variables."""
    engine = configure(rig)
    records = engine.handle([fix(HOSTS[0], mountpoint="/"), fix(HOSTS[1], mountpoint="/var"),
                             fix(HOSTS[2], mountpoint="/"), fix(HOSTS[3], mountpoint="/var")])
    assert sorted((p.hosts, dict(p.untrusted_vars)["mount"]) for p in plans(engine)) == [
        ((HOSTS[0], HOSTS[2]), "/"), ((HOSTS[1], HOSTS[3]), "/var")]
    assert records[0]["batch"]["ident"] == records[2]["batch"]["ident"] != \
        records[1]["batch"]["ident"]


def test_same_host_twice_in_a_storm_runs_it_once(rig: Rig) -> None:
    """Two alerts for one host in one batch share its run; the host is not run twice."""
    engine = configure(rig)
    records = engine.handle([fix("node-00"), fix("node-00"), fix("node-01")])
    (plan,) = plans(engine)
    assert plan.hosts == ("node-00", "node-01")
    assert [decision(r) for r in records] == [("run", "live")] * 3


def test_a_group_another_writer_overtook_is_decided_again(rig: Rig) -> None:
    """Groups are decided outside the write lock. When another process writes guard state
    between a group's decisions and its commit, nothing of that group is written (not its
    claims, reservations or journal) and it is decided again under the lock: the storm run
    keeps its earlier hosts once, and the alert the other process took is a duplicate."""
    engine, other = configure(rig), rig.engine()
    real = engine.store.guard_attempt
    attempts: list[bool] = []

    @contextmanager
    def overtaken(now: Any, horizon_s: int) -> Iterator[Any]:
        with real(now, horizon_s) as session:
            yield session
            if len(attempts) == 1:  # the second group: another process handles node-03 now
                other.handle([fix(HOSTS[3], fingerprint="fp-3")])
        attempts.append(session.committed)

    engine.store.guard_attempt = overtaken
    journals: list[list[str]] = []
    records = engine.handle_groups([
        ([fix(HOSTS[0], fingerprint="fp-0"), fix(HOSTS[1], fingerprint="fp-1")],
         lambda session, plan: session.defer(
             partial(journals.append, [d["id"] for d in plan["drafts"]]))),
        ([fix(HOSTS[2], fingerprint="fp-2"), fix(HOSTS[1], fingerprint="fp-1b"),
          fix(HOSTS[3], fingerprint="fp-3")],
         lambda session, plan: session.defer(
             partial(journals.append, [d["id"] for d in plan["drafts"]])))])
    assert attempts == [True, False]  # the second group was then decided under the lock
    (plan,) = plans(engine)
    assert plan.hosts == tuple(HOSTS[:3])  # node-01 once; node-03 is the other's
    assert [decision(r) for r in records] == [("run", "live")] * 4 + [("skip", "none")]
    assert records[4]["decision"]["reason"].startswith("duplicate")
    assert journals == [[r["id"] for r in records[:2]], [r["id"] for r in records[2:]]]  # not the lost one
    assert {r["batch"]["ident"] for r in records[:4]} == {plan.ident}
    (theirs,) = plans(other)
    assert theirs.hosts == (HOSTS[3],)


# -- circuit breaker --


def test_breaker_opens_holds_and_resets(rig: Rig) -> None:
    """Two failed live runs open the breaker; the next alert waits for a person; a reset resumes."""
    rig.project.write_catalog(entry(breaker={"failures": 2}, cooldown=300,
                                    throttle={"per_host": 10}, recurrence={"per_host": 10}))
    engine = rig.engine(**{"node-00": Outcome.FAILED})
    (first,) = engine.handle([fix()])
    rig.clock.advance(301)
    (second,) = engine.handle([fix()])
    assert (first["outcome"], second["outcome"]) == ("failed", "failed")
    assert not any("circuit breaker" in n for n in first["decision"]["notes"])
    assert any(n.startswith("circuit breaker opened: 2 consecutive failed live runs")
               for n in second["decision"]["notes"])
    assert engine.store.breakers()[ENTRY]["record_id"] == second["runner"]["ident"]

    rig.clock.advance(301)
    (held,) = engine.handle([fix()])
    assert decision(held) == ("pending", "check")
    assert held["stage"] == "human-initiated"
    assert held["decision"]["reason"].startswith("circuit breaker open")
    assert [p.mode for p in plans(engine)] == [Mode.LIVE, Mode.LIVE, Mode.CHECK]
    assert [r.id for r in engine.pending()] == [held["id"]]

    reset = engine.reset_breaker(ENTRY, by="alice")
    assert reset["initiated_by"] == "alice"
    assert decision(reset) == ("skip", "none")
    assert reset["decision"]["reason"].startswith("circuit breaker reset by alice (open since ")
    assert "after 2 failed live runs" in reset["decision"]["reason"]
    assert engine.store.breakers() == {}
    with pytest.raises(UsageError, match="not open"):
        engine.reset_breaker(ENTRY, by="alice")

    engine.executor.outcomes.clear()
    (resumed,) = engine.handle([fix()])
    assert (decision(resumed), resumed["outcome"]) == (("run", "live"), "succeeded")


def test_a_success_between_failures_keeps_the_breaker_closed(rig: Rig) -> None:
    """Only consecutive failures count: fail, succeed, fail leaves the breaker closed."""
    rig.project.write_catalog(entry(breaker={"failures": 2}, cooldown=0))
    engine = rig.engine(**{"node-00": Outcome.FAILED})
    outcomes = [engine.handle([fix(h)])[0]["outcome"]
                for h in ("node-00", "node-01", "node-00")]
    assert outcomes == ["failed", "succeeded", "failed"]
    assert engine.store.breakers() == {}
    assert decision(engine.handle([fix("node-02")])[0]) == ("run", "live")


def test_failed_check_runs_do_not_open_the_breaker(rig: Rig) -> None:
    """A failing check run is a preview, not a failed fix: the breaker stays closed."""
    rig.project.write_catalog(entry("observe", breaker={"failures": 1}, cooldown=0))
    engine = rig.engine(**{"node-00": Outcome.FAILED})
    engine.handle([fix()])
    engine.handle([fix()])
    assert engine.store.breakers() == {}


def test_breaker_hold_respects_the_lock(rig: Rig) -> None:
    """With the breaker open, a second alert for a host being previewed is still locked out."""
    rig.project.write_catalog(entry(breaker={"failures": 1}, cooldown=0))
    engine = rig.engine(**{"node-00": Outcome.FAILED})
    engine.handle([fix("node-00")])  # one failure opens the breaker
    other = rig.engine()
    seen: list[dict[str, Any]] = []
    engine.executor.on_run = lambda plan: seen.extend(other.handle([fix("node-01")]))
    (held,) = engine.handle([fix("node-01")])
    (second,) = seen
    assert decision(held) == ("pending", "check")
    assert decision(second) == ("skip", "none")
    assert plans(other) == []


# -- recurrence --


def test_recurrence_escalates_and_the_fix_still_runs(rig: Rig) -> None:
    """The third fix on a host within the window escalates, with the live run still done."""
    engine = configure(rig, recurrence={"per_host": 2, "window": 3600}, cooldown=0,
                       throttle={"per_host": 10})
    records = [engine.handle([fix()])[0] for _ in range(3)]
    assert [decision(r) for r in records] == [("run", "live"), ("run", "live"),
                                              ("escalate", "live")]
    assert records[2]["decision"]["reason"].startswith(
        "recurrence: 3 fixes on this host within 3600s")
    assert records[2]["outcome"] == "succeeded"
    assert [p.mode for p in plans(engine)] == [Mode.LIVE] * 3
    rig.clock.advance(3601)
    assert decision(engine.handle([fix()])[0]) == ("run", "live")


# -- maintenance --


def test_maintenance_window_allows_check_runs_only(rig: Rig) -> None:
    """During a maintenance window the live entry runs in check mode; after it, live again."""
    engine = configure(rig, cooldown=0, maintenance=[
        {"name": "monday-noon", "cron": "0 12 * * 1", "duration": 1800}])
    (during,) = engine.handle([fix()])
    assert decision(during) == ("run", "check")
    assert during["stage"] == "observe"
    assert during["decision"]["reason"] == "maintenance window 'monday-noon': check-mode run only"
    assert any("until 2026-01-05T12:30:00+00:00" in n for n in during["decision"]["notes"])
    rig.clock.advance(1800)
    (after,) = engine.handle([fix()])
    assert decision(after) == ("run", "live")
    assert [p.mode for p in plans(engine)] == [Mode.CHECK, Mode.LIVE]


def test_fixed_maintenance_window(rig: Rig) -> None:
    """A start/end window around now turns a storm into one check-mode run."""
    engine = configure(rig, maintenance=[
        {"start": "2026-01-05T11:00:00Z", "end": "2026-01-05T13:00:00Z"}])
    records = engine.handle([fix(h) for h in HOSTS[:3]])
    (plan,) = plans(engine)
    assert (plan.mode, plan.hosts) == (Mode.CHECK, tuple(HOSTS[:3]))
    assert {decision(r) for r in records} == {("run", "check")}


def test_maintenance_check_runs_are_throttled(rig: Rig) -> None:
    """During a maintenance window the host throttle still bounds the check runs."""
    engine = configure(rig, cooldown=0, throttle={"per_host": 1}, maintenance=[
        {"start": "2026-01-05T11:00:00Z", "end": "2026-01-05T13:00:00Z"}])
    engine.handle([fix()])
    (second,) = engine.handle([fix()])
    assert decision(second) == ("escalate", "none")
    assert len(plans(engine)) == 1


def test_alert_seen_during_maintenance_is_fixed_after_it(rig: Rig) -> None:
    """An alert checked during a window is still fixed live when redelivered after the window."""
    engine = configure(rig, cooldown=0, maintenance=[
        {"start": "2026-01-05T11:00:00Z", "end": "2026-01-05T12:10:00Z"}])
    same = fix(fingerprint="during-window")
    engine.handle([same])
    rig.clock.advance(600)
    (after,) = engine.handle([same])
    assert decision(after) == ("run", "live")


def test_redelivery_is_a_duplicate_for_another_process_after_the_horizon(rig: Rig) -> None:
    """A delivery whose start is hours ahead of our clock is still a duplicate later, elsewhere."""
    engine = configure(rig, cooldown=0, throttle={"window": 600},
                       recurrence={"window": 600})  # guard state older than 1 h is not kept
    other = rig.engine()
    ahead = alert("Fix", "node-00", fingerprint="skewed", starts_at="2026-01-05T15:00:00+00:00")
    (first,) = engine.handle([ahead])
    rig.clock.advance(3601)
    other.handle([fix("node-01")])  # another process writes: the first reloads its state
    (again,) = engine.handle([ahead])
    assert decision(first) == ("run", "live")
    assert decision(again)[1] == "none"
    assert [p.mode for p in plans(engine)] == [Mode.LIVE]


def test_guard_state_past_keeping_is_forgotten(rig: Rig) -> None:
    """``keep_guard_state``: claims and finished runs older than it are forgotten (the newest
    runs the breaker reads stay); a delivery of an alert forgotten so is handled as new."""
    rig.project.configure({"keep_guard_state": 86400})
    rig.config = load(rig.project.config, env={})
    engine = configure(rig, cooldown=0, throttle={"window": 600}, recurrence={"window": 600},
                       breaker={"failures": 1})
    old = fix("node-00", fingerprint="long-firing")
    (first,) = engine.handle([old, fix("node-01"), fix("node-02")])[:1]
    rig.clock.advance(86400 - 600)
    assert engine.prune_guard_state() == (0, 0)  # all younger than a day
    (kept,) = engine.handle([old])
    rig.clock.advance(1200)
    assert engine.prune_guard_state() == (3, 0)  # the one run (3 hosts) is the breaker's
    (again,) = rig.engine().handle([old])  # a later cron run: claims read from the store
    assert decision(first) == ("run", "live")
    assert decision(kept) == ("skip", "none")
    assert decision(again) == ("run", "live"), again["decision"]
    rig.clock.advance(86400 + 600)
    engine.handle([fix("node-03"), fix("node-04"), fix("node-05")])
    assert engine.prune_guard_state() == (1, 4)  # the last claim, the older runs' 4 rows
    assert rig.project.query("SELECT COUNT(*) FROM guard_runs")[0][0] == 3


# -- setup failures --


def test_setup_failure_keeps_the_claim_and_throttle_but_counts_for_the_breaker(rig: Rig
                                                                               ) -> None:
    """A run that stopped before touching any host (a missing role) is recorded as failed
    with its reason, but the same alert delivered again after the fix is handled again (no
    duplicate), the throttle does not count it, and it counts toward the breaker."""
    rig.project.write_catalog(entry(throttle={"per_host": 1, "window": 3600}, cooldown=0,
                                    breaker={"failures": 2}))
    broken = RecordingExecutor(clock=rig.clock, setup_failure="missing-role")
    engine = engine_for(rig.config, clock=rig.clock, executor=broken)
    alert_once = fix(fingerprint="fp-setup")
    (first,) = engine.handle([alert_once])
    assert (first["outcome"], first["runner"]["setup_failure"]) == ("failed", "missing-role")
    assert any("setup failure: the run touched no host" in n
               for n in first["decision"]["notes"])
    (again,) = engine.handle([alert_once])  # the same delivery: handled, not a duplicate
    assert decision(again) == ("run", "live"), again["decision"]["reason"]
    assert "circuit breaker opened" in " ".join(again["decision"]["notes"])
    fixed = engine_for(rig.config, clock=rig.clock, executor=RecordingExecutor(clock=rig.clock))
    assert fixed.store.reset_breaker(ENTRY) is not None
    (after_fix,) = fixed.handle([alert_once])  # neither setup failure took the throttle slot
    assert (decision(after_fix), after_fix["outcome"]) == (("run", "live"), "succeeded")
    (duplicate,) = fixed.handle([alert_once])  # a real run does use up the delivery
    assert decision(duplicate) == ("skip", "none")
