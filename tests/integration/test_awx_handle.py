"""An alert through `remediator handle` to an AWX job template, against the AWX contract server.

AWX itself cannot run on these machines; tests/awxserver.py serves AWX API v2 as documented.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from remediator.audit import REQUIRED_FIELDS
from tests.awxserver import TOKEN, FakeAwx, serve
from tests.conftest import Project, alertmanager_payload
from tests.serving import Server

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "remediator" / "schema" /
                     "audit-record-v1.json").read_text())
NOTE = "{{ lookup('pipe', 'id') }} was here"
ENV = {"REMEDIATOR_AWX_TOKEN": TOKEN}


@pytest.fixture
def awx() -> Iterator[FakeAwx]:
    """The contract server, fresh for each test."""
    yield from serve()


def entry(stage: str = "observe", template: str | int = "fix-service", **extra: Any
          ) -> dict[str, Any]:
    """A catalog entry running an AWX job template for ServiceDown alerts."""
    return {"name": "fix-service", "match": {"alertname": "ServiceDown"},
            "job_template": template, "stage": stage, "vars": {"note": "annotations.note"},
            "static_vars": {"out_dir": "/srv/app"}, "timeout": 30, **extra}


def setup(project: Project, awx: FakeAwx, stage: str = "observe", *, url: str | None = None,
          **extra: Any) -> None:
    """Point the project at the contract server (or ``url``) and its catalog at one AWX
    entry."""
    project.configure({"awx": {"url": url or awx.url, "poll_interval": 0.02, "backoff": 0.01,
                               "retries": 1, "events_wait": 2}})
    project.write_catalog(entry(stage, **extra))


def payload(host: str = "demo-web-01") -> dict[str, Any]:
    """An Alertmanager payload: ServiceDown on ``host`` with an untrusted note."""
    return alertmanager_payload([{"labels": {"alertname": "ServiceDown",
                                             "instance": f"{host}:9100"},
                                  "annotations": {"note": NOTE}}])


def handle(project: Project, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`remediator handle --json` of one alert; its one schema-valid record."""
    result = project.cli("handle", "--json", "-", stdin=json.dumps(payload()),
                         env=ENV if env is None else env)
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert set(REQUIRED_FIELDS) <= set(record)
    jsonschema.validate(record, SCHEMA)
    return record


def test_observe_runs_a_check_job_and_records_it_like_a_local_run(project: Project,
                                                                   awx: FakeAwx) -> None:
    """observe: job_type check; the record has the host's tasks, the diff and the AWX job."""
    setup(project, awx)
    awx.events = "check"
    record = handle(project)
    (body,) = awx.launched()
    assert (body["job_type"], body["limit"]) == ("check", "demo-web-01")
    assert (record["stage"], record["mode"], record["outcome"]) == ("observe", "check",
                                                                    "succeeded")
    assert record["remediation"]["job_template"] == "fix-service"
    assert (record["remediation"]["playbook"], record["remediation"]["playbook_sha256"]) == (
        "", None)
    job_id = next(iter(awx.jobs))
    assert record["runner"]["ident"] == record["id"]
    assert record["runner"]["status"] == "successful"
    assert record["runner"]["artifacts"] == f"{awx.url}/api/v2/jobs/{job_id}/"
    assert record["runner"]["job"]["job_template"] == {"id": 7, "name": "fix-service"}
    assert record["runner"]["job"]["job_type"] == "check"
    host = record["hosts"]["demo-web-01"]
    assert [(t["name"], t["status"]) for t in host["tasks"]] == [
        ("Show the alert note", "ok"), ("Write the service config", "changed"),
        ("Restart the service", "skipped"), ("Refuse on the broken host", "skipped")]
    (diff,) = host["tasks"][1]["diff"]
    assert (diff["before"], diff["after"]) == ("workers = 2\n", "workers = 4\n")
    assert list(record["hosts"]) == ["demo-web-01"]


