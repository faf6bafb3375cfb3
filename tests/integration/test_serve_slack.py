"""Slack interactive approvals end to end: a real `remediator serve` on loopback (its runs a
RecordingExecutor's, ``tests.fakecli``), a pending request opened by a human-initiated entry,
button clicks signed and form-encoded as Slack sends them, and a loopback sink as the
``response_url``."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from remediator.server.auth import slack_signature
from tests.conftest import Project, alertmanager_payload, disk_alert, disk_entry
from tests.httpsink import Sink
from tests.integration.test_serve import records
from tests.serving import Reply, Server

SECRET, OLD_SECRET = "slack-signing-secret-new", "slack-signing-secret-old"
PATH = "/slack/interactions"


@pytest.fixture
def serving() -> Iterator[list[Server]]:
    """Servers started by a test; killed afterwards (their runs are recorded, not run)."""
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.kill()


def pending(project: Project) -> dict[str, Any]:
    """A pending request of the human-initiated disk entry (its preview a recorded plan)."""
    project.fake_runs()
    project.write_catalog(disk_entry("human-initiated"))
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    assert record["decision"]["action"] == "pending"
    return record


def start(project: Project, serving: list[Server], sink: Sink, run_s: float = 0.0,
          grace: int = 5) -> Server:
    """`serve` with only the slack endpoint; answers may go to the sink."""
    project.configure({
        "server": {"workers": 1, "grace": grace, "endpoints": {"slack": {
            "signing_secret_env": ["T_SLACK", "T_SLACK_OLD"],
            "response_url_prefixes": [sink.url + "/"]}}},
        "notifications": {"timeout": 2, "retries": 1, "backoff": 0.01,
                          "record_url": "https://ops.example/records/{id}"}})
    server = Server(project.config, {"T_SLACK": SECRET, "T_SLACK_OLD": OLD_SECRET,
                                     "REMEDIATOR_FAKE_RUN_S": str(run_s)}, fake=True).start()
    serving.append(server)
    return server


def click(request_id: str, action: str = "approve", *, user: str = "U024BE7LH",
          name: str = "alice", response_url: str = "") -> dict[str, Any]:
    """A block_actions payload as Slack sends it for a button in our message."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": name, "name": name, "team_id": "T0CAG"},
        "api_app_id": "A0CA5", "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": "1548261231.000200",
                      "channel_id": "C0CA6", "is_ephemeral": False},
        "trigger_id": f"1246.{time.monotonic_ns()}.a5c3",
        "team": {"id": "T0CAG", "domain": "acme"},
        "channel": {"id": "C0CA6", "name": "ops"},
        "message": {"type": "message", "text": "DiskSpaceLow on demo-web-01", "ts":
                    "1548261231.000200"},
        "response_url": response_url,
        "actions": [{"action_id": action, "block_id": "approval", "type": "button",
                     "text": {"type": "plain_text", "text": action.title()},
                     "value": request_id, "action_ts": f"{time.time():.6f}"}],
    }


