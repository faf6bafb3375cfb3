"""The AWX executor against the contract server answering as AWX's code does (ansible/awx at
e21dd0a0), not only as its documentation reads: sliced templates, content negotiation, API
prefixes, survey-only templates, every event type, read-scoped tokens, launch refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from remediator.executor.awx_client import AwxClient, AwxError
from remediator.models import Mode, Outcome, RunnerStatus, frozen_map
from remediator.settings.awx import AwxSettings
from tests.awxserver import FakeAwx, serve
from tests.integration.test_awx_executor import FAST, plan, run


@pytest.fixture
def awx() -> Iterator[FakeAwx]:
    """The contract server, fresh for each test."""
    yield from serve()


def job_gets(awx: FakeAwx) -> list[str]:
    return [r.path for r in awx.seen("GET", r"/(jobs|workflow_jobs)/\d+/$")]


# -- 1. sliced job templates --


def test_a_sliced_template_is_followed_as_its_workflow_job(awx: FakeAwx) -> None:
    """job_slice_count 2 over a 2-host inventory launches a workflow job: it is polled at
    /workflow_jobs/N/, each slice job's events are read, and the slice whose share of the
    inventory holds no target (its ansible-playbook: 'no hosts to target') fails no run."""
    awx.slice(7, 2)
    result, seen = run(awx, plan(Mode.LIVE))
    (workflow,) = awx.workflow_jobs
    assert f"/api/v2/workflow_jobs/{workflow}/" in job_gets(awx)
    assert f"/api/v2/jobs/{workflow}/" not in job_gets(awx)
    assert (result.status, result.outcome, result.error) == (
        RunnerStatus.SUCCESSFUL, Outcome.SUCCEEDED, None)
    assert result.artifacts == f"{awx.url}/api/v2/workflow_jobs/{workflow}/"
    assert result.job is not None
    assert (result.job["type"], result.job["id"], result.job["status"]) == (
        "workflow_job", workflow, "failed")  # AWX's own verdict, kept as it said it
    first, second = result.job["slices"]
    assert (first["slice"], first["status"], "note" in first) == (1, "successful", False)
    assert (second["slice"], second["status"]) == (2, "failed")
    assert second["note"] == "its share of the inventory holds none of the targets"
    assert [t.status for t in result.hosts["demo-web-01"].tasks] == [
        "ok", "changed", "changed", "skipped"]
    assert result.hosts["demo-web-01"].changed == 2 and len(seen) == 4


def test_a_sliced_run_with_a_failing_target_is_failed_with_the_slices_output(
        awx: FakeAwx) -> None:
    """Both hosts targeted, one slice each; demo-web-01's slice fails: the record is failed,
    names the workflow job and quotes that slice job's output."""
    awx.slice(7, 2)
    awx.events, awx.statuses = "failed", ["pending", "running", "failed"]
    result, _ = run(awx, plan(Mode.LIVE, hosts=("demo-web-01", "demo-web-02")))
    workflow = next(iter(awx.workflow_jobs))
    slice_one = awx.workflow_jobs[workflow].slices[0]
    assert (result.status, result.outcome) == (RunnerStatus.FAILED, Outcome.FAILED)
    assert result.error is not None
    assert result.error.startswith(f"workflow job {workflow} failed; No error handling paths")
    assert f"job {slice_one} failed" in result.error
    assert "fatal: [demo-web-01]: FAILED!" in result.error
    assert result.hosts["demo-web-01"].failed == 1 and result.hosts["demo-web-02"].failed == 0


def test_a_sliced_run_past_its_timeout_cancels_the_workflow_job(awx: FakeAwx) -> None:
    """The cancel goes to /workflow_jobs/N/cancel/ (which cancels its slice jobs)."""
    awx.slice(7, 2)
    awx.statuses = ["pending", "waiting", "running"]
    result, _ = run(awx, plan(timeout_s=1))
    workflow = next(iter(awx.workflow_jobs))
    assert [r.path for r in awx.seen("POST", "cancel")] == [
        f"/api/v2/workflow_jobs/{workflow}/cancel/"]
    assert (result.status, result.outcome) == (RunnerStatus.TIMEOUT, Outcome.FAILED)
    assert result.error is not None and result.error.startswith(
        f"timed out after 1 s: workflow job {workflow} cancelled (it was running)")
    assert all(awx.jobs[j].status == "canceled" for j in awx.workflow_jobs[workflow].slices)


def test_a_template_that_prompts_for_the_slice_count_runs_one_job(awx: FakeAwx) -> None:
    """ask_job_slice_count_on_launch: remediator asks for one slice, AWX launches a job."""
    awx.slice(7, 2, ask=True)
    result, _ = run(awx)
    assert awx.launched()[0]["job_slice_count"] == 1
    assert not awx.workflow_jobs and len(awx.jobs) == 1
    assert result.outcome is Outcome.SUCCEEDED and result.job is not None
    assert "type" not in result.job


