"""Guardrail invariants over random alert streams through the engine and a real SQLite store."""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediator.config import load
from remediator.executor import RunPlan
from remediator.models import Mode, Outcome
from remediator.testing import FakeClock, RecordingExecutor, alert, engine_for

from ..conftest import (
    INVENTORY_CACHE,
    copy_fix,
    fresh_database,
    query,
    shared_inventory,
    write_inventory,
)

HOSTS = ["node-a", "node-b", "node-c"]
INVENTORY = shared_inventory({"all": {"hosts": {h: {"ansible_connection": "local"}
                                                 for h in HOSTS}}})
FINGERPRINTS = [f"fp-{n}" for n in range(8)]
PER_HOST = 2
WINDOW = 3600
RUN_SECONDS = 30
GUARDRAILS = {
    "throttle": {"per_host": PER_HOST, "per_entry": 6, "window": WINDOW},
    "cooldown": 30,
    "breaker": {"failures": 2},  # node-c always fails, so the breaker opens and holds runs
    "recurrence": {"per_host": 2, "window": 3600},
    "lock_timeout": 10**6,  # no lease expires within an example: a lock must hold
}


@dataclass(frozen=True)
class Step:
    """One delivery: which alert, after how long, to which engine, and whether mid-run."""

    host: str
    fingerprint: str
    status: str
    advance: int
    engine: int  # which of two engines (separate store connections, like two processes)
    during: bool  # delivered while the next run is in progress, if one starts


# Clock moves of 0..2000 s, often short ones so that throttles, cooldowns and locks meet.
ADVANCE = st.one_of(st.sampled_from([0, 10, 60, 130, 400, 900]), st.integers(0, 2000))
steps_strategy = st.lists(st.builds(
    Step, host=st.sampled_from(HOSTS), fingerprint=st.sampled_from(FINGERPRINTS),
    status=st.sampled_from(["firing", "firing", "resolved"]), advance=ADVANCE,
    engine=st.integers(0, 1), during=st.booleans()), min_size=10, max_size=40)


def make_project(root: Path, store: str = "state/audit.db") -> Path:
    """A project folder with three local hosts and one oversight entry; its config path."""
    copy_fix("disk_space_cleanup.yml", root / "playbooks")
    write_inventory(root, INVENTORY)
    catalog = {"version": 1, "remediations": [{
        "name": "fix", "match": {"alertname": "Fix"}, "playbook": "disk_space_cleanup.yml",
        "stage": "oversight", "timeout": 300, "guardrails": GUARDRAILS}]}
    (root / "remediations.yml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    (root / "remediator.yml").write_text(f"store: {store}\nruns: state/runs\n"
                                         f"cache: {INVENTORY_CACHE}\n")
    return root / "remediator.yml"


