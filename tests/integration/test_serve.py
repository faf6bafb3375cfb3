"""`remediator serve` end to end: a real server process on loopback and a real store. The runs
are a RecordingExecutor's (``tests.fakecli``; sleep.yml takes 120 s there, until cancelled)
except where the runner is the point: a real playbook's check run, and a real run cancelled at
shutdown."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediator.common import iso
from remediator.notify.webhook import signature
from tests.conftest import Project, alertmanager_payload, disk_alert
from tests.serving import Server

TOKEN, TOKEN_NEXT = "am-token-0123456789", "am-token-rotated-9876"
PD_SECRET, HMAC_SECRET = "pd-signing-secret", "generic-hmac-secret"
SECRETS = {"T_AM": TOKEN, "T_AM_NEXT": TOKEN_NEXT, "T_PD": PD_SECRET, "T_HMAC": HMAC_SECRET}
BEARER = {"Authorization": f"Bearer {TOKEN}"}
AM = "/webhook/alertmanager"
FAKE_RUNS = {"REMEDIATOR_FAKE_RUN_S": "sleep.yml=120"}  # tests.fakecli: the slow entry's runs


def noop_entry(name: str = "noop-fix", alertname: str = "NoopAlert", **extra: Any
               ) -> dict[str, Any]:
    return {"name": name, "match": {"alertname": alertname}, "playbook": "noop.yml",
            "stage": "oversight", **extra}


def alert(fingerprint: str, alertname: str = "NoopAlert", host: str = "demo-web-01",
          status: str = "firing") -> dict[str, Any]:
    return {"labels": {"alertname": alertname, "instance": f"{host}:9100"},
            "fingerprint": fingerprint, "status": status}


def configure(project: Project, **server: Any) -> None:
    project.configure({"server": {
        "workers": 2, "grace": 5,
        "endpoints": {
            "alertmanager": {"auth": "bearer", "token_env": ["T_AM", "T_AM_NEXT"]},
            "pagerduty": {"auth": "pagerduty", "secret_env": "T_PD"},
            "generic": {"auth": "hmac", "secret_env": "T_HMAC", "max_skew": 60},
        }, **server}})


@pytest.fixture
def serving(project: Project, tmp_path: Path) -> Iterator[list[Server]]:
    """Servers started by a test; killed (with anything they left running) afterwards."""
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.kill()
    subprocess.run(["pkill", "-f", str(tmp_path)], check=False)


def start(project: Project, servers: list[Server], *args: str, real: bool = False) -> Server:
    """Start `serve` (with ansible-runner when ``real``, else tests.fakecli)."""
    server = Server(project.config, {**SECRETS, **FAKE_RUNS}, args, fake=not real).start()
    servers.append(server)
    return server


def intake(project: Project) -> list[dict[str, Any]]:
    rows = project.query("SELECT id, state, body, result FROM intake ORDER BY id")
    return [{"id": i, "state": s, "body": b, "result": json.loads(r) if r else None}
            for i, s, b, r in rows]


def wait_done(project: Project, count: int, timeout: float = 90.0) -> list[dict[str, Any]]:
    """Wait until ``count`` intake rows exist and all are done."""
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = intake(project)
        if len(rows) >= count and all(r["state"] == "done" for r in rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"intake not done: {[(r['id'], r['state']) for r in rows]}")


def records(project: Project) -> list[dict[str, Any]]:
    store = project.store()
    try:
        return list(store.records())
    finally:
        store.close()


def pd_payload(event_id: str, incident: str = "PABC123") -> dict[str, Any]:
    return {"event": {
        "id": event_id, "event_type": "incident.triggered", "resource_type": "incident",
        "occurred_at": "2026-11-26T10:00:00Z", "agent": None, "client": None,
        "data": {"id": incident, "type": "incident", "title": "NoopAlert on demo-web-01",
                 "status": "triggered", "html_url": "https://example.pagerduty.com/incidents/1",
                 "service": {"id": "PSVC", "summary": "web"}, "priority": None,
                 "urgency": "high", "created_at": "2026-11-26T10:00:00Z",
                 "body": {"details": {"alertname": "NoopAlert", "instance": "demo-web-01"}}}}}


def pd_headers(body: bytes, *secrets: str) -> dict[str, str]:
    sigs = ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest()
                    for s in secrets)
    return {"X-PagerDuty-Signature": sigs}


def hmac_headers(body: bytes, secret: str = HMAC_SECRET, at: float | None = None
                 ) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    return {"X-Remediator-Timestamp": timestamp,
            "X-Remediator-Signature": signature(secret, timestamp, body)}


# -- authentication --


@pytest.mark.daemon
def test_bearer_tokens_let_in_only_the_right_ones(project: Project,
                                                  serving: list[Server]) -> None:
    project.write_catalog(noop_entry())
    configure(project)
    server = start(project, serving)
    payload = alertmanager_payload([alert("fp-bearer")])
    missing = server.post(AM, payload)
    assert missing.status == 401 and "missing bearer token" in missing.json()["error"]
    assert missing.headers.get("WWW-Authenticate") == "Bearer"
    assert server.post(AM, payload, {"Authorization": "Bearer nope"}).status == 403
    assert server.post(AM, payload, {"Authorization": f"Basic {TOKEN}"}).status == 401
    assert server.post(AM, payload, {"Authorization": f"Bearer {TOKEN}x"}).status == 403
    assert intake(project) == []  # nothing refused was written down
    first = server.post(AM, payload, BEARER)
    assert first.status == 202, first.body
    rotated = server.post(AM, alertmanager_payload([alert("fp-rotated")]),
                          {"Authorization": f"Bearer {TOKEN_NEXT}"})
    assert rotated.status == 202  # both secrets of a rotation are accepted
    assert first.json() == {"accepted": 1, "alerts": 1}
    rows = wait_done(project, 2)
    assert [len(r["result"]["records"]) for r in rows] == [1, 1]


@pytest.mark.daemon
def test_basic_auth(project: Project, serving: list[Server]) -> None:
    project.write_catalog(noop_entry())
    project.configure({"server": {"endpoints": {"alertmanager": {
        "auth": "basic", "username": "alertmanager", "password_env": "T_AM"}}}})
    server = start(project, serving)
    payload = alertmanager_payload([alert("fp-basic")])

    def basic(user: str, password: str) -> dict[str, str]:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    assert server.post(AM, payload).status == 401
    assert server.post(AM, payload, {"Authorization": "Basic !!!"}).status == 401
    assert server.post(AM, payload, basic("alertmanager", "wrong")).status == 403
    assert server.post(AM, payload, basic("someone", TOKEN)).status == 403
    assert server.post(AM, payload, BEARER).status == 401
    assert intake(project) == []
    assert server.post(AM, payload, basic("alertmanager", TOKEN)).status == 202


@pytest.mark.daemon
def test_pagerduty_signatures_rotation_and_replay(project: Project,
                                                  serving: list[Server]) -> None:
    project.write_catalog(noop_entry())
    configure(project)
    server = start(project, serving)
    path = "/webhook/pagerduty"
    body = json.dumps(pd_payload("01EVENT1")).encode()
    assert server.post(path, body).status == 401
    assert server.post(path, body, pd_headers(body, "not-the-secret")).status == 403
    tampered = body.replace(b"PABC123", b"PABC999")
    assert server.post(path, tampered, pd_headers(body, PD_SECRET)).status == 403
    assert intake(project) == []
    # PagerDuty sends one signature per active secret while it rotates: any one may match
    ok = server.post(path, body, pd_headers(body, "old-secret", PD_SECRET))
    assert ok.status == 202, ok.body
    replay = server.post(path, body, pd_headers(body, PD_SECRET))
    assert replay.status == 403 and "replayed" in replay.json()["error"]
    assert len(intake(project)) == 1


@pytest.mark.daemon
def test_generic_hmac_skew_and_replay(project: Project, serving: list[Server]) -> None:
    project.write_catalog(noop_entry())
    configure(project)
    server = start(project, serving)
    path = "/webhook/generic"
    body = json.dumps([{"name": "NoopAlert", "labels": {"instance": "demo-web-01:9100"},
                        "fingerprint": "fp-generic"}]).encode()
    assert server.post(path, body).status == 401
    assert server.post(path, body, hmac_headers(body, "wrong")).status == 403
    stale = server.post(path, body, hmac_headers(body, at=time.time() - 3600))
    assert stale.status == 403 and "stale" in stale.json()["error"]
    assert server.post(path, body, {**hmac_headers(body), "X-Remediator-Timestamp": "soon"}
                       ).status == 403
    assert intake(project) == []
    headers = hmac_headers(body)
    accepted = server.post(path, body, headers)
    assert accepted.status == 202, accepted.body
    assert server.post(path, body, headers).status == 403  # the same signed request again
    assert len(intake(project)) == 1


# -- bad input --


@pytest.mark.daemon
def test_bad_input_gets_reasons_and_the_server_keeps_serving(project: Project,
                                                              serving: list[Server]) -> None:
    project.write_catalog(noop_entry())
    configure(project, max_body=4096)
    server = start(project, serving)
    good = json.dumps(alertmanager_payload([alert("fp-good")])).encode()
    truncated = server.post(AM, good[: len(good) // 2], BEARER)
    assert truncated.status == 400 and "not valid JSON" in truncated.json()["error"]
    wrong = server.post(AM, {"version": "4", "alerts": "many"}, BEARER)
    assert wrong.status == 400 and "alerts" in wrong.json()["error"]
    assert server.post(AM, b"\xff\xfe{}", BEARER).status == 400
    huge = server.post(AM, b'{"alerts": [' + b" " * 10_000 + b"]}", BEARER)
    assert huge.status == 413
    assert server.post("/webhook/nagios", good, BEARER).status == 404
    assert server.post("/elsewhere", good, BEARER).status == 404
    assert server.request("GET", AM).status == 405
    assert intake(project) == []
    assert server.request("GET", "/healthz").json()["status"] == "ok"
    assert server.post(AM, good, BEARER).status == 202


# -- handling --


@pytest.mark.daemon
def test_accepted_alerts_are_handled_once_and_redelivery_adds_no_record(
        project: Project, serving: list[Server]) -> None:
    project.write_catalog(noop_entry())
    configure(project)
    began = time.time()
    server = start(project, serving)
    payload = alertmanager_payload([alert("fp-once"), alert("fp-twice", host="demo-web-02")])
    assert server.post(AM, payload, BEARER).status == 202
    first = wait_done(project, 1)[0]
    assert first["result"]["duplicates"] == 0 and len(first["result"]["records"]) == 2
    assert server.post(AM, payload, BEARER).status == 202  # Alertmanager re-sends groups
    second = wait_done(project, 2)[1]
    assert second["result"] == {"records": [], "duplicates": 2}
    stored = records(project)
    assert sorted(r["alert"]["fingerprint"] for r in stored) == ["fp-once", "fp-twice"]
    assert {r["outcome"] for r in stored} == {"succeeded"}
    assert {r["id"] for r in stored} == set(first["result"]["records"])
    metrics = server.request("GET", "/metrics").body.decode()
    assert 'remediator_webhook_requests_total{code="202",endpoint="alertmanager"} 2.0' in metrics
    assert 'remediator_decisions_total{action="run"} 2.0' in metrics
    assert "remediator_duplicate_deliveries_total 2.0" in metrics
    assert 'remediator_alerts_received_total{source="alertmanager"} 4.0' in metrics
    assert 'remediator_intake{state="done"} 2.0' in metrics
    # the process's own figures, as every Python exporter shows them: of the server's process
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.splitlines()
              if line.startswith(("process_", "python_gc_objects_collected_total"))}
    assert began - 1 <= values["process_start_time_seconds"] <= time.time()
    assert values["process_resident_memory_bytes"] > 10 * 2**20
    assert values["process_open_fds"] >= 3
    assert 'python_gc_objects_collected_total{generation="2"}' in values
    assert 'python_info{implementation="CPython"' in metrics


@pytest.mark.daemon
def test_sigkill_during_a_burst_loses_nothing_accepted(project: Project,
                                                       serving: list[Server]) -> None:
    """Kill -9 mid-burst with a run in flight; restart; every 2xx is handled exactly once and
    the run that was going is recorded as interrupted."""
    project.write_catalog(noop_entry(), noop_entry("slow-fix", "SlowAlert", playbook="sleep.yml",
                                                   timeout=120))
    configure(project)
    server = start(project, serving)
    slow = server.post(AM, alertmanager_payload([alert("fp-slow", "SlowAlert")]), BEARER)
    assert slow.status == 202
    _wait_running(project, "slow-fix")
    accepted: dict[int, str] = {}
    failed = 0
    lock = threading.Lock()

    def sender(offset: int) -> None:
        nonlocal failed
        for n in range(offset, 400, 4):
            fingerprint = f"fp-burst-{n:03d}"
            try:
                reply = server.post(AM, alertmanager_payload([alert(fingerprint)]), BEARER)
            except OSError:
                with lock:
                    failed += 1
                continue
            if reply.status == 202:
                with lock:
                    accepted[reply.json()["accepted"]] = fingerprint

    senders = [threading.Thread(target=sender, args=(i,)) for i in range(4)]
    for thread in senders:
        thread.start()
    while len(accepted) < 60:
        time.sleep(0.005)
    server.kill()  # SIGKILL
    for thread in senders:
        thread.join()
    assert failed > 0, "the kill landed after the burst; nothing was tested"

    restarted = start(project, serving)
    restarted.wait_log(r"recorded \d+ decision\(s\) of a stopped worker")
    rows = wait_done(project, len(accepted) + 1)
    by_id = {r["id"]: r for r in rows}
    for rid, fingerprint in accepted.items():
        assert rid in by_id and fingerprint in by_id[rid]["body"]
    stored = records(project)
    fingerprints = [r["alert"]["fingerprint"] for r in stored]
    for fingerprint in [*accepted.values(), "fp-slow"]:
        assert fingerprints.count(fingerprint) == 1, fingerprint
    interrupted = next(r for r in stored if r["alert"]["fingerprint"] == "fp-slow")
    assert interrupted["outcome"] == "interrupted"
    assert "stopped while this run was in progress" in " ".join(
        interrupted["decision"]["notes"])
    store = project.store()
    try:
        assert store.verify()[0] == len(stored)
    finally:
        store.close()
    assert _open_runs(project) == 0


@pytest.mark.ansible  # serve's ansible-playbook, cancelled
@pytest.mark.daemon
def test_sigterm_cancels_a_long_run_after_the_grace_period(project: Project,
                                                           serving: list[Server]) -> None:
    project.write_catalog(noop_entry("slow-fix", "SlowAlert", playbook="sleep.yml",
                                     timeout=120))
    configure(project, grace=1)
    server = start(project, serving, real=True)
    assert server.post(AM, alertmanager_payload([alert("fp-slow", "SlowAlert")]),
                       BEARER).status == 202
    _wait_running(project, "slow-fix", real=True)
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 20
    assert "grace period over" in server.log and "stopped;" in server.log
    [record] = records(project)
    assert record["outcome"] == "interrupted" and record["runner"]["status"] == "canceled"
    assert [r["state"] for r in intake(project)] == ["done"]
    assert _open_runs(project) == 0


@pytest.mark.daemon
def test_queued_payloads_wait_for_the_next_start(project: Project,
                                                 serving: list[Server]) -> None:
    """Payloads accepted while every worker is busy are handled after a restart."""
    project.write_catalog(noop_entry("slow-fix", "SlowAlert", playbook="sleep.yml",
                                     timeout=120), noop_entry())
    configure(project, grace=0, workers=1)
    server = start(project, serving, "--workers", "1")
    assert server.post(AM, alertmanager_payload([alert("fp-slow", "SlowAlert")]),
                       BEARER).status == 202
    _wait_running(project, "slow-fix")
    assert server.post(AM, alertmanager_payload([alert("fp-later")]), BEARER).status == 202
    assert server.stop() == 0
    assert "1 payload(s) wait in the queue" in server.log
    start(project, serving)
    wait_done(project, 2)
    assert [r["alert"]["fingerprint"] for r in records(project)] == ["fp-slow", "fp-later"]


# -- configuration errors --


@pytest.mark.daemon
def test_old_handled_payloads_are_forgotten_at_start(project: Project,
                                                     serving: list[Server]) -> None:
    """Rows older than keep_intake go at start-up; queued ones and records stay."""
    from remediator.store import open_intake
    from remediator.store.intake import Accepted

    project.write_catalog(noop_entry())
    configure(project, keep_intake=3600)
    queue = open_intake(project.location)
    old = json.dumps(alertmanager_payload([alert("fp-old")]))
    ids = queue.accept([Accepted("2020-01-01T00:00:00.000+00:00", "alertmanager", old),
                        Accepted("2020-01-01T00:00:00.000+00:00", "alertmanager", old)])
    queue.claim("test:1", "2020-01-01T00:00:01.000+00:00", limit=1)
    queue.done([ids[0]], "2020-01-01T00:00:02.000+00:00", {})
    queue.close()
    server = start(project, serving)
    server.wait_log(r"forgot 1 handled payload")
    rows = wait_done(project, 1)
    assert [r["id"] for r in rows] == [ids[1]]  # the queued one was handled, not forgotten


def test_serve_refuses_to_start_without_endpoints_or_secrets(project: Project) -> None:
    result = project.cli("serve", "--listen", "127.0.0.1:0")
    assert result.exit_code == 2 and "no endpoint is enabled" in result.output
    project.configure({"server": {"endpoints": {"alertmanager": {"token_env": "T_UNSET"}}}})
    result = project.cli("serve", "--listen", "127.0.0.1:0", env={"T_UNSET": ""})
    assert result.exit_code == 2 and "T_UNSET is not set" in result.output


@pytest.mark.daemon
def test_serve_reports_a_busy_port(project: Project, serving: list[Server]) -> None:
    project.write_catalog(noop_entry())
    configure(project)
    server = start(project, serving)
    result = project.cli("serve", "--listen", f"127.0.0.1:{server.port}", env=SECRETS)
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{server.port}" in result.output


@pytest.mark.ansible  # serve's ansible-playbook
@pytest.mark.daemon
def test_disk_alert_through_serve_runs_the_disk_playbook(project: Project,
                                                         serving: list[Server]) -> None:
    """The bundled disk entry, observed: the check run's diff is in the record."""
    configure(project)
    server = start(project, serving, real=True)
    before = project.snapshot()
    assert server.post(AM, alertmanager_payload([disk_alert()]), BEARER).status == 202
    wait_done(project, 1)
    [record] = records(project)
    assert record["mode"] == "check" and record["outcome"] == "succeeded"
    assert project.snapshot() == before  # observe changes nothing