# -- 2. a failed job's output, by content negotiation --


def test_awx_answers_406_to_text_output_asked_as_json(awx: FakeAwx) -> None:
    """?format=txt with Accept: application/json is a 406 with an HTML page, as DRF's content
    negotiation answers; Accept: text/plain gets the text."""
    run(awx)
    job = next(iter(awx.jobs))
    client = AwxClient(AwxSettings(url=awx.url, **FAST), awx.token)
    with pytest.raises(AwxError, match="HTTP 406 Not Acceptable: <!DOCTYPE html>") as caught:
        client.get(f"/api/v2/jobs/{job}/stdout/", {"format": "txt"})
    assert caught.value.status == 406
    assert "PLAY RECAP" in client.get_text(f"/api/v2/jobs/{job}/stdout/", {"format": "txt"})


def test_a_job_that_stopped_before_any_host_records_its_real_output(awx: FakeAwx) -> None:
    """A playbook that does not parse: no host events; the record quotes ansible's error
    from the job's output (read as text/plain) and names the setup failure."""
    awx.events, awx.statuses = "syntax-error", ["pending", "running", "failed"]
    result, _ = run(awx)
    (stdout,) = awx.seen("GET", r"/stdout/$")
    assert stdout.headers["Accept"] == "text/plain"
    assert result.outcome is Outcome.FAILED and result.setup_failure == "syntax"
    assert result.error is not None
    assert "conflicting action statements: ansible.builtin.debug" in result.error
    assert "406" not in result.error and "<!DOCTYPE" not in result.error
    assert result.hosts["demo-web-01"].tasks == ()


def test_awxs_own_timeout_is_recorded_as_a_timeout(awx: FakeAwx) -> None:
    """The launch passed the entry's timeout; AWX ended the job 'failed' with 'Job terminated
    due to timeout': the record says timeout, like a local run."""
    awx.awx_timeout = True
    awx.statuses = ["pending", "waiting", "running", "failed"]
    result, _ = run(awx)
    (job,) = awx.jobs
    assert (result.status, result.outcome) == (RunnerStatus.TIMEOUT, Outcome.FAILED)
    assert result.error == f"timed out: AWX stopped job {job} at its timeout (the entry's " \
        "timeout, passed at launch)"


# -- 3. API path prefixes --


def test_an_api_under_a_prefix_is_used_throughout() -> None:
    """/api/controller/v2/ (Automation Platform 2.5's gateway; AWX's
    OPTIONAL_API_URLPATTERN_PREFIX): every request and the recorded URL use it."""
    for awx in serve(FakeAwx(prefix="controller")):
        result, _ = run(awx, api_base_path="/api/controller/")
        assert result.outcome is Outcome.SUCCEEDED, result.error
        assert all(r.path.startswith("/api/controller/v2/") for r in awx.requests)
        assert result.artifacts == f"{awx.url}/api/controller/v2/jobs/{next(iter(awx.jobs))}/"


def test_a_missing_prefix_is_explained() -> None:
    """Without api_base_path the gateway has no /api/v2/: the record says where to look."""
    for awx in serve(FakeAwx(prefix="controller")):
        result, _ = run(awx)
        assert result.error is not None
        assert "HTTP 404" in result.error and "set awx.api_base_path" in result.error


# -- 4. survey-only templates --


def test_a_survey_only_template_takes_the_answers_to_its_questions(awx: FakeAwx) -> None:
    """No ask_variables_on_launch, a survey asking for note: the note goes in as an answer,
    out_dir (equal to the template's own) is kept by AWX, nothing is ignored."""
    awx.survey(7, {"variable": "note", "required": True})
    result, _ = run(awx)
    assert result.outcome is Outcome.SUCCEEDED, result.error
    assert awx.launched()[0]["extra_vars"]["note"].startswith("{{ lookup")
    extravars = awx.jobs[next(iter(awx.jobs))].extravars_file
    assert "!unsafe 'note'" in extravars


def test_a_variable_the_survey_does_not_ask_for_is_refused_before_launch(
        awx: FakeAwx) -> None:
    """A static var the survey does not ask for (and the template does not hold) would be
    ignored by AWX: refused, nothing launched."""
    awx.survey(7, {"variable": "note", "required": True})
    result, _ = run(awx, plan(trusted_vars=frozen_map({"workers": 4})))
    assert not awx.seen("POST")
    assert result.error is not None and "its survey asks only for note" in result.error
    assert "workers would be dropped" in result.error