def form(payload: Any) -> bytes:
    """The body Slack posts: ``payload=`` and the JSON, form-encoded."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return urllib.parse.urlencode({"payload": text}).encode()


def signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    return {"Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": slack_signature(secret, timestamp, body)}


def send(server: Server, body: bytes, headers: dict[str, str]) -> Reply:
    return server.request("POST", PATH, body, headers)


def answers(sink: Sink, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The first ``count`` messages posted to the response_url, once there are as many."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sink.bodies("/response")
        if len(got) >= count:
            return got
        time.sleep(0.05)
    raise AssertionError(f"the response_url got {sink.bodies()}, expected {count} message(s)")


def request_state(project: Project, rid: str) -> str:
    store = project.store()
    try:
        return str(store.get_request(rid).state)
    finally:
        store.close()


def slack_rows(project: Project) -> list[tuple[str, str | None]]:
    return [(state, result) for state, result in project.query(
        "SELECT state, result FROM intake WHERE source = 'slack' ORDER BY id")]


def noted(project: Project, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The outcomes noted in the clicks' intake rows, once ``count`` rows have one (the
    note follows the answer to Slack)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = slack_rows(project)
        if len(rows) >= count and all(result for _, result in rows):
            assert all(state == "done" for state, _ in rows)
            return [json.loads(result or "") for _, result in rows]
        time.sleep(0.05)
    raise AssertionError(f"the clicks' rows: {slack_rows(project)}")


@pytest.mark.daemon
def test_an_approve_click_runs_the_request_and_tells_slack(project: Project, sink: Sink,
                                                           serving: list[Server]) -> None:
    """Signed with the secret being rotated out, answered 200 while the run goes on; the
    live run's record names the Slack user; Slack is told it runs, then how it ended."""
    rid = pending(project)["id"]
    server = start(project, serving, sink, run_s=2.0)
    body = form(click(rid, response_url=sink.url + "/response"))
    began = time.monotonic()
    answer = send(server, body, signed(body, OLD_SECRET))
    assert answer.status == 200, answer.body
    assert time.monotonic() - began < 1.5  # within Slack's 3 s, the run still going
    running, done = answers(sink, 2)
    assert running["replace_original"] is True
    assert running["text"].startswith("Approved by alice: running `disk-space-cleanup` on "
                                      "demo-web-01")
    live = records(project)[-1]
    assert live["mode"] == "live" and live["outcome"] == "succeeded"
    assert live["initiated_by"] == "alice"
    assert live["request"]["id"] == rid and live["request"]["state"] == "approved"
    assert live["request"]["by"] == "alice" and live["request"]["channel"] == "slack"
    assert live["request"]["approver"] == {"channel": "slack", "id": "U024BE7LH",
                                           "name": "alice", "os_user": None}
    assert done["replace_original"] is True
    assert done["text"] == ("Approved by alice: `disk-space-cleanup` on demo-web-01: "
                            "*succeeded*")
    assert done["blocks"][1]["elements"][0]["text"] == (
        f"`remediator audit show {live['id']}`  "
        f"<https://ops.example/records/{live['id']}|audit record>")
    assert request_state(project, rid) == "approved"
    assert noted(project, 1) == [
        {"slack": "approved", "record": live["id"], "user": "slack:U024BE7LH"}]
    metrics = server.request("GET", "/metrics").body.decode()
    assert 'remediator_slack_interactions_total{outcome="approved"} 1.0' in metrics
    assert 'remediator_webhook_requests_total{code="200",endpoint="slack"} 1.0' in metrics


@pytest.mark.daemon
def test_a_deny_click_closes_the_request_and_its_replay_is_refused(
        project: Project, sink: Sink, serving: list[Server]) -> None:
    """Deny: recorded, nothing ran, Slack told; the same signed bytes again: 403, nothing."""
    rid = pending(project)["id"]
    server = start(project, serving, sink)
    body = form(click(rid, "deny", user="U0BOB", name="bob",
                      response_url=sink.url + "/response"))
    headers = signed(body)
    assert send(server, body, headers).status == 200
    (told,) = answers(sink, 1)
    denial = records(project)[-1]
    assert denial["decision"]["action"] == "skip" and denial["mode"] == "none"
    assert denial["request"]["state"] == "denied" and denial["initiated_by"] == "bob"
    assert denial["request"]["approver"] == {"channel": "slack", "id": "U0BOB", "name": "bob",
                                             "os_user": None}
    assert told["text"] == f"Denied by bob: request {rid}; nothing ran"
    assert request_state(project, rid) == "denied"
    assert noted(project, 1)[0]["slack"] == "denied"
    before = (len(records(project)), slack_rows(project))
    replay = send(server, body, headers)
    assert replay.status == 403 and "replayed" in replay.json()["error"]
    time.sleep(0.5)
    assert (len(records(project)), slack_rows(project)) == before
    assert len(sink.bodies()) == 1
    late = form(click(rid, response_url=sink.url + "/response"))  # Alice, after Bob's deny
    assert send(server, late, signed(late)).status == 200
    refused = answers(sink, 2)[1]
    assert refused["text"].startswith(f"Not approved: approval refused: request {rid}: it was "
                                      "denied by bob at ")
    refusal = records(project)[-1]  # the refusal is recorded: who, through which channel, why
    assert len(records(project)) == before[0] + 1
    assert refusal["request"]["state"] == "refused" and refusal["mode"] == "none"
    assert refusal["request"]["approver"]["id"] == "U024BE7LH"
    assert f"recorded as {refusal['id']}" in refused["text"]
    metrics = server.request("GET", "/metrics").body.decode()
    assert 'remediator_slack_interactions_total{outcome="refused"} 1.0' in metrics
    assert 'remediator_slack_interactions_total{outcome="denied"} 1.0' in metrics