def _wait_running(project: Project, entry: str, timeout: float = 60.0, real: bool = False
                  ) -> None:
    """Wait until a run of ``entry`` is going (a real one: its first ansible event is out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = project.query("SELECT COUNT(*) FROM guard_runs WHERE entry = ? AND"
                              " finished_at IS NULL", (entry,))[0][0]
        if found and (not real or list(project.runs.glob("*/artifacts/*/job_events/*.json"))):
            return
        time.sleep(0.05)
    raise AssertionError(f"no run of {entry} started")


def _open_runs(project: Project) -> int:
    return int(project.query("SELECT COUNT(*) FROM guard_runs WHERE finished_at IS NULL"
                             )[0][0])


@pytest.mark.daemon
def test_serve_forgets_guard_state_past_keeping_when_it_starts(project: Project,
                                                                serving: list[Server]) -> None:
    """Old dedupe claims and finished runs go when `serve` starts (then hourly), with a log
    line; recent ones and the breaker's newest run stay."""
    from datetime import UTC, datetime

    long_ago = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    store = project.store()
    try:
        with store.guard(long_ago, 3600) as session:
            session.claim("fp-ancient", "2025-01-06T08:59:00Z", "firing", "live", "r1",
                          long_ago)
            session.claim("fp-old", "2025-01-06T08:59:00Z", "firing", "live", "r2", long_ago)
            session.reserve("run-a", "noop-fix", "demo-web-01", "live", long_ago, 600)
            session.reserve("run-b", "noop-fix", "demo-web-01", "live", long_ago, 600)
        store.finish_run("run-a", "demo-web-01", "succeeded", long_ago.isoformat())
        store.finish_run("run-b", "demo-web-01", "succeeded",
                         long_ago.replace(minute=5).isoformat())
    finally:
        store.close()
    project.write_catalog(noop_entry(guardrails={"breaker": {"failures": 1}}))
    configure(project)
    project.configure({"keep_guard_state": 86400})
    start(project, serving).wait_log(
        r"forgot 2 dedupe claim\(s\) and 1 finished run row\(s\) older than keep_guard_state "
        r"\(86400 s\)")
    assert project.query("SELECT ident FROM guard_runs") == [("run-b",)]
    assert project.query("SELECT COUNT(*) FROM guard_seen")[0][0] == 0


