"""`remediator poll` against a real Alertmanager 0.25 (and Prometheus) on loopback."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediator.models import Mode
from remediator.testing import RecordingExecutor
from tests.conftest import REPO, Project, disk_entry
from tests.httpsink import Sink
from tests.monitoring import Alertmanager, NodeExporter, Prometheus, free_port, wait_for

pytest_plugins = ["tests.monitoring"]


@pytest.fixture(autouse=True)
def runs(project: Project) -> RecordingExecutor:
    """No playbook runs here (the closed-loop test runs one from Alertmanager): the runs poll
    starts are a RecordingExecutor's."""
    return project.fake_runs()

RECORDED = Path(__file__).resolve().parents[1] / "data" / "alertmanager-api"
LOW_DISK = ('node_filesystem_avail_bytes{mountpoint="/"} 5e6\n'
            'node_filesystem_size_bytes{mountpoint="/"} 1e8\n')


def disk(host: str = "demo-web-01", **labels: str) -> dict[str, Any]:
    """A DiskSpaceLow alert for ``host`` as posted to Alertmanager's API."""
    return {"labels": {"alertname": "DiskSpaceLow", "instance": f"{host}:9100", "mountpoint": "/",
                       "severity": "warning", **labels},
            "annotations": {"summary": f"Disk space low on {host}"}}


def poll(project: Project, url: str, *args: str, env: dict[str, str] | None = None
         ) -> tuple[int, list[dict[str, Any]], str]:
    """Run `remediator poll --json`; (exit code, the records printed, stderr)."""
    result = project.cli("poll", "--alertmanager", url, "--json", *args, env=env)
    records = json.loads(result.stdout) if result.stdout.strip() else []
    return result.exit_code, records, result.stderr


def stored(project: Project) -> list[dict[str, Any]]:
    """Every record in the project's store."""
    return list(project.store().records()) if project.has_store() else []


@pytest.mark.daemon
def test_active_alerts_are_handled(project: Project, alertmanager: Alertmanager,
                                   runs: RecordingExecutor) -> None:
    """A firing alert in Alertmanager runs its playbook (observe: check mode) and is recorded."""
    alertmanager.post_alerts([disk()])
    (listed,) = alertmanager.alerts()
    code, records, err = poll(project, alertmanager.url, "--fail-on-escalate")
    assert code == 0, err
    (record,) = records
    assert (record["mode"], record["decision"]["action"], record["outcome"]) == (
        "check", "run", "succeeded")
    assert record["alert"]["source"] == "alertmanager"
    assert record["alert"]["fingerprint"] == listed["fingerprint"]
    assert record["alert"]["hosts"] == ["demo-web-01"]
    assert "polled 1 alert: 1 handled, 0 already handled" in err
    assert [r["id"] for r in stored(project)] == [record["id"]]
    assert [(p.mode, p.hosts) for p in runs.plans] == [(Mode.CHECK, ("demo-web-01",))]


@pytest.mark.daemon
def test_a_second_poll_handles_nothing_and_writes_no_record(
        project: Project, alertmanager: Alertmanager, runs: RecordingExecutor) -> None:
    """Polling the same active alert again runs nothing and adds no record."""
    alertmanager.post_alerts([disk()])
    assert poll(project, alertmanager.url)[0] == 0
    assert len(runs.plans) == 1
    code, records, err = poll(project, alertmanager.url)
    assert (code, records) == (0, [])
    assert "polled 1 alert: 0 handled, 1 already handled" in err
    assert len(stored(project)) == 1
    assert len(runs.plans) == 1


@pytest.mark.daemon
def test_silenced_alerts_are_not_handled(project: Project, alertmanager: Alertmanager) -> None:
    """A silenced alert is not fetched; the others still are."""
    alertmanager.post_alerts([disk("ghost-01"), disk("ghost-02")])
    alertmanager.silence({"instance": "ghost-01:9100"})
    code, records, err = poll(project, alertmanager.url)
    assert code == 0, err
    assert [r["alert"]["labels"]["instance"] for r in records] == ["ghost-02:9100"]
    assert "polled 1 alert:" in err