@pytest.mark.parametrize("stage", ["oversight", "fallback"])
def test_live_stages_run_a_run_job(project: Project, awx: FakeAwx, stage: str) -> None:
    """oversight and fallback launch job_type run; changes are counted from AWX's recap."""
    setup(project, awx, stage)
    record = handle(project)
    assert awx.launched()[0]["job_type"] == "run"
    assert (record["mode"], record["outcome"]) == ("live", "succeeded")
    assert record["hosts"]["demo-web-01"]["changed"] == 2


def test_max_stage_turns_a_live_entry_into_a_check_job(project: Project, awx: FakeAwx) -> None:
    """The emergency brake reaches AWX: --max-stage observe launches job_type check."""
    setup(project, awx, "fallback")
    result = project.cli("--max-stage", "observe", "handle", "--json", "-",
                         stdin=json.dumps(payload()), env=ENV)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["mode"] == "check"
    assert awx.launched()[0]["job_type"] == "check"


def test_alert_text_reaches_awx_as_data_and_ansible_unsafe(project: Project,
                                                           awx: FakeAwx) -> None:
    """The note goes to AWX verbatim; AWX's extravars tag it !unsafe; the record keeps it."""
    setup(project, awx)
    record = handle(project)
    assert awx.launched()[0]["extra_vars"] == {"out_dir": "/srv/app", "note": NOTE}
    extravars = awx.jobs[next(iter(awx.jobs))].extravars_file
    assert "!unsafe 'note': !unsafe '{{ lookup(''pipe'', ''id'') }} was here'" in extravars
    assert record["decision"]["variables"]["note"] == NOTE


def test_human_initiated_previews_on_awx_and_approval_launches_the_live_job(
        project: Project, awx: FakeAwx) -> None:
    """The preview is a check job; `approve` launches job_type run as that person."""
    setup(project, awx, "human-initiated")
    awx.events = "check"
    pending = handle(project)
    assert (pending["decision"]["action"], pending["mode"]) == ("pending", "check")
    awx.events = "live"
    result = project.cli("approve", pending["id"], "--by", "alice", "--json", "-q", env=ENV)
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    jsonschema.validate(run, SCHEMA)
    assert [b["job_type"] for b in awx.launched()] == ["check", "run"]
    assert (run["mode"], run["initiated_by"], run["outcome"]) == ("live", "alice", "succeeded")
    assert run["runner"]["job"]["job_type"] == "run"


def test_the_testing_engine_needs_no_awx_token(project: Project, awx: FakeAwx) -> None:
    """remediator.testing.engine_for swaps the executors out: an AWX catalog needs no token,
    and the plans it records name the job template."""
    from remediator import config as config_mod
    from remediator.testing import alert, engine_for

    setup(project, awx, "oversight", vars={})
    engine = engine_for(config_mod.load(project.config, env={}))
    engine.handle([alert("ServiceDown", "demo-web-01")])
    (plan,) = engine.executor.plans
    assert (plan.job_template, plan.hosts) == ("fix-service", ("demo-web-01",))
    assert not awx.requests


def test_a_template_that_cannot_take_check_mode_is_refused_and_recorded(
        project: Project, awx: FakeAwx) -> None:
    """restart-web does not prompt for job_type: no job; the record says it would run live."""
    setup(project, awx, template="restart-web")
    record = handle(project)
    assert not awx.seen("POST")
    assert (record["mode"], record["outcome"]) == ("check", "failed")
    assert record["runner"]["status"] == "error"
    assert "would otherwise run LIVE" in record["runner"]["error"]
    assert record["hosts"]["demo-web-01"]["tasks"] == []


def test_a_job_past_the_entry_timeout_is_cancelled_and_recorded(project: Project,
                                                                awx: FakeAwx) -> None:
    """timeout: 1 on the entry: the cancel POST reaches AWX, the record says timeout."""
    setup(project, awx, "oversight", timeout=1)
    awx.statuses = ["running"]
    record = handle(project)
    job_id = next(iter(awx.jobs))
    assert len(awx.seen("POST", rf"/jobs/{job_id}/cancel/$")) == 1
    assert (record["outcome"], record["runner"]["status"]) == ("failed", "timeout")
    assert record["runner"]["error"].startswith(f"timed out after 1 s: job {job_id} cancelled")


