"""The AWX executor against the AWX contract server on loopback (real HTTP, recorded answers).

AWX itself cannot run on these machines; tests/awxserver.py serves AWX API v2 as documented.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediator.executor import RunPlan
from remediator.executor.awx import AwxExecutor
from remediator.models import Mode, Outcome, RunnerStatus, RunResult, TaskResult, frozen_map
from remediator.settings.awx import AwxSettings
from tests.awxserver import FakeAwx, serve

NOTE = "{{ lookup('pipe', 'id') }} from the alert"
FAST = {"poll_interval_s": 0.02, "backoff_s": 0.01, "events_wait_s": 2.0, "retries": 2}


@pytest.fixture
def awx() -> Iterator[FakeAwx]:
    """The contract server, fresh for each test."""
    yield from serve()


def executor(awx: FakeAwx, token: str | None = None, **settings: Any) -> AwxExecutor:
    """An AwxExecutor pointed at the contract server, polling fast."""
    return AwxExecutor(AwxSettings(url=awx.url, **{**FAST, **settings}), token or awx.token)


def plan(mode: Mode = Mode.CHECK, **changes: Any) -> RunPlan:
    """A plan for the fix-service template (by name) on demo-web-01 with an alert note."""
    fields: dict[str, Any] = {
        "ident": "rec-1", "playbook": Path(), "inventory": (), "hosts": ("demo-web-01",),
        "mode": mode, "untrusted_vars": frozen_map({"note": NOTE}),
        "trusted_vars": frozen_map({"out_dir": "/srv/app"}), "timeout_s": 30,
        "job_template": "fix-service"}
    return RunPlan(**{**fields, **changes})


def run(awx: FakeAwx, the_plan: RunPlan | None = None, **settings: Any
        ) -> tuple[RunResult, list[tuple[str, TaskResult]]]:
    """Run a plan; the result and the (host, task) pairs reported to progress."""
    seen: list[tuple[str, TaskResult]] = []
    result = executor(awx, **settings).run(the_plan or plan(),
                                           lambda host, task: seen.append((host, task)))
    return result, seen


# -- a job that runs --


def test_a_check_plan_launches_a_check_job_and_records_each_task_with_its_diff(
        awx: FakeAwx) -> None:
    """job_type check, the limit, the alert note as sent; per-task results with the diff."""
    awx.events = "check"
    result, seen = run(awx)
    (body,) = awx.launched()
    assert body == {"limit": "demo-web-01", "job_type": "check", "diff_mode": True,
                    "timeout": 30, "extra_vars": {"out_dir": "/srv/app", "note": NOTE}}
    assert (result.status, result.outcome, result.error) == (
        RunnerStatus.SUCCESSFUL, Outcome.SUCCEEDED, None)
    host = result.hosts["demo-web-01"]
    assert [(t.name, t.status) for t in host.tasks] == [
        ("Show the alert note", "ok"), ("Write the service config", "changed"),
        ("Restart the service", "skipped"), ("Refuse on the broken host", "skipped")]
    assert host.tasks[0].msg == f"note: {NOTE}"  # printed, never templated
    assert host.tasks[1].diff == [{"before": "workers = 2\n", "after": "workers = 4\n",
                                   "before_header": "/srv/app/demo-web-01.conf",
                                   "after_header": "/srv/app/demo-web-01.conf"}]
    assert (host.ok, host.changed, host.skipped, host.failed) == (2, 1, 2, 0)
    assert [(h, t.name) for h, t in seen] == [("demo-web-01", t.name) for t in host.tasks]
    job_id = next(iter(awx.jobs))
    assert result.artifacts == f"{awx.url}/api/v2/jobs/{job_id}/"
    assert result.job == {"kind": "awx", "id": job_id, "url": result.artifacts,
                          "job_template": {"id": 7, "name": "fix-service"},
                          "status": "successful", "job_type": "check", "limit": "demo-web-01",
                          "playbook": "fix_service.yml", "diff_mode": True,
                          "scm_revision": "3f0c1d9a6b2e4c8f9a7d5e1b0c2a4f6e8d0b1c3a"}
    assert result.ident == "rec-1" and result.rc is None


def test_awx_writes_the_alert_note_unsafe_for_ansible(awx: FakeAwx) -> None:
    """Sent as plain JSON, the note reaches ansible-playbook tagged !unsafe (AWX's default
    ALLOW_JINJA_IN_EXTRA_VARS 'template'); the template's own out_dir stays plain."""
    run(awx)
    extravars = awx.jobs[next(iter(awx.jobs))].extravars_file
    assert "!unsafe 'note': !unsafe '{{ lookup(''pipe'', ''id'') }} from the alert'" in extravars
    assert "out_dir: /srv/app" in extravars


