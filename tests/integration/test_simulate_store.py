"""History from a store filled by the real commands; simulate never moves the real store, and can
start from its guardrail state (open breakers, runs in progress)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from remediator.common import parse_time
from remediator.config import load
from remediator.history import read
from remediator.models import Mode, Outcome
from remediator.testing import FakeClock, RecordingExecutor, alert, engine_for

from ..conftest import Project, alertmanager_payload, disk_alert, disk_entry


def test_history_from_a_store_filled_by_the_commands(project: Project) -> None:
    """A human-initiated fix approved by ann (handle, approve: a check and a live run), then
    resolved: one incident a person acted on and automation fixed; an unmatched alert stays
    open."""
    runs = project.fake_runs()
    project.write_catalog(disk_entry("human-initiated"))
    (pending,) = project.handle(alertmanager_payload([disk_alert()]))
    assert pending["decision"]["action"] == "pending"
    approved = project.cli("approve", pending["id"], "--by", "ann")
    assert approved.exit_code == 0, approved.output
    assert [p.mode for p in runs.plans] == [Mode.CHECK, Mode.LIVE]
    (resolved,) = project.handle(alertmanager_payload([disk_alert(status="resolved")]))
    project.handle(alertmanager_payload([{"labels": {"alertname": "ServiceDown",
                                                     "instance": "demo-web-02:9100"},
                                          "fingerprint": "svc1"}]))
    fixed, still_open = read(None, store=project.location)
    assert (fixed.source, fixed.name, fixed.fingerprint, fixed.host) == (
        "store", "DiskSpaceLow", "fp0000", "demo-web-01")
    assert fixed.started == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert fixed.resolved == parse_time(resolved["created_at"])
    assert (fixed.human, fixed.automated) == (True, True)
    assert (still_open.name, still_open.resolved, still_open.host) == (
        "ServiceDown", None, "demo-web-02")
    assert (still_open.human, still_open.automated) == (False, False)


def fingerprint(project: Project) -> tuple[str, int, int, int]:
    """The store's sha256 (the SQLite file's bytes; a server's guard and record rows) and its
    records, guard runs and breakers counted."""
    tables = ("records", "guard_runs", "guard_breakers")
    if isinstance(project.location, Path):
        digest = hashlib.sha256(project.location.read_bytes()).hexdigest()
    else:
        rows = [project.query(f"SELECT * FROM {t} ORDER BY 1, 2")
                for t in (*tables, "guard_seen", "guard_gen", "requests")]
        digest = hashlib.sha256(repr(rows).encode()).hexdigest()
    counts = [project.query(f"SELECT count(*) FROM {t}")[0][0] for t in tables]
    return digest, counts[0], counts[1], counts[2]


def entry(stage: str = "oversight") -> dict[str, Any]:
    return disk_entry(stage, vars={"disk_mountpoint": {"from": "labels.mountpoint",
                                                       "default": "/"}})


def history(path: Path, host: str, start: datetime, count: int = 2) -> Path:
    """A webhook log: ``count`` DiskSpaceLow alerts for ``host``, an hour apart."""
    lines = []
    for n in range(count):
        at = (start + timedelta(hours=n)).isoformat()
        lines.append(json.dumps({"version": "4", "groupKey": "{}:{}", "alerts": [{
            "status": "firing", "labels": {"alertname": "DiskSpaceLow",
                                           "instance": f"{host}:9100"},
            "startsAt": at, "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"h{n}"}]}))
    path.write_text("\n".join(lines) + "\n")
    return path


def open_breaker(project: Project) -> None:
    """Three failed live runs (recorded through the engine) open the entry's breaker."""
    clock = FakeClock()
    engine = engine_for(load(project.config, env={}), clock=clock, executor=RecordingExecutor(
        clock=clock, outcomes={"demo-web-01": Outcome.FAILED}))
    for _ in range(3):
        engine.handle([alert("DiskSpaceLow", "demo-web-01")])
        clock.advance(1000)
    assert "disk-space-cleanup" in engine.store.breakers()
    engine.store.close()


def simulate(project: Project, *args: str) -> dict[str, Any]:
    result = project.cli("simulate", "--json", *args)
    assert result.exit_code == 0, result.output + result.stderr
    return dict(json.loads(result.stdout))


def test_real_store_unchanged_and_its_breaker_state_used(project: Project, tmp_path: Path
                                                         ) -> None:
    """With an open breaker in the real store: an empty scratch state runs live, the store's
    state holds the entry at human-initiated (pending); the real store's file and rows are
    the same afterwards, byte for byte."""
    project.write_catalog(entry())
    open_breaker(project)
    before = fingerprint(project)
    path = history(tmp_path / "h.jsonl", "demo-web-02", datetime(2026, 3, 2, 9, tzinfo=UTC))
    fresh = simulate(project, "--history", str(path))
    assert fresh["actions"]["run"] == 2 and fresh["state"] == "empty"
    assert fresh["runs"] == [{"stage": "oversight", "mode": "live", "alerts": 2, "runs": 2,
                              "hosts": 2}]
    held = simulate(project, "--history", str(path), "--from-store-state")
    assert held["state"] == "store"
    assert held["actions"]["pending"] == 2
    assert {r["reason"]: r["total"] for r in held["reasons"]} == {"breaker-open": 2}
    assert held["first"] == "2026-03-02T09:00:00+00:00"  # reported in the history's time
    moved = datetime.now(UTC) - datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert abs(held["shifted_by_s"] - moved.total_seconds()) < 120
    assert fingerprint(project) == before


def test_a_run_in_progress_in_the_real_store_locks_its_host(project: Project, tmp_path: Path
                                                            ) -> None:
    """While a real run holds (entry, demo-web-01), a replay from the store's state starting
    now is locked out of that host; from an empty state it is not."""
    project.write_catalog(entry())
    clock = FakeClock(datetime.now(UTC))
    seen: dict[str, dict[str, Any]] = {}
    path = history(tmp_path / "h.jsonl", "demo-web-01", datetime(2026, 3, 2, 9, tzinfo=UTC), 1)

    def during(plan: Any) -> None:
        seen["store"] = simulate(project, "--history", str(path), "--from-store-state")
        seen["empty"] = simulate(project, "--history", str(path))

    engine = engine_for(load(project.config, env={}), clock=clock,
                        executor=RecordingExecutor(clock=clock, on_run=during))
    engine.handle([alert("DiskSpaceLow", "demo-web-01")])
    engine.store.close()
    assert {r["reason"]: r["total"] for r in seen["store"]["reasons"]} == {"locked": 1}
    assert seen["empty"]["actions"]["run"] == 1
