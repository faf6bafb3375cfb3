"""The intake queue on a real SQLite file: accept, claim, plan, recover."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from remediator.config import load
from remediator.sources import normalize
from remediator.store import open_intake
from remediator.store.intake import Accepted
from remediator.store.owners import owner_id
from remediator.store.sqlite_intake import IntakeQueue
from tests.conftest import Project, alertmanager_payload, disk_alert


def dead_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_accept_claim_done_and_replay_keys(tmp_path: Path) -> None:
    queue = IntakeQueue(tmp_path / "audit.db")
    ids = queue.accept([Accepted("2026-11-26T10:00:00Z", "alertmanager", "{}", None),
                        Accepted("2026-11-26T10:00:01Z", "generic", "[]", "hmac:abc"),
                        Accepted("2026-11-26T10:00:02Z", "generic", "[]", "hmac:abc")])
    assert ids == [1, 2, None]  # the second delivery with the same key is refused
    assert queue.accept([Accepted("2026-11-26T10:00:03Z", "generic", "[]", "hmac:abc")]) == [None]
    assert queue.oldest_queued() == "2026-11-26T10:00:00Z"
    claimed = queue.claim("w1", "2026-11-26T10:00:05Z", limit=1)
    assert [r.id for r in claimed] == [1]
    assert [r.id for r in queue.claim("w2", "2026-11-26T10:00:05Z")] == [2]
    assert queue.claim("w3", "2026-11-26T10:00:05Z") == []
    queue.done([1], "2026-11-26T10:00:06Z", {1: {"records": ["r1"], "duplicates": 0}})
    assert queue.row(1)["result"] == {"records": ["r1"], "duplicates": 0}
    queue.release([2])
    assert queue.counts() == {"queued": 1, "claimed": 0, "planned": 0, "done": 1}
    assert queue.prune("2026-11-26T10:00:01Z") == 1
    assert queue.counts()["done"] == 0


def test_recover_requeues_claimed_rows_and_leaves_live_owners_alone(tmp_path: Path) -> None:
    queue = IntakeQueue(tmp_path / "audit.db")
    queue.accept([Accepted("2026-11-26T10:00:00Z", "generic", "[]") for _ in range(3)])
    queue.claim(owner_id(dead_pid()), "2026-11-26T10:00:01Z", limit=1)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        queue.claim(owner_id(live.pid), "2026-11-26T10:00:01Z", limit=1)
        requeued, orphans = queue.recover()
        assert (requeued, orphans) == (1, [])
        assert [queue.row(i)["state"] for i in (1, 2, 3)] == ["queued", "claimed", "queued"]
    finally:
        live.kill()
        live.wait()


def test_a_planned_row_of_a_dead_worker_is_recorded_as_interrupted(project: Project) -> None:
    """Plan inside the decision transaction, 'die' before running, recover in a new engine."""
    runs = project.fake_runs()
    project.write_catalog({"name": "noop-fix", "match": {"alertname": "DiskSpaceLow"},
                           "playbook": "noop.yml", "stage": "oversight",
                           "guardrails": {"cooldown": 0}})
    config = load(project.config)
    queue = open_intake(config.store)
    payload = alertmanager_payload([disk_alert(), disk_alert("demo-web-02")])
    [rid] = queue.accept([Accepted("2026-11-26T10:00:00Z", "alertmanager",
                                   json.dumps(payload))])
    assert rid is not None
    queue.claim(owner_id(dead_pid()), "2026-11-26T10:00:01Z")
    engine = project.engine()
    alerts = normalize(payload, "alertmanager")
    items, batches = engine.plan_groups(
        [(alerts, lambda session, plan: session.intake_planned([rid], plan))])
    assert [b.hosts for b in batches] == [["demo-web-01", "demo-web-02"]]
    assert queue.row(rid)["state"] == "planned"  # committed with the claims; nothing ran
    engine.store.close()

    requeued, [orphan] = queue.recover()
    assert requeued == 0 and orphan.ids == (rid,)
    assert runs.plans == []
    survivor = project.engine()
    records = survivor.recover(orphan.plan, "interrupted: test")
    assert [r["id"] for r in records] == [i.record_id for i in items]
    assert {r["outcome"] for r in records} == {"interrupted"}
    assert all("interrupted: test" in r["decision"]["notes"] for r in records)
    assert survivor.recover(orphan.plan, "again") == []  # already on the chain
    # the hosts are free again: the next alert for them runs
    again = survivor.handle(normalize(alertmanager_payload(
        [{**disk_alert(), "fingerprint": "fp-next", "startsAt": "2026-11-26T11:00:00Z"}]),
        "alertmanager"))
    assert again[0]["outcome"] == "succeeded", again[0]["decision"]
    assert [p.hosts for p in runs.plans] == [("demo-web-01",)]
    assert survivor.store.verify()[0] == 3


def test_the_write_gate_lets_urgent_writers_overtake() -> None:
    """While one write holds the gate, an urgent writer that arrives after a normal one still
    goes first (the receiver's commit before a worker's next transaction)."""
    import threading
    import time

    from remediator.store.sqlite_tx import WriteGate

    gate = WriteGate()
    order: list[str] = []
    holding = gate.hold()
    holding.__enter__()

    def writer(name: str, urgent: bool) -> None:
        with gate.hold(urgent):
            order.append(name)

    normal = threading.Thread(target=writer, args=("normal", False))
    normal.start()
    while not gate._cond._waiters:  # type: ignore[attr-defined]  # normal is waiting
        time.sleep(0.001)
    urgent = threading.Thread(target=writer, args=("urgent", True))
    urgent.start()
    while gate._urgent == 0:
        time.sleep(0.001)
    holding.__exit__(None, None, None)
    normal.join(5)
    urgent.join(5)
    assert order == ["urgent", "normal"]


def test_groups_decide_in_separate_transactions_but_share_one_run(project: Project) -> None:
    """A worker's claim is decided in groups (short writes) and still runs once per entry;
    each group's plan holds its own drafts and the hosts it reserved."""
    runs = project.fake_runs()
    project.write_catalog({"name": "noop-fix", "match": {"alertname": "DiskSpaceLow"},
                           "playbook": "noop.yml", "stage": "oversight"})
    engine = project.engine()
    plans: list[dict[str, object]] = []
    first = normalize(alertmanager_payload([disk_alert()]), "alertmanager")
    second = normalize(alertmanager_payload([{**disk_alert("demo-web-02"), "fingerprint": "x"}]),
                       "alertmanager")
    records = engine.handle_groups([
        (first, lambda session, plan: plans.append(plan)),
        (second, lambda session, plan: plans.append(plan))])
    assert len({r["runner"]["ident"] for r in records}) == 1  # one coalesced run
    assert {r["outcome"] for r in records} == {"succeeded"}
    assert [[d["id"] for d in p["drafts"]] for p in plans] == [[r["id"]] for r in records]
    assert [p["batches"][0]["hosts"] for p in plans] == [["demo-web-01"], ["demo-web-02"]]
    assert [p.hosts for p in runs.plans] == [("demo-web-01", "demo-web-02")]