def test_a_live_plan_launches_a_run_job_on_every_host_of_the_plan(awx: FakeAwx) -> None:
    """job_type run over two hosts; the recap's counters are AWX's own."""
    result, _ = run(awx, plan(Mode.LIVE, hosts=("demo-web-01", "demo-web-02"),
                              job_template=7))
    assert awx.launched()[0]["job_type"] == "run"
    assert awx.launched()[0]["limit"] == "demo-web-01,demo-web-02"
    assert not awx.seen("GET", r"^/api/v2/job_templates/$")  # an id needs no lookup
    assert result.outcome is Outcome.SUCCEEDED
    for name in ("demo-web-01", "demo-web-02"):
        host = result.hosts[name]
        assert (host.ok, host.changed, host.skipped) == (3, 2, 1)
        assert [t.status for t in host.tasks] == ["ok", "changed", "changed", "skipped"]


def test_a_failed_job_records_the_failed_task_and_the_end_of_its_output(awx: FakeAwx) -> None:
    """The failing host's task and message; the error names the job and quotes its output."""
    awx.events = "failed"
    awx.statuses = ["running", "failed"]
    result, _ = run(awx, plan(Mode.LIVE, hosts=("demo-web-01", "demo-web-02")))
    assert (result.status, result.outcome) == (RunnerStatus.FAILED, Outcome.FAILED)
    broken = result.hosts["demo-web-01"]
    assert broken.failed == 1
    assert broken.tasks[-1].status == "failed"
    assert broken.tasks[-1].msg == "demo-web-01: the service did not come back"
    assert result.hosts["demo-web-02"].failed == 0
    assert result.error is not None
    assert result.error.startswith(f"job {next(iter(awx.jobs))} failed; output: ")
    assert "fatal: [demo-web-01]: FAILED!" in result.error
    assert awx.seen("GET", r"/stdout/$")[0].query == {"format": "txt"}


def test_an_error_job_is_recorded_with_awxs_explanation(awx: FakeAwx) -> None:
    """status error (AWX could not run it): failed outcome, job_explanation in the error."""
    awx.statuses = ["pending", "error"]
    result, _ = run(awx)
    assert (result.status, result.outcome) == (RunnerStatus.ERROR, Outcome.FAILED)
    assert result.error is not None and "Job terminated due to error" in result.error


def test_events_are_read_page_by_page_once_awx_has_saved_them(awx: FakeAwx) -> None:
    """With 4 events a page every event is still read, in order, after event processing."""
    awx.unsaved_polls = 3
    result, _ = run(awx, page_size=4)
    pages = awx.seen("GET", r"/job_events/$")
    count = len(awx._run_events(awx.jobs[next(iter(awx.jobs))]))  # demo-web-01's share
    assert count == 16 and len(pages) == 4  # 4 events a page
    assert [r.query.get("page") for r in pages] == [None, "2", "3", "4"]
    assert all(r.query["order_by"] == "counter" and r.query["page_size"] == "4" for r in pages)
    assert len(result.hosts["demo-web-01"].tasks) == 4
    job_gets = awx.seen("GET", r"^/api/v2/jobs/\d+/$")
    assert len(job_gets) >= 3 + 3  # pending, running, successful, then waiting for the events


def test_events_not_saved_in_time_are_noted(awx: FakeAwx) -> None:
    """If AWX never finishes saving events, the record says it may miss tasks."""
    awx.unsaved_polls = 10_000
    result, _ = run(awx, events_wait_s=0.1)
    assert result.error is not None and "had not saved all events" in result.error


# -- refusing to launch --