@pytest.mark.daemon
def test_resolved_alerts_are_not_fetched(project: Project, alertmanager: Alertmanager) -> None:
    """An alert whose end has passed (resolved, expired) is not polled, let alone handled."""
    past = datetime.now(UTC) - timedelta(minutes=5)
    alertmanager.post_alerts([
        {**disk("ghost-01"), "startsAt": (past - timedelta(hours=1)).isoformat(),
         "endsAt": past.isoformat()},
        disk("ghost-02")])
    code, records, err = poll(project, alertmanager.url)
    assert code == 0, err
    assert [r["alert"]["labels"]["instance"] for r in records] == ["ghost-02:9100"]
    assert all(r["alert"]["status"] == "firing" for r in stored(project))


@pytest.mark.daemon
def test_filters_select_alerts_on_the_server(project: Project,
                                             alertmanager: Alertmanager) -> None:
    """--filter passes Alertmanager matchers; only matching alerts are handled."""
    alertmanager.post_alerts([disk("ghost-01", team="db"), disk("ghost-02", team="web")])
    code, records, err = poll(project, alertmanager.url, "--filter", 'team="web"',
                              "--filter", "severity=~warn.*")
    assert code == 0, err
    assert [r["alert"]["labels"]["team"] for r in records] == ["web"]


@pytest.mark.daemon
def test_a_bad_filter_is_alertmanagers_message(project: Project,
                                               alertmanager: Alertmanager) -> None:
    """A matcher Alertmanager cannot parse exits 2 with its answer, and nothing is handled."""
    alertmanager.post_alerts([disk("ghost-01")])
    code, records, err = poll(project, alertmanager.url, "--filter", "{oops")
    assert (code, records) == (2, [])
    assert f"{alertmanager.url}/api/v2/alerts" in err
    assert "HTTP 400: bad matcher format: {oops" in err
    assert stored(project) == []


@pytest.mark.daemon
def test_fail_on_escalate(project: Project, alertmanager: Alertmanager) -> None:
    """An escalated record (its host is not in the inventory) exits 1; the next poll, with
    nothing new, exits 0."""
    alertmanager.post_alerts([disk("ghost-01")])
    code, (record,), err = poll(project, alertmanager.url, "--fail-on-escalate")
    assert code == 1, err
    assert record["decision"]["action"] == "escalate"
    assert "ghost-01" in record["decision"]["reason"]
    code, records, err = poll(project, alertmanager.url, "--fail-on-escalate")
    assert (code, records) == (0, []), err


@pytest.mark.daemon
def test_a_webhook_delivery_and_a_poll_are_one_alert(
        project: Project, tmp_path: Path, sink: Sink) -> None:
    """An alert that `handle` got from Alertmanager's webhook is already handled for `poll`:
    both read the same fingerprint, start (written alike) and status."""
    with Alertmanager(tmp_path / "am-webhook", webhook_url=f"{sink.url}/hook") as am:
        am.post_alerts([{**disk("ghost-01"), "startsAt": "2026-11-26T09:00:00.120Z"}])
        wait_for("the webhook", lambda: bool(sink.received))
        (webhook,) = sink.bodies("/hook")
        assert webhook["alerts"][0]["startsAt"] == "2026-11-26T09:00:00.12Z"
        (record,) = project.handle(webhook)
        code, records, err = poll(project, am.url)
    assert (code, records) == (0, []), err
    assert "polled 1 alert: 0 handled, 1 already handled" in err
    assert [r["id"] for r in stored(project)] == [record["id"]]


