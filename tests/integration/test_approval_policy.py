"""Who may approve, end to end on a real store (every backend ``--store`` selects) and the real
CLI: four eyes on `run --live`, N distinct approvers, allow-lists, every refusal recorded, the
requester sealed, concurrent last approvals running once, and `pending --json` agreeing with
``/metrics``.

No playbook runs: a RecordingExecutor stands in for ansible-runner and records each plan (the
runner is not the point). Slack and web approvers are ``Approver`` values, as the Slack
endpoint and the web page pass them to ``Engine.approve``.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from remediator.common import iso, utc_now
from remediator.errors import RefusedError
from remediator.identity import Approver, os_user
from remediator.models import Mode
from remediator.server.metrics import Metrics
from remediator.testing import RecordingExecutor

from ..conftest import Project, alertmanager_payload, disk_alert, disk_entry
from .test_sealed_requests import edit
from .test_serve import configure, serving, start  # noqa: F401 - serving: a fixture

ME = os_user()  # the CLI's identity in these tests: the OS account running them
ALICE = Approver("slack", "UALICE", "Alice")
ALICE_WEB = Approver("web", "alice", "Alice")
BOB = Approver("slack", "UBOB", "Bob")
CAROL = Approver("web", "carol", "Carol")
MALLORY = Approver("slack", "UMALLORY", "Mallory")
PEOPLE = {"alice": {"slack": "UALICE", "web": "alice", "cli": ME}, "bob": {"slack": "UBOB"},
          "carol": {"web": "carol"}}


@pytest.fixture(autouse=True)
def runs(project: Project) -> RecordingExecutor:
    """The plans the project's commands and engines would have run."""
    return project.fake_runs()


def modes(runs: RecordingExecutor) -> list[Mode]:
    return [plan.mode for plan in runs.plans]


def setup(project: Project, stage: str = "human-initiated", approvers: list[str] | None = None,
          **approval: Any) -> None:
    """The disk entry with an ``approval`` block; the config's people (and allow-list)."""
    project.write_catalog(disk_entry(stage, approval=approval) if approval else
                          disk_entry(stage))
    project.configure({"approvals": {"people": PEOPLE,
                                     **({"approvers": approvers} if approvers else {})}})


def alert_request(project: Project) -> str:
    """The id of the request the disk alert opens."""
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    assert record["decision"]["action"] == "pending"
    return str(record["id"])


def last_record(project: Project) -> dict[str, Any]:
    return list(project.store().records())[-1]


def refused(project: Project, request_id: str, who: Approver, code: str, words: str,
            deny: bool = False) -> dict[str, Any]:
    """``who`` is refused naming ``words``; the refusal's record names who, channel and why."""
    engine = project.engine()
    with pytest.raises(RefusedError, match=words):
        if deny:
            engine.deny(request_id, approver=who, reason="no")
        else:
            engine.approve(request_id, approver=who)
    record = last_record(project)
    link = record["request"]
    assert (record["decision"]["code"], record["mode"], link["state"]) == (code, "none",
                                                                          "refused")
    assert (link["id"], link["by"], link["channel"]) == (request_id, who.name, who.channel)
    assert link["approver"] == {"channel": who.channel, "id": who.id, "name": who.name,
                                "os_user": who.os_user}
    assert words in link["reason"] and who.label() in record["decision"]["reason"]
    return record