def test_a_check_plan_on_a_template_fixed_to_run_is_refused_before_launch(
        awx: FakeAwx) -> None:
    """restart-web prompts for nothing: no job is launched, the record says why."""
    result, _ = run(awx, plan(job_template="restart-web"))
    assert not awx.seen("POST")
    assert (result.status, result.outcome) == (RunnerStatus.ERROR, Outcome.FAILED)
    assert result.error is not None
    assert result.error.startswith("refused to launch job template 'restart-web' (id 8): ")
    assert "would otherwise run LIVE" in result.error
    assert "ask_limit_on_launch is false" in result.error
    assert "ask_variables_on_launch is false" in result.error
    assert result.hosts["demo-web-01"].tasks == ()
    assert result.job == {"kind": "awx", "id": None, "url": None,
                          "job_template": {"id": 8, "name": "restart-web"}}


def test_fields_awx_ignored_at_launch_cancel_the_job(awx: FakeAwx) -> None:
    """If the template stopped prompting for the limit after we looked, the job is cancelled."""
    awx.templates[7]["ask_limit_on_launch"] = False  # changed between the GET and the POST
    awx.statuses = ["running"]
    result, _ = run(awx)
    job_id = next(iter(awx.jobs))
    assert [r.path for r in awx.seen("POST", "cancel")] == [f"/api/v2/jobs/{job_id}/cancel/"]
    assert (result.status, result.outcome) == (RunnerStatus.ERROR, Outcome.FAILED)
    assert result.error is not None and result.error.startswith(
        f"AWX ignored limit at launch (job template 'fix-service' (id 7) does not prompt for "
        f"them): job {job_id} cancelled")
    assert result.job is not None and result.job["ignored_fields"] == ["limit"]


@pytest.mark.parametrize("setting", ["always", None])
def test_alert_data_is_not_sent_to_an_awx_that_may_template_it(awx: FakeAwx,
                                                               setting: str | None) -> None:
    """ALLOW_JINJA_IN_EXTRA_VARS 'always', or unreadable (403): refused, nothing launched."""
    awx.jinja = setting
    result, _ = run(awx)
    assert not awx.seen("POST")
    assert result.error is not None
    if setting == "always":
        assert "ALLOW_JINJA_IN_EXTRA_VARS is 'always'" in result.error
    else:
        assert "cannot read AWX's ALLOW_JINJA_IN_EXTRA_VARS" in result.error
        assert "HTTP 403" in result.error and "system auditor" in result.error


def test_a_declared_jinja_setting_skips_the_settings_check(awx: FakeAwx) -> None:
    """jinja_setting never: the token needs no auditor rights, the job launches."""
    awx.jinja = None
    result, _ = run(awx, jinja_setting="never")
    assert not awx.seen("GET", "settings")
    assert result.outcome is Outcome.SUCCEEDED
    assert "!unsafe 'out_dir'" in awx.jobs[next(iter(awx.jobs))].extravars_file


def test_a_plan_without_alert_data_needs_no_settings_check(awx: FakeAwx) -> None:
    """Nothing untrusted to protect: the settings endpoint is not asked."""
    awx.jinja = None
    result, _ = run(awx, plan(untrusted_vars=frozen_map()))
    assert not awx.seen("GET", "settings") and result.outcome is Outcome.SUCCEEDED


# -- stopping a job --


def test_a_job_past_its_timeout_is_cancelled_and_recorded(awx: FakeAwx) -> None:
    """A job that never ends: cancel POSTed at timeout_s, status timeout, outcome failed."""
    awx.statuses = ["pending", "running"]
    started = time.monotonic()
    result, _ = run(awx, plan(timeout_s=1))
    assert 1.0 <= time.monotonic() - started < 10
    job_id = next(iter(awx.jobs))
    assert len(awx.seen("POST", rf"/jobs/{job_id}/cancel/$")) == 1
    assert (result.status, result.outcome) == (RunnerStatus.TIMEOUT, Outcome.FAILED)
    assert result.error is not None and result.error.startswith(
        f"timed out after 1 s: job {job_id} cancelled (it was running)")
    assert result.job is not None and result.job["status"] == "canceled"


