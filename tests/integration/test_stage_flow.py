"""Each trust stage end to end: what ran, who was told, what the record says; approvals.

No playbook runs here: a RecordingExecutor stands in for ansible-runner and records each plan
(its mode, its hosts), so the flow is what is tested. The real runs of each stage are in
test_handle_e2e.py."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from remediator.errors import RefusedError
from remediator.executor import RunPlan
from remediator.models import Mode, Outcome
from remediator.sources import normalize
from remediator.testing import RecordingExecutor

from ..conftest import Project, alertmanager_payload, disk_alert, disk_entry


@pytest.fixture(autouse=True)
def runs(project: Project) -> RecordingExecutor:
    """The plans the project's commands and engines would have run."""
    return project.fake_runs()


def modes(runs: RecordingExecutor) -> list[Mode]:
    """The mode of each run so far."""
    return [plan.mode for plan in runs.plans]


@pytest.fixture
def notified(project: Project, sink) -> Project:
    """The project with a signed webhook channel (to the sink) as the default channel."""
    project.configure({"notifications": {
        "channels": {"hook": {"type": "webhook", "url": sink.url + "/hook", "secret": "k"}},
        "default": ["hook"], "timeout": 2, "retries": 2, "backoff": 0.01}})
    project.sink = sink  # type: ignore[attr-defined]
    return project


def events(project: Project) -> list[dict]:
    """What the webhook receiver got: (event kind, record) pairs."""
    return project.sink.bodies("/hook")  # type: ignore[attr-defined]


def test_observe_notifies_what_would_have_changed(notified: Project,
                                                 runs: RecordingExecutor) -> None:
    """observe: a check run, and the person is told the diff of what the fix would do."""
    (record,) = notified.handle(alertmanager_payload([disk_alert()]))
    assert record["mode"] == "check"
    assert modes(runs) == [Mode.CHECK]
    (sent,) = events(notified)
    assert sent["event"] == "would-change"
    assert sent["record"]["id"] == record["id"]
    assert record["notifications"] == [{"channel": "hook", "type": "webhook",
                                         "event": "would-change", "status": "sent",
                                         "attempts": 1, "error": None}]


def test_oversight_always_notifies_the_result(notified: Project,
                                             runs: RecordingExecutor) -> None:
    """oversight: a live run, and the person is told the outcome and changed tasks."""
    notified.write_catalog(disk_entry("oversight"))
    (_record,) = notified.handle(alertmanager_payload([disk_alert()]))
    assert modes(runs) == [Mode.LIVE]
    (sent,) = events(notified)
    assert (sent["event"], sent["record"]["outcome"], sent["record"]["mode"]) == (
        "result", "succeeded", "live")
    assert sent["record"]["hosts"]["demo-web-01"]["changed"] >= 1


def test_fallback_is_silent_on_success(notified: Project, runs: RecordingExecutor) -> None:
    """fallback: a successful live run tells nobody."""
    notified.write_catalog(disk_entry("fallback"))
    (record,) = notified.handle(alertmanager_payload([disk_alert()]))
    assert record["outcome"] == "succeeded"
    assert modes(runs) == [Mode.LIVE]
    assert events(notified) == []
    assert record["notifications"] == []


def test_fallback_calls_a_person_on_failure_and_unknown_target(notified: Project,
                                                               runs: RecordingExecutor) -> None:
    """fallback: a failed run and an unknown target are both notified as failures."""
    notified.write_catalog(disk_entry("fallback"))
    runs.outcomes["demo-web-01"] = Outcome.FAILED
    failed, unknown = notified.handle(alertmanager_payload([disk_alert(), disk_alert("db-9")]))
    assert failed["outcome"] == "failed"
    assert unknown["decision"]["action"] == "escalate"
    assert [e["event"] for e in events(notified)] == ["failure", "failure"]


def test_fallback_refire_after_a_fix_escalates_without_running(notified: Project) -> None:
    """The same alert still firing after a successful fix is escalated, not fixed again."""
    notified.write_catalog(disk_entry("fallback"))
    notified.configure({"refire_settle": 600})
    payload = alertmanager_payload([disk_alert()])
    (first,) = notified.handle(payload)
    assert first["outcome"] == "succeeded"
    (redelivered,) = notified.handle(payload)  # monitoring cannot have seen the fix yet
    assert redelivered["decision"]["reason"].startswith("duplicate")
    # past refire_settle, without waiting for it (a 1 s settle failed on a loaded machine)
    text = notified.config.read_text(encoding="utf-8")
    notified.config.write_text(text.replace("refire_settle: 600", "refire_settle: 0"),
                               encoding="utf-8")
    (again,) = notified.handle(payload)
    assert (again["decision"]["action"], again["mode"]) == ("escalate", "none")
    assert f"after the fix {first['id']}" in again["decision"]["reason"]
    (later,) = notified.handle(payload)  # escalated once, not once per re-delivery
    assert later["decision"]["reason"].startswith("duplicate")
    assert [e["event"] for e in events(notified)] == ["failure"]