def test_four_eyes_run_live_opens_a_request_someone_else_approves(
        project: Project, runs: RecordingExecutor, sink: Any) -> None:
    """`run --live` on a four-eyes entry previews, opens a sealed request naming who asked,
    posts it to Slack with Approve and Deny buttons and exits 0; that person (by OS account,
    or as themselves in Slack) cannot approve it; someone else can, and the live run starts
    once."""
    setup(project, "oversight", four_eyes=True)
    project.configure({"notifications": {
        "channels": {"team": {"type": "slack", "webhook_url": sink.url + "/slack"}},
        "request_url": "https://ops.example/requests/{id}", "retries": 1, "timeout": 2}})
    result = project.cli("run", "disk-space-cleanup", "--limit", "demo-web-01", "--live",
                         "--var", "disk_mountpoint=/", "--by", "alice", "--json", "-q")
    assert result.exit_code == 0, result.output
    (pending,) = json.loads(result.stdout)
    rid = pending["id"]
    assert (pending["decision"]["action"], pending["decision"]["code"], pending["mode"]) == (
        "pending", "four-eyes", "check")
    assert f"remediator approve {rid}" in result.stderr
    assert modes(runs) == [Mode.CHECK]
    (posted,) = sink.bodies("/slack")
    (actions,) = [b for b in posted["blocks"] if b["type"] == "actions"]
    assert [(b["action_id"], b["value"]) for b in actions["elements"]] == [
        ("approve", rid), ("deny", rid)]
    assert f"https://ops.example/requests/{rid}|request page" in json.dumps(posted)
    requester = {"channel": "cli", "id": ME, "name": "alice", "os_user": ME}
    assert pending["request_seal"]["requested_by"] == requester
    (listed,) = json.loads(project.cli("pending", "--json").stdout)
    assert (listed["id"], listed["requested_by"], listed["four_eyes"]) == (rid, requester, True)
    # the same OS account is the same person, whatever --by says
    again = project.cli("approve", rid, "--by", "bob", "-q")
    assert again.exit_code == 4 and "cannot approve their own request" in again.stderr
    record = last_record(project)
    assert record["request"]["approver"] == {"channel": "cli", "id": ME, "name": "bob",
                                             "os_user": ME}
    assert record["decision"]["code"] == "own-request"
    refused(project, rid, ALICE, "own-request", "cannot approve their own request")
    run, ran = project.engine().approve(rid, approver=BOB)
    assert ran and (run["mode"], run["initiated_by"], run["outcome"]) == ("live", "Bob",
                                                                         "succeeded")
    assert run["request"]["channel"] == "slack" and run["request"]["state"] == "approved"
    assert [a["person"] for a in run["request"]["approvals"]] == ["bob"]
    assert modes(runs) == [Mode.CHECK, Mode.LIVE]
    assert runs.plans[1].hosts == ("demo-web-01",)
    assert project.cli("audit", "verify").exit_code == 0


def test_n_distinct_people_start_the_run(project: Project, runs: RecordingExecutor) -> None:
    """With required: 2, the first approval is recorded and runs nothing; the same person
    through another channel counts once (refused, recorded); the second person's approval
    starts the live run; a later approval shows that run."""
    setup(project, required=2)
    rid = alert_request(project)
    engine = project.engine()
    counted, ran = engine.approve(rid, approver=ALICE)
    assert not ran and modes(runs) == [Mode.CHECK]
    link = counted["request"]
    assert (counted["decision"]["code"], link["state"], link["required"]) == (
        "approval-counted", "partially-approved", 2)
    assert [(a["person"], a["channel"]) for a in link["approvals"]] == [("alice", "slack")]
    refused(project, rid, ALICE_WEB, "approval-repeated", "already approved it")
    cli = project.cli("approve", rid, "--by", "alice", "-q")  # the CLI's account is alice too
    assert cli.exit_code == 4 and "already approved it (as alice)" in cli.stderr
    (listed,) = json.loads(project.cli("pending", "--json").stdout)
    assert (len(listed["approvals"]), listed["required"]) == (1, 2)
    run, ran = engine.approve(rid, approver=CAROL)
    assert ran and run["mode"] == "live"
    assert [a["person"] for a in run["request"]["approvals"]] == ["alice", "carol"]
    assert "approved by Alice, Carol" in run["decision"]["reason"]
    later, ran = engine.approve(rid, approver=BOB)
    assert not ran and later["id"] == run["id"]
    assert modes(runs) == [Mode.CHECK, Mode.LIVE]
    assert json.loads(project.cli("pending", "--json").stdout) == []


def test_allow_lists_refuse_and_record(project: Project, runs: RecordingExecutor) -> None:
    """Someone not on the allow-list can neither approve nor deny (refused, recorded with
    who, channel and why); an allowed person denies with a reason that the record keeps."""
    setup(project, approvers=["bob", "web:carol"])
    rid = alert_request(project)
    refused(project, rid, MALLORY, "not-an-approver", "may not approve")
    refused(project, rid, ALICE, "not-an-approver", "may not deny", deny=True)
    record = project.engine().deny(rid, approver=CAROL, reason="fixing by hand")
    link = record["request"]
    assert (link["state"], link["by"], link["channel"], link["reason"]) == (
        "denied", "Carol", "web", "fixing by hand")
    refused(project, rid, BOB, "request-closed", "it was denied by Carol")
    assert modes(runs) == [Mode.CHECK]