@pytest.mark.daemon
def test_bad_clicks_get_4xx_and_nothing_runs_or_is_written(project: Project, sink: Sink,
                                                           serving: list[Server]) -> None:
    """Unsigned, wrongly signed, stale, unknown action, unknown request, malformed payloads,
    a response_url elsewhere: each a 4xx naming why; no record, no intake row, no answer."""
    rid = pending(project)["id"]
    server = start(project, serving, sink)
    before = records(project)
    url = sink.url + "/response"
    good = form(click(rid, response_url=url))
    cases: list[tuple[bytes, dict[str, str], int, str]] = [
        (good, {"Content-Type": "application/x-www-form-urlencoded"}, 401, "missing"),
        (good, signed(good, "not-the-secret"), 403, "wrong X-Slack-Signature"),
        (good, signed(good, at=time.time() - 600), 403, "stale"),
        (good, {**signed(good), "X-Slack-Signature": "v0=" + "0" * 64}, 403, "wrong"),
    ]
    bodies = [
        (form(click(rid, "snooze", response_url=url)), 400, "unknown action_id 'snooze'"),
        (form(click("20261207T000000Z-nosuch", response_url=url)), 404, "no request"),
        (form(click(rid[:8], response_url=url)), 404, "no request"),
        (form(click(rid, response_url="https://attacker.example/x")), 400, "response_url"),
        (form("{not json"), 400, "not JSON"),
        (form({**click(rid, response_url=url), "type": "view_submission"}), 400,
         "view_submission"),
        (form({**click(rid, response_url=url), "user": {}}), 400, "user.id"),
        (json.dumps(click(rid, response_url=url)).encode(), 400, "payload"),
        (b"payload=%FF%FE", 400, "payload"),
    ]
    cases += [(body, signed(body), status, words) for body, status, words in bodies]
    for body, headers, status, words in cases:
        reply = send(server, body, headers)
        assert reply.status == status, (body[:80], reply.body)
        assert words in reply.json()["error"], reply.body
    time.sleep(0.5)
    assert records(project) == before
    assert slack_rows(project) == []
    assert request_state(project, rid) == "pending"
    assert sink.received == []
    metrics = server.request("GET", "/metrics").body.decode()
    assert f'remediator_slack_interactions_total{{outcome="rejected"}} {len(cases)}.0' in \
        metrics
    assert "Traceback" not in server.log


@pytest.mark.daemon
def test_two_concurrent_clicks_run_once(project: Project, sink: Sink,
                                        serving: list[Server]) -> None:
    """Alice and Bob click Approve at once: one live run; the other is told it ran already."""
    rid = pending(project)["id"]
    server = start(project, serving, sink, run_s=2.0)
    url = sink.url + "/response"
    bodies = [form(click(rid, user="U0ALICE", name="alice", response_url=url)),
              form(click(rid, user="U0BOB", name="bob", response_url=url))]
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda b=b: statuses.append(
        send(server, b, signed(b)).status)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200, 200]
    told = [m["text"] for m in answers(sink, 4)]
    live = [r for r in records(project) if r["mode"] == "live"]
    assert len(live) == 1
    winner = live[0]["initiated_by"]
    assert f"Approved by {winner}: `disk-space-cleanup` on demo-web-01: *succeeded*" in told
    assert (f"Already approved by {winner}; its run: `disk-space-cleanup` on demo-web-01: "
            "*succeeded*") in told
    results = noted(project, 2)
    assert sorted(r["slack"] for r in results) == ["approved", "approved-before"]
    assert all(r["record"] == live[0]["id"] for r in results)


@pytest.mark.daemon
@pytest.mark.any_store  # about serve's shutdown and Slack's answers; the store tests cover PostgreSQL
def test_shutdown_waits_for_an_approved_run_within_grace(project: Project, sink: Sink,
                                                         serving: list[Server]) -> None:
    """SIGTERM while an approved run goes on: serve waits for it (within grace), records it
    and tells Slack before it exits."""
    rid = pending(project)["id"]
    server = start(project, serving, sink, run_s=3.0, grace=30)
    body = form(click(rid, response_url=sink.url + "/response"))
    assert send(server, body, signed(body)).status == 200
    answers(sink, 1)
    began = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - began > 1.5  # it waited for the run
    assert "cancelling the approved runs" not in server.log
    live = records(project)[-1]
    assert live["mode"] == "live" and live["outcome"] == "succeeded"
    assert answers(sink, 2)[1]["text"].endswith("*succeeded*")