def test_max_stage_brake_shows_in_the_notified_record(notified: Project) -> None:
    """A record the brake changed says so, and so does its notification."""
    notified.write_catalog(disk_entry("fallback"))
    result = notified.cli("--max-stage", "observe", "handle", "--json", "-",
                          stdin=json.dumps(alertmanager_payload([disk_alert()])))
    (record,) = json.loads(result.stdout)
    assert record["decision"]["max_stage"] == "observe"
    (sent,) = events(notified)
    assert sent["event"] == "would-change"
    assert sent["record"]["decision"]["max_stage"] == "observe"


def pending_request(project: Project) -> dict:
    """Handle the disk alert under human-initiated; return the pending record."""
    project.write_catalog(disk_entry("human-initiated"))
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    assert record["decision"]["action"] == "pending"
    return record


def test_human_initiated_approval_runs_live_once(notified: Project,
                                                runs: RecordingExecutor) -> None:
    """pending -> approve starts the live run as that person; approving again runs nothing."""
    runs.task = "Remove the stale files"
    request = pending_request(notified)
    assert modes(runs) == [Mode.CHECK]
    listing = notified.cli("pending", "--json")
    assert listing.exit_code == 0, listing.output
    listed = json.loads(listing.stdout)
    assert [r["id"] for r in listed] == [request["id"]]
    assert listed[0]["would_change"]["demo-web-01"] == ["Remove the stale files"]
    result = notified.cli("approve", request["id"][:12], "--by", "alice", "--json", "-q")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert (run["mode"], run["initiated_by"], run["outcome"]) == ("live", "alice", "succeeded")
    assert run["request"]["id"] == request["id"]
    assert run["alert"]["fingerprint"] == request["alert"]["fingerprint"]
    assert modes(runs) == [Mode.CHECK, Mode.LIVE]
    assert runs.plans[1].hosts == ("demo-web-01",)
    again = notified.cli("approve", request["id"], "--by", "bob", "--json", "-q")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["id"] == run["id"]
    assert "already approved" in again.stderr
    live_runs = [r for r in notified.store().records() if r["mode"] == "live"]
    assert len(live_runs) == 1
    assert modes(runs) == [Mode.CHECK, Mode.LIVE]
    assert json.loads(notified.cli("pending", "--json").stdout) == []
    kinds = [(e["event"], e["record"]["id"]) for e in events(notified)]
    assert kinds == [("approval-needed", request["id"]), ("result", run["id"])]