@dataclass
class Stream:
    """Feeds steps to two engines, delivering ``during`` steps from inside a running plan."""

    clock: FakeClock
    engines: list[Any] = field(default_factory=list)
    queue: deque[Step] = field(default_factory=deque)
    incident: dict[str, str] = field(default_factory=dict)  # fingerprint -> current starts_at
    delivered: list[tuple[str, str, str]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    starts: list[tuple[datetime, RunPlan]] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    overlaps: list[str] = field(default_factory=list)

    def deliver(self, step: Step) -> None:
        """Advance the clock and hand one alert to the step's engine."""
        self.clock.advance(step.advance)
        starts_at = self.incident.setdefault(step.fingerprint, self.clock().isoformat())
        if step.status == "resolved":
            del self.incident[step.fingerprint]  # the next firing is a new incident
        self.delivered.append((step.fingerprint, starts_at, step.status))
        self.records += self.engines[step.engine].handle([alert(
            "Fix", step.host, status=step.status, fingerprint=step.fingerprint,
            starts_at=starts_at)])

    def on_run(self, plan: RunPlan) -> None:
        """A run starts: note its hosts, deliver the queued mid-run steps, take its time."""
        self.starts.append((self.clock(), plan))
        self.overlaps += [h for h in plan.hosts if h in self.running]
        self.running.update(plan.hosts)
        while self.queue and self.queue[0].during:
            self.deliver(self.queue.popleft())
        self.clock.advance(RUN_SECONDS)
        self.running.difference_update(plan.hosts)

    def run(self) -> None:
        """Deliver every step."""
        while self.queue:
            self.deliver(self.queue.popleft())


def stream(backend: str, steps: list[Step], body: Callable[[Stream, Any], None]) -> None:
    """Feed ``steps`` through two engines over a fresh store, then check ``body``."""
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        store = "state/audit.db"
        if backend == "postgresql":
            store = stack.enter_context(fresh_database())
        config = load(make_project(Path(tmp), store), env={})
        clock = FakeClock()
        feed = Stream(clock, queue=deque(steps))
        for _ in range(2):
            executor = RecordingExecutor(clock=clock, outcomes={"node-c": Outcome.FAILED},
                                         on_run=feed.on_run)
            feed.engines.append(engine_for(config, clock=clock, executor=executor))
        try:
            feed.run()
            body(feed, config)
        finally:
            for engine in feed.engines:
                engine.store.close()


PROPERTY = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@PROPERTY
@given(steps_strategy)
def test_no_host_runs_more_than_per_host_in_any_window(backend: str, steps: list[Step]) -> None:
    """Within any throttle window, a host is in at most per_host plans."""
    def check(feed: Stream, config: Any) -> None:
        by_host: dict[str, list[datetime]] = defaultdict(list)
        for started, plan in feed.starts:
            for host in plan.hosts:
                by_host[host].append(started)
        for host, times in by_host.items():
            for end in times:
                inside = [t for t in times if 0 <= (end - t).total_seconds() <= WINDOW]
                assert len(inside) <= PER_HOST, (host, times)

    stream(backend, steps, check)


@PROPERTY
@given(steps_strategy)
def test_never_two_runs_at_once_on_one_host(backend: str, steps: list[Step]) -> None:
    """No run starts on a host while another run of the entry is in progress there."""
    def check(feed: Stream, config: Any) -> None:
        assert feed.overlaps == []
        rows = query(config.store, "SELECT host, started_at, finished_at FROM guard_runs WHERE"
                     " entry = 'fix' ORDER BY host, started_at")
        assert len(rows) == sum(len(plan.hosts) for _, plan in feed.starts)
        assert all(end is not None for _, _, end in rows)  # every lock released
        for (host, _, end), (next_host, start, _) in pairwise(rows):
            if host == next_host:
                assert end <= start, rows

    stream(backend, steps, check)


@PROPERTY
@given(steps_strategy)
def test_every_alert_has_one_record_and_the_chain_holds(backend: str, steps: list[Step]) -> None:
    """Each delivered alert gets exactly one audit record, and the chain verifies."""
    def check(feed: Stream, config: Any) -> None:
        store = feed.engines[0].store
        count, _head = store.verify()
        stored = list(store.records())
        assert count == len(stored) == len(feed.records) == len(feed.delivered) == len(steps)
        assert len({r["id"] for r in stored}) == count
        assert Counter((r["alert"]["fingerprint"], r["alert"]["starts_at"], r["alert"]["status"])
                       for r in stored) == Counter(feed.delivered)

    stream(backend, steps, check)


@PROPERTY
@given(steps_strategy)
def test_a_firing_alert_runs_live_at_most_once(backend: str, steps: list[Step]) -> None:
    """One (fingerprint, starts_at) firing delivery is never fixed live twice."""
    def check(feed: Stream, config: Any) -> None:
        live = Counter((r["alert"]["fingerprint"], r["alert"]["starts_at"])
                       for r in feed.records if r["mode"] == Mode.LIVE and r["runner"])
        assert all(n == 1 for n in live.values()), live
        assert all(r["alert"]["status"] == "firing" for r in feed.records if r["runner"])
        assert sum(live.values()) == sum(p.mode is Mode.LIVE for _, p in feed.starts)

    stream(backend, steps, check)