def test_an_unreadable_survey_is_guarded_by_the_launch_answer(awx: FakeAwx) -> None:
    """Without Admin the survey spec is a 403: the job launches, AWX ignores the variable the
    survey lacks, and the job is cancelled at once."""
    awx.survey(7, {"variable": "note", "required": True})
    awx.survey_readable = False
    awx.statuses = ["pending", "running"]
    result, _ = run(awx, plan(trusted_vars=frozen_map({"workers": 4})))
    assert len(awx.seen("POST", "cancel")) == 1
    assert result.error is not None and result.error.startswith("AWX ignored extra_vars")


def test_a_survey_answer_awx_refuses_is_a_named_cause(awx: FakeAwx) -> None:
    """An answer longer than the question allows: AWX's 400 variables_needed_to_start."""
    awx.survey(7, {"variable": "note", "required": True, "max": 10})
    result, _ = run(awx)
    assert not awx.jobs and result.error is not None
    assert result.error.startswith("AWX refused to launch job template 'fix-service' (id 7) "
                                   "(HTTP 400): its survey refused the answers")
    assert "'note' value {{ lookup" in result.error and "no more than 10" in result.error


# -- 5. every event type --


def test_retries_async_items_and_dropped_results_reach_the_record(awx: FakeAwx) -> None:
    """Recorded events with runner_retry, runner_on_async_ok, runner_item_on_*, and a result
    over MAX_EVENT_RES_DATA that arrived as {}: each shows in the task it belongs to."""
    awx.events, awx.statuses = "edge-cases", ["pending", "running", "failed"]
    result, _ = run(awx, plan(Mode.LIVE, hosts=("demo-web-01", "demo-web-02")))
    host = result.hosts["demo-web-01"]
    tasks = {t.name: t for t in host.tasks}
    assert tasks["Wait until the service answers"].msg == "after 2 retries"
    dump = tasks["Dump the service state"]
    assert dump.msg is not None and dump.msg.startswith(
        "AWX dropped this task's result: larger than 700,000 characters")
    loop = tasks["Restart each worker"]
    assert loop.status == "failed" and loop.msg is not None
    assert result.job is not None
    assert result.job["results_dropped_by_awx"] == [
        "demo-web-01: Dump the service state", "demo-web-02: Dump the service state"]
    assert result.hosts["demo-web-02"].failed == 0 and host.failed == 1


# -- 6. 403 and launch 400s, explained --


def test_a_read_scoped_token_is_named_as_such(awx: FakeAwx) -> None:
    """A token of scope 'read' reads everything and may POST nothing: the record says so."""
    awx.token_scope = "read"
    result, _ = run(awx)
    assert not awx.jobs and result.error is not None
    assert "HTTP 403 Forbidden" in result.error
    assert "the token is read-only (OAuth2 scope 'read')" in result.error
    assert "lacks the permission" not in result.error


def test_a_user_without_execute_is_named_as_such(awx: FakeAwx) -> None:
    """A write token whose user may only read the template: the Execute role is missing."""
    awx.can_launch = False
    result, _ = run(awx)
    assert result.error is not None and "give it the Execute role" in result.error


@pytest.mark.parametrize(("refusal", "expected"), [
    ("passwords_needed_to_start", "its credentials need passwords typed at launch, which an alert "
                                  "cannot type; use credentials that store them "
                                  "(passwords_needed_to_start: ssh_password; become_password)"),
    ("resources_needed_to_start", "it lacks a resource it needs to start (an inventory or a "
                                  "project) (resources_needed_to_start: Job Template "
                                  "inventory is missing or undefined.)"),
    ("credentials", "AWX refused its credentials (credentials: Cannot assign multiple Machine "
                    "credentials.)"),
    ("inventory", "its inventory cannot be used (inventory: The inventory associated with this "
                  "Job Template is being deleted.)"),
    ("playbook", "its project has no revision to run: the last project update failed; update "
                 "the project on AWX (playbook: Missing a revision to run due to failed "
                 "project update.)"),
    ("project", "it has no project (project: A project is required to run a job.)"),
])
def test_each_launch_refusal_is_a_named_cause(awx: FakeAwx, refusal: str,
                                              expected: str) -> None:
    """Each 400 shape of JobLaunchSerializer.validate: the cause in words, AWX's own text."""
    awx.launch_refusal = refusal
    result, _ = run(awx)
    assert not awx.jobs and result.error is not None
    assert result.error == "AWX refused to launch job template 'fix-service' (id 7) (HTTP " \
        f"400): {expected}"


def test_statuses_before_running_are_followed(awx: FakeAwx) -> None:
    """pending and waiting (the task manager, then the dispatcher) come before running."""
    awx.statuses = ["pending", "waiting", "waiting", "running", "successful"]
    result, _ = run(awx)
    assert result.outcome is Outcome.SUCCEEDED
    assert len(job_gets(awx)) >= 5