def test_deny_closes_the_request_and_is_recorded(notified: Project,
                                                runs: RecordingExecutor) -> None:
    """deny runs nothing, records who denied and why, and approval is then refused."""
    request = pending_request(notified)
    result = notified.cli("deny", request["id"], "--by", "carol", "--reason", "by hand",
                          "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert (record["decision"]["action"], record["initiated_by"]) == ("skip", "carol")
    assert "denied by carol: by hand" in record["decision"]["reason"]
    refused = notified.cli("approve", request["id"], "--by", "dave")
    assert refused.exit_code == 4
    assert "denied by carol" in refused.stderr
    assert modes(runs) == [Mode.CHECK]
    assert [e["event"] for e in events(notified)] == ["approval-needed", "denied"]


def test_a_request_expires(notified: Project) -> None:
    """Past its approval_ttl a request cannot be approved; pending lists it no more."""
    request = pending_request(notified)
    later = datetime.now(UTC) + timedelta(hours=5)
    engine = notified.engine(clock=lambda: later)
    assert engine.pending() == []
    with pytest.raises(RefusedError, match="expired"):
        engine.approve(request["id"], by="erin")
    (closed,) = engine.pending(include_closed=True)
    assert closed.state == "expired"


def test_approve_after_the_alert_resolved_is_refused(notified: Project,
                                                     runs: RecordingExecutor) -> None:
    """Once the alert resolves, its request cannot be approved: a clear message, exit 4."""
    request = pending_request(notified)
    notified.handle(alertmanager_payload([disk_alert(status="resolved")]))
    result = notified.cli("approve", request["id"], "--by", "frank")
    assert result.exit_code == 4
    assert "the alert has since resolved" in result.stderr
    assert modes(runs) == [Mode.CHECK]


def test_approval_is_refused_during_a_change_freeze(notified: Project,
                                                    runs: RecordingExecutor) -> None:
    """Under --max-stage observe an approval is refused and the request stays pending."""
    request = pending_request(notified)
    result = notified.cli("--max-stage", "observe", "approve", request["id"], "--by", "gina")
    assert result.exit_code == 4
    assert "change freeze" in result.stderr
    assert modes(runs) == [Mode.CHECK]
    assert json.loads(notified.cli("pending", "--json").stdout)[0]["state"] == "pending"


def test_concurrent_approvals_run_once(notified: Project, runs: RecordingExecutor) -> None:
    """Two engines approving the same request: one runs, the other gets that run."""
    request = pending_request(notified)
    first = notified.engine()
    second = notified.engine()
    record, ran = first.approve(request["id"], by="h1")
    other, ran_again = second.approve(request["id"], by="h2")
    assert (ran, ran_again) == (True, False)
    assert other["id"] == record["id"]
    assert modes(runs) == [Mode.CHECK, Mode.LIVE]


def test_an_approval_during_the_winners_run_shows_that_run(notified: Project,
                                                            runs: RecordingExecutor) -> None:
    """Two people approve at the same moment: the one who lost waits for the winner's run
    and is shown it (not an error), and the fix runs once."""
    request = pending_request(notified)
    started = threading.Event()

    def slow(plan: RunPlan) -> None:
        if plan.mode is Mode.LIVE:
            started.set()
            time.sleep(1.0)

    runs.on_run = slow
    winner = notified.engine()
    results: list[tuple[dict[str, Any], bool]] = []
    thread = threading.Thread(target=lambda: results.append(
        winner.approve(request["id"], by="h1")))
    thread.start()
    assert started.wait(30)
    other, ran_again = notified.engine().approve(request["id"], by="h2")
    thread.join(30)
    ((record, ran),) = results
    assert (ran, ran_again) == (True, False)
    assert other["id"] == record["id"] and other["outcome"] == "succeeded"
    assert modes(runs) == [Mode.CHECK, Mode.LIVE]


def test_notification_failure_never_loses_the_result(project: Project) -> None:
    """A channel that cannot be reached is recorded as failed; the run's record is intact."""
    project.configure({"notifications": {
        "channels": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/x"}},
        "timeout": 1, "retries": 2, "backoff": 0.01}})
    project.write_catalog(disk_entry("oversight"))
    engine = project.engine()
    (record,) = engine.handle(normalize(alertmanager_payload([disk_alert()])))
    assert record["outcome"] == "succeeded"
    assert record["notifications"][0]["status"] == "failed"
    assert record["notifications"][0]["attempts"] == 2
    assert project.store().get(record["id"])["notifications"] == record["notifications"]


def test_an_approval_while_its_host_is_being_fixed_runs_nothing_and_can_be_given_again(
        project: Project, runs: RecordingExecutor) -> None:
    """Approved while a person's live run holds the host: nothing runs, the record says so
    (its request link: locked), the request stays pending, and the same approver approving
    again once that run ended starts the live run."""
    request = pending_request(project)
    [host] = request["hosts"]
    during: list[Any] = []

    def approve_meanwhile(plan: RunPlan) -> None:
        if plan.mode is Mode.LIVE and not during:
            during.append(project.cli("approve", request["id"], "--by", "alice", "--json"))

    runs.on_run = approve_meanwhile
    manual = project.cli("run", "disk-space-cleanup", "--limit", host, "--live",
                         "--var", "disk_mountpoint=/", "--json")
    assert manual.exit_code == 0, manual.output
    [locked] = during
    assert locked.exit_code == 0, locked.output
    record = json.loads(locked.stdout)
    assert record["decision"]["code"] == "locked"
    assert record["request"]["state"] == "locked" and record["request"]["by"] == "alice"
    assert "the request stays pending: approve it again when that run ends" in locked.stderr
    assert [r["state"] for r in json.loads(project.cli("pending", "--json").stdout)] == [
        "pending"]

    runs.on_run = None
    again = project.cli("approve", request["id"], "--by", "alice", "--json")
    assert again.exit_code == 0, again.output
    ran = json.loads(again.stdout)
    assert (ran["mode"], ran["outcome"], ran["request"]["state"]) == (
        "live", "succeeded", "approved")
    assert modes(runs) == [Mode.CHECK, Mode.LIVE, Mode.LIVE]
    assert project.store().verify()[0] == 4


@pytest.mark.sqlite_only  # a SQLite trigger stands in for the failing write
def test_an_approval_whose_run_cannot_be_journalled_leaves_the_request_pending(
        project: Project, runs: RecordingExecutor) -> None:
    """The request turns approved in the transaction that reserves the hosts and journals
    the run: when that transaction fails, the request is still pending (not approved with no
    run to record, for good), nothing ran, and approving again runs it once."""
    import sqlite3

    request = pending_request(project)

    def execute(sql: str) -> None:
        with sqlite3.connect(project.store_path) as db:
            db.execute(sql)

    execute("CREATE TRIGGER journal_full BEFORE INSERT ON run_journal"
            " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    failed = project.cli("approve", request["id"], "--by", "alice")
    assert failed.exit_code == 5, failed.output
    assert "database or disk is full" in failed.stderr
    assert project.query("SELECT state, result_record FROM requests") == [("pending", None)]
    assert modes(runs) == [Mode.CHECK]

    execute("DROP TRIGGER journal_full")
    again = project.cli("approve", request["id"], "--by", "alice", "--json")
    assert again.exit_code == 0, again.output
    record = json.loads(again.stdout)
    assert record["request"]["state"] == "approved" and record["mode"] == "live"
    assert project.query("SELECT state, result_record FROM requests") == [
        ("approved", record["id"])]
    assert modes(runs) == [Mode.CHECK, Mode.LIVE]