def test_the_guard_mirror_reloads_only_for_guard_changes_and_stays_bounded(
        tmp_path: Path) -> None:
    """Intake commits from another connection leave the mirror alone; another connection's
    guard write is seen, reloading only the entries (and claim partitions) it changed, when a
    session first reads them; runs older than the horizon leave the mirror as time moves on."""
    from datetime import UTC, datetime, timedelta

    from remediator.limits import Guardrails
    from remediator.store.sqlite import SqliteStore

    path = tmp_path / "audit.db"
    store, other = SqliteStore(path), SqliteStore(path)
    queue = IntakeQueue(path)
    loads = 0
    original = store._guard.load

    def counting(db: object, horizon: datetime) -> None:
        nonlocal loads
        loads += 1
        original(db, horizon)  # type: ignore[arg-type]

    store._guard.load = counting  # type: ignore[method-assign]
    reloaded: list[set[str]] = []
    original_reload = store._guard.reload

    def counting_reload(db: object, entries: set[str]) -> None:
        reloaded.append(set(entries))
        original_reload(db, entries)  # type: ignore[arg-type]

    store._guard.reload = counting_reload  # type: ignore[method-assign]
    t0 = datetime(2026, 11, 26, 10, tzinfo=UTC)
    with store.guard(t0, 3600) as session:
        session.reserve("r1", "fix", "web-01", "live", t0, 600)
    assert loads == 1
    queue.accept([Accepted("2026-11-26T10:00:00Z", "generic", "[]")])  # not guard state
    with store.guard(t0, 3600) as session:
        assert session.facts("fix", "web-01", Guardrails(), t0).in_progress == "r1"
    assert loads == 1
    with other.guard(t0, 3600) as session:  # another connection changes guard state
        session.reserve("r2", "fix", "web-02", "live", t0, 600)
    with store.guard(t0, 3600) as session:
        assert session.facts("fix", "web-02", Guardrails(), t0).in_progress == "r2"
    assert (loads, reloaded) == (1, [{"fix"}])  # only the entry the other one changed
    with other.guard(t0, 3600) as session:
        session.reserve("r3", "other", "web-03", "live", t0, 600)
        session.claim("fp", None, "firing", "live", "rec-3", t0, entry="~Noise")
    with store.guard(t0, 3600) as session:
        assert session.facts("fix", "web-01", Guardrails(), t0).in_progress == "r1"
    assert (loads, reloaded) == (1, [{"fix"}])  # what a session does not read is not read
    with store.guard(t0, 3600) as session:
        assert session.seen("fp", None, "firing", "live", entry="~Noise") == "rec-3"
        assert session.facts("other", "web-03", Guardrails(), t0).in_progress == "r3"
        assert session.facts("other", "web-04", Guardrails(), t0).in_progress is None
    assert (loads, reloaded) == (1, [{"fix"}, {"~Noise"}, {"other"}])  # once each
    store.finish_runs([("r1", "web-01", "succeeded", (t0 + timedelta(minutes=1)).isoformat())])
    other.finish_runs([(ident, host, "succeeded", (t0 + timedelta(minutes=1)).isoformat())
                       for ident, host in (("r2", "web-02"), ("r3", "web-03"))])
    later = t0 + timedelta(hours=3)
    with store.guard(later, 3600) as session:
        assert session.facts("fix", "web-01", Guardrails(), later).host_runs == ()
    assert loads == 2
    assert store._guard.by_key == {}  # nothing older than the horizon is kept