def test_closed_requests_refuse_and_record(project: Project) -> None:
    """An expired request, and one whose alert resolved, are refused with a record each."""
    setup(project)
    rid = alert_request(project)
    later = datetime.now(UTC) + timedelta(hours=5)
    with pytest.raises(RefusedError, match="expired"):
        project.engine(clock=lambda: later).approve(rid, approver=BOB)
    assert last_record(project)["decision"]["code"] == "request-expired"
    project.handle(alertmanager_payload([{**disk_alert(), "fingerprint": "fp-2"}]))
    second = json.loads(project.cli("pending", "--json").stdout)[0]["id"]
    project.handle(alertmanager_payload([{**disk_alert(status="resolved"), "fingerprint": "fp-2"}]))
    refused(project, second, BOB, "request-resolved", "the alert has since resolved")


def test_the_requester_is_sealed(project: Project, runs: RecordingExecutor) -> None:
    """Editing who asked (to let them approve their own run) is caught by approve and by
    audit verify."""
    setup(project, "oversight", four_eyes=True)
    result = project.cli("run", "disk-space-cleanup", "--limit", "demo-web-01", "--live",
                         "--var", "disk_mountpoint=/", "--json", "-q")
    rid = json.loads(result.stdout)[0]["id"]
    edit(project, "UPDATE requests SET requested_by = '{\"channel\": \"cli\", \"id\": "
         f"\"someone\", \"name\": \"someone\", \"os_user\": \"someone\"}}' WHERE id = '{rid}'")
    with pytest.raises(RefusedError, match="its requester differs"):
        project.engine().approve(rid, approver=BOB)
    verify = project.cli("audit", "verify")
    assert verify.exit_code == 3 and f"request {rid}: its requester differs" in verify.stderr
    assert modes(runs) == [Mode.CHECK]


def test_an_approval_added_behind_remediators_back_counts_for_nothing(
        project: Project, runs: RecordingExecutor) -> None:
    """Only approvals the chain shows count: a row inserted into the store for bob does not
    make alice's approval the second of two."""
    setup(project, required=2)
    rid = alert_request(project)
    edit(project, "INSERT INTO request_decisions (request_id, at, outcome, code, person,"
         f" channel, approver_id, name, os_user) VALUES ('{rid}', '{iso(utc_now())}',"
         " 'approved', NULL, 'bob', 'slack', 'UBOB', 'Bob', NULL)")
    counted, ran = project.engine().approve(rid, approver=ALICE)
    assert not ran and [a["person"] for a in counted["request"]["approvals"]] == ["alice"]
    assert modes(runs) == [Mode.CHECK]
    run, ran = project.engine().approve(rid, approver=CAROL)
    assert ran and [a["person"] for a in run["request"]["approvals"]] == ["alice", "carol"]


class Together:
    """The real store, except that each approval waits for the other one before it is noted,
    after, and before a record that starts no run is written: two people clicking at the same
    moment, both past the policy's checks before either is noted, both noted and counted
    before either record is on the chain."""

    def __init__(self, store: Any, meeting: threading.Barrier) -> None:
        self.store, self.meeting, self.noted = store, meeting, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def add_decision(self, request_id: str, outcome: str, *args: Any, **kwargs: Any) -> bool:
        if outcome == "approved":
            self.meeting.wait(10)
        added = bool(self.store.add_decision(request_id, outcome, *args, **kwargs))
        if outcome == "approved":
            self.meeting.wait(10)
            self.noted = True
        return added

    def append_many(self, records: Any, *args: Any, **kwargs: Any) -> Any:
        if self.noted and records[0].get("request", {}).get("state") in (
                "partially-approved", "refused"):  # not a run: the other one writes one too
            self.noted = False
            self.meeting.wait(10)
        return self.store.append_many(records, *args, **kwargs)


@pytest.mark.parametrize(("required", "last", "runs_once"), [
    (2, (BOB, CAROL), True), (3, (BOB, CAROL), True), (3, (ALICE_WEB, ALICE), False)],
    ids=["last-of-two", "last-two-of-three", "one-person-two-channels"])