def test_a_failed_job_is_a_failed_record_with_the_failing_task(project: Project,
                                                               awx: FakeAwx) -> None:
    """The recorded failed run: the host's failing task, its message, and the output tail."""
    setup(project, awx, "oversight")
    awx.events, awx.statuses = "failed", ["running", "failed"]
    record = handle(project)
    host = record["hosts"]["demo-web-01"]
    assert (record["outcome"], host["failed"]) == ("failed", 1)
    assert host["tasks"][-1]["msg"] == "demo-web-01: the service did not come back"
    assert "fatal: [demo-web-01]: FAILED!" in record["runner"]["error"]


def test_the_token_lands_in_no_record_store_runs_folder_or_notification(
        project: Project, awx: FakeAwx, sink: Any) -> None:
    """Even when AWX echoes it in an error, the token is in no record, no file of the store or
    runs folder, and no notification."""
    setup(project, awx, "oversight")
    project.configure({"notifications": {"channels": {"hook": {"type": "webhook",
                                                               "url": sink.url}}}})
    awx.fail("POST", "/launch/$", 400)
    awx.echo_headers = True  # the error AWX sends back quotes the Authorization header
    record = handle(project)
    assert record["outcome"] == "failed" and record["notifications"][0]["status"] == "sent"
    assert "'Authorization': 'Bearer <token>'" in record["runner"]["error"]
    assert sink.received and all(TOKEN.encode() not in r.body for r in sink.received)
    assert TOKEN not in json.dumps(record)
    for path in [project.store_path, *project.store_path.parent.rglob("*")]:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in awx.requests)


def test_an_unreachable_awx_is_a_failed_record(project: Project, awx: FakeAwx) -> None:
    """Connection refused: the run is recorded failed with the reason; handle exits 0."""
    setup(project, awx, "oversight", url="http://127.0.0.1:9")
    record = handle(project)
    assert record["outcome"] == "failed"
    assert "cannot connect" in record["runner"]["error"]


def test_a_job_template_without_awx_config_is_a_usage_error(project: Project) -> None:
    """The entry names a job template but remediator.yml has no awx: exit 2, file:line, key."""
    project.write_catalog(entry())
    result = project.cli("handle", "--json", "-", stdin=json.dumps(payload()), env=ENV)
    assert result.exit_code == 2
    assert f"{project.root / 'remediations.yml'}:" in result.output
    assert "entry 'fix-service': key 'job_template': names an AWX job template, but the " \
        "config" in result.output


def test_a_missing_token_is_a_usage_error_naming_the_variable(project: Project,
                                                              awx: FakeAwx) -> None:
    """No REMEDIATOR_AWX_TOKEN in the environment: exit 2 before anything is decided."""
    setup(project, awx)
    result = project.cli("handle", "--json", "-", stdin=json.dumps(payload()),
                         env={"REMEDIATOR_AWX_TOKEN": ""})
    assert result.exit_code == 2
    assert "environment variable REMEDIATOR_AWX_TOKEN is not set" in result.output
    assert not awx.requests