def test_a_job_that_ignores_cancel_is_given_up_on(awx: FakeAwx,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """If AWX never stops the job, the executor still returns and says so."""
    monkeypatch.setattr("remediator.executor.awx.CANCEL_WAIT_S", 0.3)
    awx.statuses = ["running"]
    awx.cancel_honoured = False
    result, _ = run(awx, plan(timeout_s=1))
    assert result.status is RunnerStatus.TIMEOUT
    assert result.error is not None and "still running 0.3 s after the cancel request" in \
        result.error


def test_shutdown_cancels_the_job_and_the_run_is_interrupted(awx: FakeAwx) -> None:
    """Setting ``cancel`` (serve's SIGTERM) cancels the running job: outcome interrupted."""
    awx.statuses = ["running"]
    runner = executor(awx)
    results: list[RunResult] = []
    thread = threading.Thread(target=lambda: results.append(runner.run(plan(timeout_s=60))))
    thread.start()
    deadline = time.monotonic() + 10
    while not awx.seen("GET", r"^/api/v2/jobs/\d+/$") and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.cancel.set()
    thread.join(10)
    (result,) = results
    assert len(awx.seen("POST", "cancel")) == 1
    assert (result.status, result.outcome) == (RunnerStatus.CANCELED, Outcome.INTERRUPTED)
    assert result.error is not None and "remediator is shutting down" in result.error


def test_a_cancelled_job_is_polled_at_the_poll_interval(awx: FakeAwx,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Once cancel is set the wait no longer blocks: the poll interval still paces the GETs."""
    monkeypatch.setattr("remediator.executor.awx.CANCEL_WAIT_S", 0.5)
    awx.statuses = ["running"]
    awx.cancel_honoured = False
    runner = executor(awx, poll_interval_s=0.05)
    results: list[RunResult] = []
    thread = threading.Thread(target=lambda: results.append(runner.run(plan(timeout_s=60))))
    thread.start()
    while not awx.seen("GET", r"^/api/v2/jobs/\d+/$"):
        time.sleep(0.01)
    runner.cancel.set()
    thread.join(10)
    gets = len(awx.seen("GET", r"^/api/v2/jobs/\d+/$"))
    assert 5 <= gets <= 20, gets  # 0.5 s at 0.05 s, not a busy loop
    assert "still running 0.5 s after the cancel request" in (results[0].error or "")


def test_nothing_is_launched_once_shutdown_began(awx: FakeAwx) -> None:
    """A plan that starts after cancel was set launches nothing and is interrupted."""
    runner = executor(awx)
    runner.cancel.set()
    result = runner.run(plan())
    assert not awx.seen("POST")
    assert (result.status, result.outcome) == (RunnerStatus.CANCELED, Outcome.INTERRUPTED)


# -- API errors, recorded --


def test_5xx_answers_to_gets_are_retried(awx: FakeAwx) -> None:
    """Two 5xx on the job's GET, then the answer: the run succeeds."""
    awx.fail("GET", r"^/api/v2/jobs/\d+/$", 502, 503)
    result, _ = run(awx)
    assert result.outcome is Outcome.SUCCEEDED and result.error is None


def test_5xx_past_the_retries_is_recorded(awx: FakeAwx) -> None:
    """retries+1 failed GETs of the launch settings: recorded, nothing launched."""
    awx.fail("GET", "/launch/$", 500, 502, 503)
    result, _ = run(awx)
    assert len(awx.seen("GET", "/launch/$")) == 3 and not awx.seen("POST")
    assert result.error is not None
    assert result.error.startswith("GET /api/v2/job_templates/7/launch/: HTTP 503")
    assert result.outcome is Outcome.FAILED


def test_a_launch_post_is_never_retried(awx: FakeAwx) -> None:
    """A 502 to the launch may hide a created job: one POST, and the record says where to look."""
    awx.fail("POST", "/launch/$", 502)
    result, _ = run(awx)
    assert len(awx.seen("POST")) == 1
    assert result.error is not None and "a job may have been created on AWX: not retried" in \
        result.error
    assert f"{awx.url}/api/v2/job_templates/7/jobs/" in result.error


@pytest.mark.parametrize(("status", "expected"), [
    (401, "HTTP 401 Unauthorized: Authentication credentials were not provided"),
    (403, "HTTP 403 Forbidden: You do not have permission to perform this action. (the "
          "token's user may read job template 'fix-service' (id 7) but not launch it"),
    (404, "HTTP 404 Not Found: Not found. (not found, or not visible"),
])
def test_client_errors_are_recorded_with_awxs_detail(awx: FakeAwx, status: int,
                                                     expected: str) -> None:
    """4xx on the launch POST: one request, AWX's own detail and a hint in the record."""
    awx.fail("POST", "/launch/$", status)
    result, _ = run(awx)
    assert len(awx.seen("POST")) == 1
    assert result.error is not None and expected in result.error


def test_a_wrong_token_is_recorded_and_never_echoed(awx: FakeAwx) -> None:
    """The server refuses the token: 401 recorded, the token itself nowhere in the result."""
    result = executor(awx, token="wrong-token-123").run(plan())
    assert result.error is not None
    assert result.error.startswith("GET /api/v2/job_templates/: HTTP 401 Unauthorized")
    assert "token in awx.token_env was refused" in result.error
    assert "wrong-token-123" not in repr(result)
    assert all(r.headers["Authorization"] == "Bearer wrong-token-123" for r in awx.requests)


def test_unknown_templates_are_recorded(awx: FakeAwx) -> None:
    """A name AWX does not know, and an id it does not have."""
    result, _ = run(awx, plan(job_template="no-such-template"))
    assert result.error is not None and "no job template named 'no-such-template'" in result.error
    result, _ = run(awx, plan(job_template=999))
    assert result.error is not None and result.error.startswith(
        "GET /api/v2/job_templates/999/: HTTP 404 Not Found")


def test_an_answer_that_is_not_json_is_recorded(awx: FakeAwx) -> None:
    """A proxy's HTML page instead of the job: recorded as not JSON."""
    awx.fail("GET", r"^/api/v2/jobs/\d+/$", 200)
    result, _ = run(awx)
    assert result.error is not None
    assert "GET /api/v2/jobs/" in result.error and "the answer is not JSON: <!DOCTYPE html>" in \
        result.error
    assert result.error.endswith(f"job {next(iter(awx.jobs))} may still be running on AWX: "
                                 "remediator lost track of it")
    assert result.outcome is Outcome.FAILED


def test_connection_refused_is_retried_then_recorded() -> None:
    """No server at the address: each GET is tried retries+1 times, then recorded."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pauses: list[float] = []
    runner = AwxExecutor(AwxSettings(url=f"http://127.0.0.1:{port}", **FAST), "t",
                         sleep=pauses.append)
    result = runner.run(plan())
    assert pauses == [0.01, 0.02]  # doubling
    assert result.error is not None
    assert result.error.startswith("GET /api/v2/job_templates/: cannot connect: ")
    assert "Connection refused" in result.error
    assert (result.status, result.outcome, result.artifacts) == (
        RunnerStatus.ERROR, Outcome.FAILED, None)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True, timeout=60)
    return cert, key


def test_tls_is_verified_against_ca_file(certificate: tuple[Path, Path]) -> None:
    """An unknown CA is a recorded TLS error (not retried); with ca_file the run succeeds."""
    for awx in serve(tls=certificate):
        pauses: list[float] = []
        unknown = AwxExecutor(AwxSettings(url=awx.url, **FAST), awx.token,
                              sleep=pauses.append).run(plan())
        assert unknown.error is not None and "TLS error" in unknown.error
        assert "CERTIFICATE_VERIFY_FAILED" in unknown.error and pauses == []
        trusted = AwxExecutor(AwxSettings(url=awx.url, ca_file=certificate[0], **FAST),
                              awx.token).run(plan())
        assert trusted.outcome is Outcome.SUCCEEDED, trusted.error


def test_awx_refuses_unsafe_tagged_yaml_so_variables_go_as_json(awx: FakeAwx) -> None:
    """The local executor's `!unsafe` YAML is a 400 from AWX (yaml.safe_load); JSON is taken."""
    from remediator.executor.awx_client import AwxClient, AwxError
    from remediator.executor.local import untrusted_yaml

    client = AwxClient(AwxSettings(url=awx.url, **FAST), awx.token)
    tagged = untrusted_yaml({"note": NOTE})
    with pytest.raises(AwxError, match="could not determine a constructor for the tag "
                                       "'!unsafe'") as caught:
        client.post("/api/v2/job_templates/7/launch/", {"limit": "demo-web-01",
                                                         "extra_vars": tagged})
    assert caught.value.status == 400
    assert not awx.jobs
    answer = client.post("/api/v2/job_templates/7/launch/", {"limit": "demo-web-01",
                                                              "extra_vars": {"note": NOTE}})
    assert answer["ignored_fields"] == {} and answer["job"] in awx.jobs
