"""`remediator simulate --history`: known-answer replays through the real decision code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from remediator import planner as planner_mod

from ..conftest import Project

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def entry(stage: str = "observe", **guardrails: Any) -> dict[str, Any]:
    """The DiskSpaceLow entry (its playbook never runs here) with these guardrails."""
    return {"name": "disk", "match": {"alertname": "DiskSpaceLow"},
            "playbook": "disk_space_cleanup.yml", "stage": stage,
            "vars": {"disk_mountpoint": {"from": "labels.mountpoint", "default": "/"}},
            "guardrails": guardrails}


def webhook(fingerprint: str, start: datetime, end: datetime | None = None, *,
            name: str = "DiskSpaceLow", host: str | None = "demo-web-01") -> str:
    """One logged Alertmanager webhook line: the alert firing, or resolved at ``end``."""
    labels = {"alertname": name, **({"instance": f"{host}:9100"} if host else {})}
    alert = {"status": "firing" if end is None else "resolved", "labels": labels,
             "annotations": {}, "startsAt": start.isoformat(), "fingerprint": fingerprint,
             "endsAt": "0001-01-01T00:00:00Z" if end is None else end.isoformat()}
    return json.dumps({"version": "4", "groupKey": "{}:{}", "status": alert["status"],
                       "alerts": [alert]})


def history(path: Path, incidents: list[tuple[str, datetime, datetime | None, dict[str, Any]]]
            ) -> Path:
    """A webhook log with each incident's firing line, and its resolved line if it ended."""
    lines = [(start, webhook(fp, start, **kw)) for fp, start, _, kw in incidents]
    lines += [(end, webhook(fp, start, end, **kw)) for fp, start, end, kw in incidents if end]
    path.write_text("".join(line + "\n" for _, line in sorted(lines, key=lambda x: x[0])))
    return path


@pytest.fixture(autouse=True)
def observe(project: Project) -> None:
    """Every test starts from the DiskSpaceLow entry at observe."""
    project.write_catalog(entry())


def simulate(project: Project, *args: str) -> dict[str, Any]:
    """Run `simulate --json` and return its data (asserting exit 0)."""
    result = project.cli("simulate", "--json", *args)
    assert result.exit_code == 0, result.output + result.stderr
    return dict(json.loads(result.stdout))


def reasons(data: dict[str, Any]) -> dict[str, int]:
    return {r["reason"]: r["total"] for r in data["reasons"]}


def test_throttle_known_answer(project: Project, tmp_path: Path) -> None:
    """10 alerts for one host, 15 minutes apart, throttle 3 runs per host per hour: the
    runs and the throttled ones are exactly what a sliding window over the runs gives."""
    project.write_catalog(entry("observe", throttle={"per_host": 3, "window": 3600}))
    times = [T0 + timedelta(minutes=15 * n) for n in range(10)]
    path = history(tmp_path / "h.jsonl", [(f"f{n}", t, t + timedelta(minutes=5), {})
                                          for n, t in enumerate(times)])
    runs: list[datetime] = []
    throttled = 0
    for t in times:  # the expected answer, computed here on its own
        if sum(1 for r in runs if r >= t - timedelta(seconds=3600)) >= 3:
            throttled += 1
        else:
            runs.append(t)
    assert (len(runs), throttled) == (6, 4)
    data = simulate(project, "--history", str(path))
    assert data["actions"] == {"run": len(runs), "pending": 0, "skip": 0,
                               "escalate": throttled}
    assert reasons(data) == {"stage": len(runs), "throttle-host": throttled}

    assert data["runs"] == [{"stage": "observe", "mode": "check", "alerts": len(runs),
                             "runs": len(runs), "hosts": len(runs)}]
    assert data["deliveries"] == {"firing": 10, "resolved": 10}
    assert data["resolved"] == {"resolved": 10}
    assert data["days"] == [{"day": "2026-03-02", "run": len(runs), "pending": 0, "skip": 0,
                             "escalate": throttled, "runs": len(runs)}]
    assert data["state"] == "empty" and data["incidents"] == 10