def test_concurrent_last_approvals_run_once(project: Project, runs: RecordingExecutor,
                                            required: int, last: tuple[Approver, Approver],
                                            runs_once: bool) -> None:
    """Two approvals at the same moment, each through its own engine, after a first one:
    two people who complete the count start the fix exactly once (also when both were
    needed); one person through two channels counts once and starts nothing."""
    setup(project, required=required)
    rid = alert_request(project)
    project.engine().approve(rid, approver=BOB if last[0] is ALICE_WEB else ALICE)
    meeting = threading.Barrier(2)
    engines = [project.engine(), project.engine()]
    for engine in engines:
        engine.store = Together(engine.store, meeting)  # type: ignore[assignment]
    results: list[tuple[dict[str, Any], bool] | Exception] = []

    def approve(engine: Any, who: Approver) -> None:
        try:
            results.append(engine.approve(rid, approver=who))
        except RefusedError as exc:
            results.append(exc)

    threads = [threading.Thread(target=approve, args=(e, who))
               for e, who in zip(engines, last, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2
    ran = [r for r in results if isinstance(r, tuple) and r[1]]
    if runs_once:
        assert len(ran) == 1 and modes(runs) == [Mode.CHECK, Mode.LIVE]
        people = [a["person"] for a in ran[0][0]["request"]["approvals"]]
        assert len(set(people)) == len(people) == required and people[0] == "alice"
    else:
        assert ran == [] and modes(runs) == [Mode.CHECK]
        assert sum(isinstance(r, RefusedError) for r in results) == 1


def test_pending_json_and_metrics_agree(project: Project) -> None:
    """The pending requests by entry and the decisions by channel and outcome that /metrics
    renders from the store are what `pending --all --json` shows."""
    setup(project, approvers=["alice", "bob", "carol"], required=2)
    first = alert_request(project)
    project.handle(alertmanager_payload([{**disk_alert(), "fingerprint": "fp-2"}]))
    second = json.loads(project.cli("pending", "--json").stdout)[1]["id"]
    engine = project.engine()
    engine.approve(first, approver=ALICE)
    with pytest.raises(RefusedError):
        engine.approve(first, approver=MALLORY)
    engine.approve(first, approver=BOB)
    engine.approve(second, approver=CAROL)
    store = project.store()
    metrics = Metrics(lambda: {}, lambda: store.approval_counts(iso(utc_now())))
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    pending_gauge = {s.labels["entry"]: s.value for s in
                     families["remediator_pending_requests"].samples}
    decided = {(s.labels["channel"], s.labels["outcome"]): s.value
               for s in families["remediator_approval_decisions"].samples}
    listed = json.loads(project.cli("pending", "--json").stdout)
    assert pending_gauge == {"disk-space-cleanup": len(listed)} == {"disk-space-cleanup": 1}
    every = json.loads(project.cli("pending", "--all", "--json").stdout)
    approvals: dict[tuple[str, str], float] = {}
    for request in every:
        for approval in request["approvals"]:
            key = (approval["channel"], "approved")
            approvals[key] = approvals.get(key, 0) + 1
    assert {k: v for k, v in decided.items() if k[1] == "approved"} == approvals == {
        ("slack", "approved"): 2, ("web", "approved"): 1}
    assert decided[("slack", "refused")] == 1


@pytest.mark.daemon
def test_served_metrics_read_the_requests_at_scrape(project: Project,
                                                    serving: list[Any]) -> None:  # noqa: F811
    """A running `serve` renders the pending requests and approvals that the store holds
    when /metrics is scraped (here, written by other processes after it started)."""
    setup(project, required=2)
    configure(project)
    server = start(project, serving)
    before = server.request("GET", "/metrics").body.decode()
    assert "remediator_pending_requests{" not in before
    rid = alert_request(project)
    project.engine().approve(rid, approver=ALICE)
    after = server.request("GET", "/metrics").body.decode()
    assert 'remediator_pending_requests{entry="disk-space-cleanup"} 1.0' in after
    assert 'remediator_approval_decisions{channel="slack",outcome="approved"} 1.0' in after
    (listed,) = json.loads(project.cli("pending", "--json").stdout)
    assert [a["channel"] for a in listed["approvals"]] == ["slack"]