def test_catalog_validate_and_list_know_job_templates(project: Project, awx: FakeAwx) -> None:
    """validate passes offline (no syntax check of a remote playbook); list shows the template."""
    setup(project, awx)
    result = project.cli("catalog", "validate", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["problems"] == [] and report["playbooks"] == 0
    assert not awx.requests
    listed = project.cli("catalog", "list", env={"COLUMNS": "200"})  # one line per entry
    assert "AWX job template fix-service" in listed.output
    (row,) = json.loads(project.cli("catalog", "list", "--json").stdout)
    assert (row["playbook"], row["job_template"]) == ("", "fix-service")


def test_catalog_validate_awx_asks_awx_about_each_template(project: Project,
                                                          awx: FakeAwx) -> None:
    """--awx: a good template passes; one that cannot take check mode or is unknown is a
    problem naming file, line, entry and key; nothing is launched."""
    setup(project, awx, "oversight")
    result = project.cli("catalog", "validate", "--awx", "--json", env=ENV)
    assert result.exit_code == 0, result.output
    assert awx.seen("GET", "/launch/$") and awx.seen("GET", "/settings/jobs/$")
    project.write_catalog(entry("observe", template="restart-web"),
                          {**entry(template="no-such"), "name": "other",
                           "match": {"alertname": "Other"}})
    result = project.cli("catalog", "validate", "--awx", "--json", env=ENV)
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    catalog = project.root / "remediations.yml"
    assert any(p.startswith(f"{catalog}:3: entry 'fix-service': key 'job_template': ") and
               "would otherwise run LIVE" in p for p in problems), problems
    assert any(p.startswith(f"{catalog}:") and "entry 'other'" in p and
               "no job template named 'no-such'" in p for p in problems), problems
    assert not awx.seen("POST")
    missing = project.cli("catalog", "validate", "--awx", env={"REMEDIATOR_AWX_TOKEN": ""})
    assert missing.exit_code == 2 and "REMEDIATOR_AWX_TOKEN is not set" in missing.output


def test_catalog_validate_awx_reports_a_sliced_template(project: Project,
                                                       awx: FakeAwx) -> None:
    """A template that slices and does not prompt for the slice count: a warning naming the
    entry and what slicing means for it; validation still passes (the run is followed)."""
    setup(project, awx, "oversight")
    awx.slice(7, 3)
    result = project.cli("catalog", "validate", "--awx", "--json", env=ENV)
    assert result.exit_code == 0, result.output
    (warning,) = json.loads(result.stdout)["warnings"]
    assert warning.startswith(f"{project.root / 'remediations.yml'}:3: entry 'fix-service': "
                              "key 'job_template': it slices (job_slice_count 3)")
    assert "a workflow job of up to 3 slice jobs" in warning
    assert "'no hosts to target'" in warning and "prompt for it" in warning
    awx.slice(7, 3, ask=True)
    again = project.cli("catalog", "validate", "--awx", "--json", env=ENV)
    assert json.loads(again.stdout)["warnings"] == []


def test_a_sliced_run_is_recorded_with_its_workflow_job(project: Project, awx: FakeAwx) -> None:
    """Through handle: the record links the workflow job and lists its slice jobs."""
    setup(project, awx, "oversight")
    awx.slice(7, 2)
    record = handle(project)
    workflow = next(iter(awx.workflow_jobs))
    assert record["outcome"] == "succeeded"
    assert record["runner"]["artifacts"] == f"{awx.url}/api/v2/workflow_jobs/{workflow}/"
    assert record["runner"]["job"]["type"] == "workflow_job"
    assert [s["id"] for s in record["runner"]["job"]["slices"]] == \
        awx.workflow_jobs[workflow].slices


@pytest.mark.daemon
def test_sigterm_reaches_the_awx_job_through_serve(project: Project, awx: FakeAwx) -> None:
    """serve's shutdown after the grace period cancels the AWX job: the record is interrupted."""
    setup(project, awx, "oversight", timeout=120)
    awx.statuses = ["running"]
    project.configure({"server": {"workers": 1, "grace": 1, "endpoints": {
        "alertmanager": {"auth": "bearer", "token_env": "T_AM"}}}})
    server = Server(project.config, {**ENV, "T_AM": "am-token-0123456789"}).start()
    try:
        reply = server.post("/webhook/alertmanager", payload(),
                            {"Authorization": "Bearer am-token-0123456789"})
        assert reply.status == 202
        deadline = time.monotonic() + 30
        while not awx.seen("GET", r"^/api/v2/jobs/\d+/$") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.stop(signal.SIGTERM) == 0
    finally:
        server.kill()
    assert len(awx.seen("POST", r"/cancel/$")) == 1
    store = project.store()
    try:
        (record,) = list(store.records())
    finally:
        store.close()
    assert (record["outcome"], record["runner"]["status"]) == ("interrupted", "canceled")
    assert "remediator is shutting down" in record["runner"]["error"]