def test_cooldown_after_live_runs(project: Project, tmp_path: Path) -> None:
    """oversight, cooldown 600 s: alerts every 2 minutes run only when 10 minutes have
    passed since the last live run ended (runs end at once in a simulation)."""
    project.write_catalog(entry("oversight", cooldown=600, throttle={"per_host": 100}))
    times = [T0 + timedelta(minutes=2 * n) for n in range(8)]
    path = history(tmp_path / "h.jsonl", [(f"f{n}", t, None, {}) for n, t in enumerate(times)])
    ran: list[datetime] = []
    for t in times:
        if not ran or t >= ran[-1] + timedelta(seconds=600):
            ran.append(t)
    data = simulate(project, "--history", str(path))
    assert data["actions"]["run"] == len(ran) == 2
    assert reasons(data) == {"stage": 2, "cooldown": 6}
    assert data["actions"]["skip"] == 6
    assert data["runs"] == [{"stage": "oversight", "mode": "live", "alerts": 2, "runs": 2,
                             "hosts": 2}]
    assert data["entries"] == [{"entry": "disk", "stage": "oversight", "run": 2, "pending": 0,
                                "skip": 6, "escalate": 0, "check": 0, "live": 2}]


def test_unmatched_unknown_and_targetless_alerts(project: Project, tmp_path: Path) -> None:
    """No entry matches ServiceDown; db-09 is no inventory host; an alert without an
    instance label has no target. One of each."""
    path = history(tmp_path / "h.jsonl", [
        ("a", T0, None, {"name": "ServiceDown"}),
        ("b", T0 + timedelta(minutes=1), None, {"host": "db-09"}),
        ("c", T0 + timedelta(minutes=2), None, {"host": None}),
        ("d", T0 + timedelta(minutes=3), None, {}),
    ])
    data = simulate(project, "--history", str(path))
    assert reasons(data) == {"no-entry": 1, "unknown-host": 1, "no-target": 1,
                             "stage": 1}
    assert data["actions"] == {"run": 1, "pending": 0, "skip": 1, "escalate": 2}
    assert [e["entry"] for e in data["entries"]] == ["(no entry)", "disk"]


def test_alerts_at_one_instant_share_one_run(project: Project, tmp_path: Path) -> None:
    """Two hosts' alerts at the same instant: two decisions, one coalesced playbook run."""
    path = history(tmp_path / "h.jsonl", [("a", T0, None, {}),
                                          ("b", T0, None, {"host": "demo-web-02"})])
    data = simulate(project, "--history", str(path))
    assert data["runs"] == [{"stage": "observe", "mode": "check", "alerts": 2, "runs": 1,
                             "hosts": 2}]


def test_human_initiated_is_pending_and_max_stage_caps(project: Project, tmp_path: Path
                                                       ) -> None:
    """A human-initiated entry previews and waits for a person; --max-stage observe turns
    the same history into check runs."""
    project.write_catalog(entry("human-initiated"))
    path = history(tmp_path / "h.jsonl", [("a", T0, None, {})])
    assert simulate(project, "--history", str(path))["actions"]["pending"] == 1
    result = project.cli("--max-stage", "observe", "simulate", "--json", "--history",
                         str(path))
    assert json.loads(result.stdout)["runs"][0]["stage"] == "observe"


def test_days_and_window_filters(project: Project, tmp_path: Path) -> None:
    """Per-day counts over three days; --since/--until keep the incidents started inside."""
    project.write_catalog(entry("observe", throttle={"per_host": 100, "per_entry": 100}))
    days = [T0, T0 + timedelta(hours=1), T0 + timedelta(days=1), T0 + timedelta(days=3)]
    path = history(tmp_path / "h.jsonl", [(f"f{n}", t, None, {}) for n, t in enumerate(days)])
    data = simulate(project, "--history", str(path))
    assert [(d["day"], d["run"], d["runs"]) for d in data["days"]] == [
        ("2026-03-02", 2, 2), ("2026-03-03", 1, 1), ("2026-03-04", 0, 0), ("2026-03-05", 1, 1)]
    part = simulate(project, "--history", str(path), "--since", "2026-03-02T09:30:00Z",
                    "--until", "2026-03-05T09:00:00Z")  # --until excludes that instant
    assert (part["incidents"], part["first"], part["last"]) == (
        2, "2026-03-02T10:00:00+00:00", "2026-03-03T09:00:00+00:00")


def test_pagerduty_export_with_a_host_column(project: Project, tmp_path: Path) -> None:
    """A PagerDuty CSV: its host column is the target (the instance label the entry reads)."""
    path = tmp_path / "incidents.csv"
    path.write_text("Incident ID,Title,Created On,Resolved On,Host\n"
                    "P1,DiskSpaceLow,2026-03-02T09:00:00Z,2026-03-02T09:30:00Z,demo-web-02\n"
                    "P2,DiskSpaceLow,2026-03-02T09:05:00Z,,\n")
    data = simulate(project, "--history", str(path))
    assert reasons(data) == {"stage": 1, "no-target": 1}
    assert data["deliveries"] == {"firing": 2, "resolved": 1}