def _worker_batch(project: Project, engine_fn: Any, bodies: list[str]
                  ) -> tuple[list[dict[str, Any]], list[str], str]:
    """One worker batch over ``bodies``, in-process (no server): the intake rows after it,
    the log lines and the metrics page."""
    from remediator.common import utc_now as now
    from remediator.config import load
    from remediator.server.metrics import Metrics
    from remediator.server.workers import Pool
    from remediator.store import open_intake
    from remediator.store.intake import Accepted

    config = load(project.config)
    engine = engine_fn(config)
    queue = open_intake(config.store)
    try:
        queue.accept([Accepted(iso(now()), "alertmanager", body, None) for body in bodies])
        rows = queue.claim("test", iso(now()))
        lines: list[str] = []
        pool = Pool(config, Metrics(queue.counts), log=lines.append)
        pool._handle(engine, queue, rows)
        return intake(project), lines, pool.metrics.render().decode()
    finally:
        queue.close()
        engine.store.close()


def test_a_batch_whose_run_fails_records_its_run_as_interrupted(project: Project) -> None:
    """A worker whose batch fails unexpectedly after its decisions were committed (here the
    executor raises) records the batch's plan as a stopped worker's is recorded: every alert
    gets its record, the run as interrupted; never an empty result that reads as "already
    handled"; counted in /metrics and logged (in-process: no server)."""
    from remediator.common import utc_now as now
    from remediator.engine import open_engine
    from remediator.executor import ProgressFn, RunPlan
    from remediator.models import RunResult
    from remediator.testing import RecordingExecutor

    class Exploding(RecordingExecutor):
        def run(self, plan: RunPlan, progress: ProgressFn | None = None) -> RunResult:
            raise RuntimeError("the executor broke")

    project.write_catalog(noop_entry())
    bodies = [json.dumps(alertmanager_payload([alert(f"fp-{n}")])) for n in range(2)]
    rows, lines, metrics = _worker_batch(
        project, lambda config: open_engine(config, executor=Exploding(clock=now)), bodies)
    stored = records(project)
    assert [r["outcome"] for r in stored] == ["interrupted", "interrupted"]
    assert "the worker failed while handling this batch" in stored[0]["decision"]["notes"][-1]
    assert [(r["state"], r["result"]) for r in rows] == [
        ("done", {"records": [record["id"]], "duplicates": 0}) for record in stored]
    assert "remediator_worker_errors_total 1.0" in metrics
    assert any("the executor broke" in line for line in lines)
    assert _open_runs(project) == 0