@pytest.mark.daemon
@pytest.mark.any_store  # about serve's shutdown and Slack's answers; the store tests cover PostgreSQL
def test_an_approved_run_past_the_grace_period_is_cancelled_and_recorded(
        project: Project, sink: Sink, serving: list[Server]) -> None:
    """SIGTERM with a 120 s run and 1 s of grace: the run is cancelled, recorded, and Slack
    told (slowly), and the click's row notes it, before serve exits."""
    rid = pending(project)["id"]
    server = start(project, serving, sink, run_s=120.0, grace=1)
    body = form(click(rid, response_url=sink.url + "/response"))
    assert send(server, body, signed(body)).status == 200
    answers(sink, 1)
    sink.delay_s = 1.0  # Slack takes its time to take the outcome
    began = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - began < 30
    assert "cancelling the approved runs still going" in server.log
    live = records(project)[-1]
    assert live["mode"] == "live" and live["request"]["id"] == rid
    assert answers(sink, 2)[1]["text"].startswith("Approved by alice: `disk-space-cleanup`")
    ((state, result),) = slack_rows(project)  # noted before serve exited
    assert state == "done" and json.loads(result or "{}")["record"] == live["id"]


@pytest.mark.daemon
def test_an_approved_run_of_a_killed_serve_is_recorded_at_the_next_start(
        project: Project, sink: Sink, serving: list[Server]) -> None:
    """serve killed (SIGKILL) while an approved run goes on: the next start records the run
    as interrupted, as the approval's run."""
    rid = pending(project)["id"]
    server = start(project, serving, sink, run_s=120.0)
    body = form(click(rid, response_url=sink.url + "/response"))
    assert send(server, body, signed(body)).status == 200
    answers(sink, 1)  # "running" is said before the run is journalled: wait for that
    deadline = time.monotonic() + 30
    while project.query("SELECT COUNT(*) FROM run_journal")[0][0] == 0:
        assert time.monotonic() < deadline, "the approved run never started"
        time.sleep(0.05)
    server.kill()
    assert [r["mode"] for r in records(project)] == ["check"]
    again = Server(project.config, server.env, fake=True).start()
    serving.append(again)
    again.wait_log("listening")
    # a process of the killed run may outlive serve for a moment (its reaper stops it): the
    # run is recorded once it has gone, by this start or its next recovery pass
    deadline = time.monotonic() + 30
    while (interrupted := records(project)[-1])["mode"] != "live" and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert interrupted["mode"] == "live" and interrupted["outcome"] == "interrupted"
    assert interrupted["request"]["id"] == rid and interrupted["initiated_by"] == "alice"
    store = project.store()
    try:
        assert store.get_request(rid).result_record == interrupted["id"]
    finally:
        store.close()


@pytest.mark.daemon
@pytest.mark.any_store  # the policy's count is tested on both stores (test_approval_policy)
def test_an_entry_needing_two_approvers_runs_on_the_second_click(
        project: Project, sink: Sink, serving: list[Server]) -> None:
    """approval.required 2: Alice's click is counted (Slack told one more is needed), Alice
    again is refused, Bob's click starts the one live run naming both."""
    project.fake_runs()
    project.write_catalog(disk_entry("human-initiated", approval={"required": 2}))
    (opened,) = project.handle(alertmanager_payload([disk_alert()]))
    rid = opened["id"]
    server = start(project, serving, sink)
    url = sink.url + "/response"
    alice = form(click(rid, user="U0ALICE", name="alice", response_url=url))
    assert send(server, alice, signed(alice)).status == 200
    assert answers(sink, 1)[0]["text"].startswith(
        f"approval 1 of 2 by alice (slack:U0ALICE) (request {rid}); 1 more needed")
    again = form(click(rid, user="U0ALICE", name="alice", response_url=url))
    assert send(server, again, signed(again)).status == 200
    assert answers(sink, 2)[1]["text"].startswith("Not approved: ")
    bob = form(click(rid, user="U0BOB", name="bob", response_url=url))
    assert send(server, bob, signed(bob)).status == 200
    assert answers(sink, 3)[2]["text"] == ("Approved by bob: `disk-space-cleanup` on "
                                           "demo-web-01: *succeeded*")
    (live,) = [r for r in records(project) if r["mode"] == "live"]
    assert [a["id"] for a in live["request"]["approvals"]] == ["U0ALICE", "U0BOB"]
    assert sorted(r["slack"] for r in noted(project, 3)) == ["approved", "counted", "refused"]