def race(project: Project, url: str, processes: int) -> list[subprocess.CompletedProcess[str]]:
    """Start ``processes`` `remediator poll` processes at once (tests.fakecli: their runs take
    half a second and run no playbook); wait for all."""
    env = {**os.environ, "REMEDIATOR_CONFIG": str(project.config), "PYTHONPATH": str(REPO),
           "REMEDIATOR_FAKE_RUN_S": "0.5"}
    env.pop("REMEDIATOR_MAX_STAGE", None)
    procs = [subprocess.Popen([sys.executable, "-m", "tests.fakecli", "poll", "--alertmanager", url,
                               "--json", "-q"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.mark.daemon
def test_overlapping_polls_run_and_record_each_alert_once(
        project: Project, alertmanager: Alertmanager, tmp_path: Path) -> None:
    """Two polls started at the same moment: one run and one record per alert in all."""
    hosts = {h: {"ansible_connection": "local",
                 "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
             for h in ("node-0", "node-1")}
    (project.root / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    project.write_catalog({"name": "echo", "match": {"alertname": "Echo"},
                           "playbook": "echo_vars.yml", "vars": {"note": "labels.note"},
                           "static_vars": {"out_dir": str(tmp_path / "out")}})
    alertmanager.post_alerts([{"labels": {"alertname": "Echo", "instance": h, "note": h}}
                              for h in hosts])
    results = race(project, alertmanager.url, 2)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    printed = [r for result in results for r in json.loads(result.stdout)]
    records = stored(project)
    assert sorted(r["id"] for r in printed) == sorted(r["id"] for r in records)
    assert sorted(r["alert"]["hosts"][0] for r in records) == ["node-0", "node-1"]
    assert all(r["outcome"] == "succeeded" for r in records)
    assert len({r["runner"]["ident"] for r in records}) == 2


def test_unreachable_alertmanager_exits_8_and_records_nothing(project: Project) -> None:
    """Nothing listening at the URL: exit 8 (try again later), the message names the URL,
    no record."""
    url = f"http://127.0.0.1:{free_port()}"
    code, records, err = poll(project, url, "--fail-on-escalate")
    assert (code, records) == (8, [])
    assert f"remediator: error: {url}/api/v2/alerts?" in err
    assert "cannot reach Alertmanager" in err
    assert stored(project) == []


def test_a_silent_server_times_out(project: Project) -> None:
    """A server that accepts the connection but never answers: exit 8 after --timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        code, records, err = poll(project, url, "--timeout", "0.3")
    assert (code, records) == (8, [])
    assert f"{url}/api/v2/alerts?" in err and "no answer within 0.3s" in err
    assert stored(project) == []


@pytest.mark.parametrize(("status", "body", "expected", "exit_code"), [
    (401, b'"unauthorized"', "Alertmanager answered HTTP 401: unauthorized", 2),
    (503, b"", "Alertmanager answered HTTP 503", 8),
    (200, b"<html>not json</html>", "not valid JSON", 2),
    (200, b'{"status": "success", "data": []}', "expected a JSON array of alerts", 2),
    (200, b'[{"labels": {"instance": "a"}}]', "alertname", 2),
])
def test_a_bad_answer_handles_nothing(project: Project, sink: Sink, status: int, body: bytes,
                                      expected: str, exit_code: int) -> None:
    """An HTTP error, a body that is not JSON, or JSON of the wrong shape: exit 2 (8 for a
    5xx: try again later), naming the URL and the problem, and no record."""
    sink.serve_get(body, status)
    code, records, err = poll(project, sink.url)
    assert (code, records) == (exit_code, [])
    assert f"{sink.url}/api/v2/alerts?active=true" in err
    assert expected in err
    assert stored(project) == []


@pytest.mark.parametrize(("option", "value", "header"), [
    ("--bearer-token-env", "s3cret-token", "Bearer s3cret-token"),
    ("--basic-auth-env", "ops:s3cret pass",
     "Basic " + base64.b64encode(b"ops:s3cret pass").decode()),
])
def test_credentials_from_the_environment_reach_the_server(
        project: Project, sink: Sink, option: str, value: str, header: str) -> None:
    """The secret named by the option is sent as the Authorization header and never printed;
    the recorded Alertmanager answer is handled alert by alert."""
    project.write_catalog(disk_entry(match={"alertname": "NotInTheAnswer"}))
    sink.serve_get((RECORDED / "alerts-active.json").read_bytes())
    code, records, err = poll(project, sink.url, option, "AM_SECRET",
                              env={"AM_SECRET": value})
    assert code == 0, err
    (request,) = sink.received
    assert request.method == "GET"
    assert request.path == "/api/v2/alerts?active=true&silenced=true&inhibited=true"
    assert request.headers["Authorization"] == header
    assert request.headers["User-Agent"].startswith("remediator-poll/")
    assert len(records) == 3
    assert {r["decision"]["action"] for r in records} == {"skip"}
    assert "s3cret" not in err + json.dumps(records)


def test_an_alert_no_entry_matches_is_recorded_once(project: Project, sink: Sink) -> None:
    """Cron polls an unmatched alert every minute: its "no entry matches" record is written
    once, not once a minute."""
    project.write_catalog(disk_entry(match={"alertname": "NotInTheAnswer"}))
    sink.serve_get((RECORDED / "alerts-active.json").read_bytes())
    assert len(poll(project, sink.url)[1]) == 3
    code, records, err = poll(project, sink.url)
    assert (code, records) == (0, []), err
    assert "polled 3 alerts: 0 handled, 3 already handled" in err


def test_a_missing_secret_variable_is_a_usage_error(project: Project, sink: Sink) -> None:
    """An unset variable exits 2 naming it, before anything is fetched."""
    result = project.cli("poll", "--alertmanager", sink.url, "--bearer-token-env", "NOPE_TOKEN",
                         env={"NOPE_TOKEN": None})
    assert result.exit_code == 2
    assert "NOPE_TOKEN" in result.stderr
    assert sink.received == []


@pytest.mark.daemon
def test_prometheus_alert_is_polled_and_handled(
        project: Project, node_exporter: NodeExporter, prometheus: Prometheus,
        alertmanager: Alertmanager, runs: RecordingExecutor) -> None:
    """node_exporter reports a nearly full disk, Prometheus fires DiskSpaceLow for
    demo-web-01, and a poll runs the disk playbook for it in check mode."""
    node_exporter.write_metrics("filesystem", LOW_DISK)
    prometheus.wait_ready("node_filesystem_avail_bytes")
    wait_for("Prometheus's alert in Alertmanager", lambda: bool(alertmanager.alerts()))
    code, (record,), err = poll(project, alertmanager.url, "--fail-on-escalate")
    assert code == 0, err
    assert record["alert"]["name"] == "DiskSpaceLow"
    assert record["alert"]["labels"]["job"] == "node"
    assert record["alert"]["hosts"] == ["demo-web-01"]
    assert record["decision"]["variables"]["disk_mountpoint"] == "/"
    assert (record["mode"], record["outcome"]) == ("check", "succeeded")
    assert [p.playbook.name for p in runs.plans] == ["disk_space_cleanup.yml"]


@pytest.mark.daemon
def test_a_resolution_is_learned_from_the_next_poll(project: Project,
                                                    alertmanager: Alertmanager) -> None:
    """An alert listed at one poll and gone at the next has resolved: its pending request
    closes (approve refuses it, exit 4), a resolved record is written once, and a silenced
    alert is not taken for a resolved one."""
    project.write_catalog(disk_entry("human-initiated"))
    start = datetime.now(UTC) - timedelta(minutes=2)
    alertmanager.post_alerts([{**disk("demo-web-01"), "startsAt": start.isoformat()},
                              {**disk("demo-web-02"), "startsAt": start.isoformat()}])
    code, first, err = poll(project, alertmanager.url)
    assert code == 0, err
    assert sorted(r["decision"]["action"] for r in first) == ["pending", "pending"]
    pending = json.loads(project.cli("pending", "--json").stdout)
    assert len(pending) == 2
    alertmanager.silence({"instance": "demo-web-02:9100"})
    ended = datetime.now(UTC) - timedelta(seconds=1)
    alertmanager.post_alerts([{**disk("demo-web-01"), "startsAt": start.isoformat(),
                               "endsAt": ended.isoformat()}])
    code, second, err = poll(project, alertmanager.url)
    assert code == 0, err
    assert "(1 resolved since the last poll)" in err
    (resolved,) = second
    assert (resolved["alert"]["status"], resolved["alert"]["hosts"]) == (
        "resolved", ["demo-web-01"])
    assert resolved["decision"]["action"] == "skip"
    still = json.loads(project.cli("pending", "--json").stdout)
    assert [p["hosts"] for p in still] == [["demo-web-02"]]
    gone = next(p for p in pending if p["hosts"] == ["demo-web-01"])
    approve = project.cli("approve", gone["id"], "--by", "alice")
    assert approve.exit_code == 4, approve.output
    code, third, err = poll(project, alertmanager.url)
    assert (code, third) == (0, [])