def test_one_bad_payload_fails_alone(project: Project) -> None:
    """A batch that fails before its decisions commit (a bug one payload triggers) is
    handled again payload by payload: the bad one's row says it failed, the others get
    their records."""
    from remediator.common import utc_now as now
    from remediator.engine import open_engine
    from remediator.testing import RecordingExecutor

    class Poisoned:
        """The catalog, failing on one alert as a bug in matching would."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def match(self, found: Any) -> Any:
            if found.fingerprint == "fp-poison":
                raise ValueError("a bug this payload triggers")
            return self.inner.match(found)

        def __iter__(self) -> Any:
            return iter(self.inner)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    def engine_fn(config: Any) -> Any:
        engine = open_engine(config, executor=RecordingExecutor(clock=now))
        engine.catalog = engine.planner.catalog = Poisoned(engine.catalog)
        return engine

    project.write_catalog(noop_entry())
    bodies = [json.dumps(alertmanager_payload([alert(fp)]))
              for fp in ("fp-0", "fp-poison", "fp-2")]
    rows, lines, _ = _worker_batch(project, engine_fn, bodies)
    stored = records(project)
    assert [r["alert"]["fingerprint"] for r in stored] == ["fp-0", "fp-2"]
    assert stored[0]["outcome"] == "succeeded"  # fp-2 then meets fp-0's run's guardrails
    results = [r["result"] for r in rows]
    assert results[1] == {"error": "the worker failed on this payload; see the server log"}
    assert len(results[0]["records"]) == len(results[2]["records"]) == 1
    assert any("payloads 2 failed; the others of the batch were handled alone" in line
               for line in lines)


@pytest.mark.ansible  # the playbook's processes are what is under test
@pytest.mark.daemon
def test_a_killed_servers_playbook_dies_with_it_and_no_second_run_overlaps(
        project: Project, serving: list[Server]) -> None:
    """SIGKILL of `serve` mid live run: its ansible-playbook (and the task's process) stop
    within seconds instead of running on unrecorded; after the restart the run is recorded
    interrupted, and a new alert for the same entry and host runs only once they are gone."""
    from remediator import runproc

    (project.root / "playbooks" / "serve_sleep.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.command: sleep 53.5\n", encoding="utf-8")
    project.write_catalog(noop_entry("slow-fix", "SlowAlert", playbook="serve_sleep.yml",
                                     timeout=120, guardrails={"cooldown": 0}))
    configure(project)
    server = start(project, serving, real=True)
    assert server.post(AM, alertmanager_payload([alert("fp-slow", "SlowAlert")]),
                       BEARER).status == 202
    _wait_running(project, "slow-fix", real=True)
    [ident] = [row[0] for row in project.query(
        "SELECT ident FROM guard_runs WHERE finished_at IS NULL")]
    deadline = time.monotonic() + 30
    while not _sleepers("53.5") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sleepers("53.5") and runproc.processes([ident])
    server.kill()  # SIGKILL
    deadline = time.monotonic() + 15
    while (_sleepers("53.5") or runproc.processes([ident])) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _sleepers("53.5") and not runproc.processes([ident])

    restarted = start(project, serving, real=True)
    restarted.wait_log(r"recorded \d+ decision\(s\) of a stopped worker")
    [record] = records(project)
    assert record["id"] == ident and record["outcome"] == "interrupted"
    assert _open_runs(project) == 0
    assert restarted.post(AM, alertmanager_payload([alert("fp-slow-2", "SlowAlert")]),
                          BEARER).status == 202
    _wait_running(project, "slow-fix", real=True)
    restarted.stop(signal.SIGTERM)


def _sleepers(seconds: str) -> list[str]:
    """Processes running `sleep SECONDS` on this machine."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and Path(f"/proc/{pid}/cmdline").read_bytes() == \
                    f"sleep\0{seconds}\0".encode():
                found.append(pid)
        except OSError:
            continue
    return found