def test_bad_lines_stop_or_are_skipped(project: Project, tmp_path: Path) -> None:
    """A broken line exits 2 naming file:line; --skip-bad counts it and goes on."""
    path = history(tmp_path / "h.jsonl", [("a", T0, None, {})])
    path.write_text(path.read_text() + "{broken\n")
    result = project.cli("simulate", "--history", str(path))
    assert result.exit_code == 2
    assert f"{path}:2:2: not valid JSON" in result.stderr
    data = simulate(project, "--history", str(path), "--skip-bad")
    assert data["skipped_rows"] == 1 and data["incidents"] == 1


def test_text_output_shows_the_tables(project: Project, tmp_path: Path) -> None:
    path = history(tmp_path / "h.jsonl", [("a", T0, None, {})])
    result = project.cli("simulate", "--history", str(path), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"1 incidents from {path}," in " ".join(out.split())  # wrapped between words
    for title in ("Decisions by action", "Runs by stage and mode", "Why", "By entry", "By day"):
        assert f"\n{title}" in out
    runs = out.split("\nRuns by stage and mode\n", 1)[1].splitlines()
    assert runs[0].split() == ["stage", "mode", "alerts", "runs", "hosts"]
    assert set(runs[1]) <= {"─", " "}
    assert runs[2].split() == ["observe", "check", "1", "1", "1"]


@pytest.mark.sqlite_only
def test_store_state_without_a_store_is_exit_5(project: Project, tmp_path: Path) -> None:
    """--from-store-state needs the audit store; without one, exit 5 naming it (none made)."""
    path = history(tmp_path / "h.jsonl", [("a", T0, None, {})])
    result = project.cli("simulate", "--history", str(path), "--from-store-state")
    assert result.exit_code == 5
    assert f"{project.store_path}: no audit store to copy the guardrail state from" in \
        result.stderr
    assert not project.store_path.exists()


def test_rewording_every_reason_changes_no_count(project: Project, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """simulate counts by reason code: with every decision's prose reworded (the policy's
    and the guardrails'), the actions, codes and resolutions are the same."""
    project.write_catalog(entry("observe", throttle={"per_host": 3, "window": 3600}))
    times = [T0 + timedelta(minutes=15 * n) for n in range(10)]
    path = history(tmp_path / "h.jsonl", [(f"f{n}", t, t + timedelta(minutes=5), {})
                                          for n, t in enumerate(times)])
    before = simulate(project, "--history", str(path))

    def reworded(decide: Any) -> Any:
        return lambda *args: decide(*args).evolve(reason="reworded for people")

    monkeypatch.setattr(planner_mod, "decide", reworded(planner_mod.decide))
    monkeypatch.setattr(planner_mod, "apply_guardrails", reworded(planner_mod.apply_guardrails))
    after = simulate(project, "--history", str(path))
    assert {r["example"] for r in after["reasons"]} == {"reworded for people"}
    assert reasons(before) == reasons(after) == {"stage": 6, "throttle-host": 4}
    assert (after["actions"], after["resolved"]) == (before["actions"], before["resolved"])


def test_a_pagerduty_history_without_the_labels_an_entry_needs_says_so(
        project: Project) -> None:
    """The recorded Alertmanager-titled PagerDuty export against an entry needing severity:
    the HighLoad incidents are counted as unjudgeable for that entry, not as "no entry
    matches", and the text names the entry and the missing label."""
    project.write_catalog({"name": "load", "playbook": "disk_space_cleanup.yml",
                           "match": {"alertname": "HighLoad",
                                     "matchers": ['severity="warning"']}})
    export = Path(__file__).parent.parent / "data" / "history" / "pagerduty-alertmanager.csv"
    high_load = sum(1 for line in export.read_text().splitlines() if "] HighLoad " in line)
    data = simulate(project, "--history", str(export))
    assert data["incidents"] == 381
    has = ["alertname", "escalation_policy", "incident_number", "instance", "service",
           "urgency"]
    assert data["cannot_judge"] == [{"entry": "load", "needs": ["severity"], "incidents":
                                     high_load, "history_has": has}]
    assert reasons(data) == {"missing-labels": high_load, "no-entry": 381 - high_load}
    text = project.cli("simulate", "--history", str(export)).stdout
    assert (f"entry load: it needs label severity; this history ({export}) has "
            f"{', '.join(has)} only: {high_load} incidents could not be matched"
            ) in " ".join(text.split())
