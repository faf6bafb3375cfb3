"""The AWX / Automation Platform executor: launch a job template, follow the job, read its events.

The job's events have the shape of ansible-runner's, so one ``ResultCollector`` turns either
into the same per-host, per-task results. Before launching, the template must take what safety
needs at launch: the job type (else a check-mode plan would run live), the limit (else every
host of its inventory) and the variables; AWX silently drops any field a template does not
prompt for, so the launch answer's ``ignored_fields`` is checked too, and a job launched with
anything ignored is cancelled at once.

Alert data goes to AWX as plain JSON extra vars. AWX itself then writes every launch-time
variable with the ``!unsafe`` tag (so Ansible never templates it) unless its
``ALLOW_JINJA_IN_EXTRA_VARS`` setting is ``always``, which this executor checks (or is told).
AWX rejects a YAML string carrying ``!unsafe`` tags (it parses extra vars with
``yaml.safe_load``), so the tags cannot be sent from here. See tests/data/awx/README.md.

Nothing here raises past ``run``: API errors, timeouts and refusals are recorded in the
RunResult.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..common import iso, utc_now
from ..models import Mode, RunnerStatus, RunResult
from ..results import ResultCollector, outcome_of, setup_failure
from ..settings.awx import AwxSettings
from . import ProgressFn, RunPlan, plain_data
from .awx_client import AwxClient, AwxError
from .awx_events import AwxEvents, plain
from .awx_launch import launch_body, launch_error, launch_refusals
from .awx_templates import Refused, TemplateCheck, Templates, name, own_vars

__all__ = ["AwxExecutor", "TemplateCheck", "launch_body", "launch_refusals"]

# AWX's final statuses; new, pending, waiting and running come before
# (UnifiedJob.JOB_STATUS_CHOICES, awx/main/models/unified_jobs.py at e21dd0a0).
FINAL = {"successful": RunnerStatus.SUCCESSFUL, "failed": RunnerStatus.FAILED,
         "error": RunnerStatus.ERROR, "canceled": RunnerStatus.CANCELED}
CANCEL_WAIT_S = 30.0  # how long a cancelled job may take to reach a final status
STDOUT_TAIL = 2000  # characters of a failed job's output kept in the record
NO_HOSTS = "leaves us with no hosts to target"  # ansible-playbook, a slice without targets
TOO_LARGE = "Standard Output too large to display"  # UnifiedJobStdout.retrieve
# RunJob.run (awx/main/tasks/jobs.py at e21dd0a0): ansible-runner's 'timeout' becomes status
# 'failed' with this explanation: the launch's timeout (the entry's) ran out on AWX's side.
AWX_TIMEOUT = "Job terminated due to timeout"


@dataclass
class _Job:
    """What is known about the job while it runs; becomes the RunResult."""

    template: Mapping[str, Any] = field(default_factory=dict)  # {"id", "name"}
    id: int | None = None
    kind: str = "job"  # or "workflow_job": a sliced template's launch
    detail: Mapping[str, Any] = field(default_factory=dict)  # the last GET of the job
    status: RunnerStatus = RunnerStatus.ERROR
    stopped: RunnerStatus | None = None  # TIMEOUT or CANCELED when we cancelled it
    errors: list[str] = field(default_factory=list)
    ignored: Mapping[str, Any] = field(default_factory=dict)
    slices: list[dict[str, Any]] = field(default_factory=list)  # a workflow's slice jobs
    collected: bool = False  # every event of the ended job was read
    stripped: list[str] = field(default_factory=list)


class AwxExecutor:
    """Runs plans that name a job template on AWX / Automation Platform (API v2)."""

    def __init__(self, settings: AwxSettings, token: str, *,
                 clock: Callable[[], datetime] = utc_now,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.api = settings.api  # /api/v2, or /api/<prefix>/v2
        self.client = AwxClient(settings, token, sleep=sleep)
        self.templates = Templates(self.client, settings)
        self.clock = clock
        self.cancel = threading.Event()

    def run(self, plan: RunPlan, progress: ProgressFn | None = None) -> RunResult:
        """Launch the plan's job template, follow the job, and collect its events."""
        started = self.clock()
        t0 = time.monotonic()
        job = _Job()
        collector = ResultCollector()
        try:
            self._launch(plan, job)
            self._follow(plan, job, t0)
            self._collect(job, collector, progress)
        except (Refused, AwxError) as exc:
            job.errors.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - a failed run is data, never an exception
            job.errors.append(f"{type(exc).__name__}: {exc}")
        if job.id is not None and job.detail.get("status") not in FINAL:
            job.errors.append(f"{_kind(job)} {job.id} may still be running on AWX: "
                              "remediator lost track of it")
        return self._result(plan, job, collector, started, time.monotonic() - t0)

    def _path(self, job: _Job, job_id: int | None = None) -> str:
        """The API path of the job (``job_id``: one of its slice jobs)."""
        if job_id is not None or job.kind == "job":
            return f"{self.api}/jobs/{job_id if job_id is not None else job.id}/"
        return f"{self.api}/workflow_jobs/{job.id}/"

    # -- launching --

    def _launch(self, plan: RunPlan, job: _Job) -> None:
        """Resolve the template, check it can run the plan safely, launch it."""
        if plan.job_template is None:
            raise Refused("this plan names no job template")
        if self.cancel.is_set():
            job.stopped = RunnerStatus.CANCELED
            raise Refused("not launched: remediator is shutting down")
        template = self.templates.get(plan.job_template)
        job.template = {"id": template["id"], "name": template["name"]}
        where = f"{self.api}/job_templates/{job.template['id']}/launch/"
        launch = self.client.get(where)
        variables = {**plan.trusted_vars, **plan.untrusted_vars}
        survey = self.templates.survey(job.template, launch, variables)
        if survey is not None:  # AWX keeps a value equal to the template's own, survey or not
            own = own_vars(template)
            survey += [k for k, v in plain_data(variables).items() if k in own and own[k] == v]
        refusals = launch_refusals(launch, plan.mode, plan.hosts, variables, survey)
        if refusals:
            raise Refused(f"refused to launch {name(job.template)}: " + "; ".join(refusals))
        if plan.untrusted_vars:
            self.templates.check_jinja(job.template)
        try:
            answer = self.client.post(where, launch_body(plan, launch)) or {}
        except AwxError as exc:
            raise self._launch_failed(exc, job.template, where) from None
        # A sliced template answers with a workflow job: {"workflow_job": N, "type":
        # "workflow_job", ...} (JobTemplateLaunch.post, awx/api/views/__init__.py at
        # e21dd0a0; awxkit's JobTemplate.launch reads both, awxkit/api/pages/job_templates.py)
        if answer.get("type") == "workflow_job" or "workflow_job" in answer:
            job.kind = "workflow_job"
            job.id = int(answer.get("workflow_job") or answer["id"])
        else:
            job.id = int(answer.get("job") or answer["id"])
        job.detail = answer
        job.ignored = answer.get("ignored_fields") or {}
        if job.ignored:
            job.errors.append(f"AWX ignored {', '.join(sorted(job.ignored))} at launch "
                              f"({name(job.template)} does not prompt for them): "
                              f"{_kind(job)} {job.id} cancelled")
            job.stopped = RunnerStatus.ERROR
            self._cancel(job)

    def _launch_failed(self, exc: AwxError, template: Mapping[str, Any], where: str
                       ) -> AwxError:
        """The launch POST's failure, explained: a 5xx may hide a job, a 400 names its cause,
        a 403 says whether the token or the user lacks what a launch needs."""
        if exc.status is None or exc.status >= 500:
            jobs = self.client.url(f"{self.api}/job_templates/{template['id']}/jobs/")
            return AwxError(f"{exc}; a job may have been created on AWX: not retried, "
                            f"look at {jobs}", exc.status)
        if exc.status == 400:
            cause = launch_error(exc.body)
            if cause:
                return AwxError(f"AWX refused to launch {name(template)} (HTTP 400): {cause}",
                                400, exc.body)
        if exc.status == 403:
            why = self.templates.forbidden(template, where)
            return AwxError(f"{exc.bare} ({why})", 403, exc.body)
        return exc

    def template_problems(self, job_template: str | int, modes: Iterable[Mode],
                          variables: Collection[str], untrusted: bool) -> TemplateCheck:
        """Why ``job_template`` cannot run an entry's plans (``catalog validate --awx``)."""
        return self.templates.problems(job_template, modes, variables, untrusted)

    # -- following --

    def _follow(self, plan: RunPlan, job: _Job, t0: float) -> None:
        """Poll the job until it ends; cancel it at the timeout or when asked to stop."""
        deadline = None  # set once we cancelled: how long the job may take to stop
        while True:
            job.detail = self.client.get(self._path(job))
            status = str(job.detail.get("status", ""))
            if status in FINAL:
                job.status = FINAL[status]
                return
            now = time.monotonic()
            if deadline is None and job.stopped is None:
                if self.cancel.is_set():
                    job.stopped = RunnerStatus.CANCELED
                    job.errors.append(f"cancelled: remediator is shutting down "
                                      f"({_kind(job)} {job.id})")
                    self._cancel(job)
                elif now - t0 > plan.timeout_s:
                    job.stopped = RunnerStatus.TIMEOUT
                    job.errors.append(f"timed out after {plan.timeout_s} s: {_kind(job)} "
                                      f"{job.id} cancelled (it was {status})")
                    self._cancel(job)
            if job.stopped is not None and deadline is None:
                deadline = now + CANCEL_WAIT_S
            if deadline is not None and now > deadline:
                job.errors.append(f"{_kind(job)} {job.id} still {status} {CANCEL_WAIT_S:g} s "
                                  "after the cancel request")
                return
            if self.cancel.is_set():  # set: wait() would return at once
                time.sleep(self.settings.poll_interval_s)
            else:
                self.cancel.wait(self.settings.poll_interval_s)

    def _cancel(self, job: _Job) -> None:
        """Ask AWX to cancel the job (a workflow job cancels its slice jobs:
        ``WorkflowJob.cancel``); a refusal (it already ended) is noted, not raised."""
        try:
            self.client.post(f"{self._path(job)}cancel/")
        except AwxError as exc:
            job.errors.append(f"cancel request failed: {exc}")

    # -- events --

    def _collect(self, job: _Job, collector: ResultCollector,
                 progress: ProgressFn | None) -> None:
        """Feed every event of the job (of each slice job, for a workflow), in order, to the
        collector once AWX has saved them all."""
        events = AwxEvents(collector)
        if job.kind == "job":
            self._job_events(job, job.detail, events, progress)
            if job.status is RunnerStatus.FAILED and job.stopped is None and \
                    str(job.detail.get("job_explanation") or "").startswith(AWX_TIMEOUT):
                job.status = RunnerStatus.TIMEOUT
                job.errors.append(f"timed out: AWX stopped job {job.id} at its timeout (the "
                                  "entry's timeout, passed at launch)")
            elif job.status in (RunnerStatus.FAILED, RunnerStatus.ERROR) and \
                    job.stopped is None:
                job.errors.append(self._failure(job.id, job.detail, events))
        else:
            self._slice_events(job, events, progress)
        events.finish()
        job.stripped = events.stripped
        job.collected = job.detail.get("status") in FINAL and job.stopped is None

    def _job_events(self, job: _Job, detail: Mapping[str, Any], events: AwxEvents,
                    progress: ProgressFn | None) -> tuple[Mapping[str, Any], int]:
        """Feed one job's events; its last detail and how many tasks it reported."""
        job_id = int(detail.get("id") or job.id or 0)
        if detail.get("status") in FINAL:
            detail = self._await_events(job, job_id, detail)
        params = {"order_by": "counter", "page_size": self.settings.page_size}
        tasks = 0
        for event in self.client.pages(f"{self.api}/jobs/{job_id}/job_events/", params):
            task = events.feed(event)
            tasks += task is not None
            if task is not None and progress is not None:
                progress(str((event.get("event_data") or {}).get("host", "")), task)
        return detail, tasks

    def _slice_events(self, job: _Job, events: AwxEvents, progress: ProgressFn | None) -> None:
        """Feed each slice job of a sliced workflow job; a slice whose share of the inventory
        held no target ('no hosts to target') is no failure of the run."""
        nodes = self.client.pages(f"{self.api}/workflow_jobs/{job.id}/workflow_nodes/",
                                  {"page_size": self.settings.page_size})
        failures = []
        for node in sorted(nodes, key=lambda n: int(n.get("id") or 0)):
            job_id = node.get("job") or ((node.get("summary_fields") or {}).get("job") or {}
                                         ).get("id")
            if job_id is None:
                continue  # never started (the workflow was cancelled first)
            before = len(events.errors)
            detail, tasks = self._job_events(job, self.client.get(self._path(job, job_id)),
                                             events, progress)
            status = str(detail.get("status", ""))
            entry: dict[str, Any] = {"id": job_id, "slice": detail.get("job_slice_number"),
                                     "status": status,
                                     "url": self.client.url(self._path(job, job_id))}
            if not tasks and any(NO_HOSTS in e for e in events.errors[before:]):
                entry["note"] = "its share of the inventory holds none of the targets"
            elif status in ("failed", "error"):
                failures.append(self._failure(job_id, detail, events))
            job.slices.append(entry)
        effective = [s["status"] for s in job.slices if "note" not in s]
        if job.status is RunnerStatus.FAILED and effective and job.stopped is None and \
                all(s == "successful" for s in effective):
            job.status = RunnerStatus.SUCCESSFUL  # failed only for slices without targets
        elif job.status in (RunnerStatus.FAILED, RunnerStatus.ERROR) and job.stopped is None:
            explanation = str(job.detail.get("job_explanation") or "").strip()
            job.errors.append("; ".join([f"workflow job {job.id} {job.detail.get('status')}",
                                         *([explanation] if explanation else []), *failures]))

    def _await_events(self, job: _Job, job_id: int, detail: Mapping[str, Any]
                      ) -> Mapping[str, Any]:
        """Wait (bounded) until AWX says every event of the ended job is saved."""
        wait = self.settings.events_wait_s
        if self.cancel.is_set():  # shutting down: do not hold serve up for long
            wait = min(wait, CANCEL_WAIT_S / 6)
        deadline = time.monotonic() + wait
        while detail.get("event_processing_finished") is False:
            if time.monotonic() >= deadline:
                job.errors.append(f"AWX had not saved all events of job {job_id} after "
                                  f"{wait:g} s: the record may miss tasks")
                break
            time.sleep(self.settings.poll_interval_s)
            detail = self.client.get(self._path(job, job_id))
        if job.kind == "job":
            job.detail = detail
        return detail

    def _failure(self, job_id: int | None, detail: Mapping[str, Any], events: AwxEvents
                 ) -> str:
        """Why a job failed: AWX's explanation, its job-level errors and the end of its
        output (read as text; the end of its events' output if AWX will not show it)."""
        parts = [f"job {job_id} {detail.get('status')}"]
        for key in ("job_explanation", "result_traceback"):
            text = str(detail.get(key) or "").strip()
            if text:
                parts.append(text[-STDOUT_TAIL:])
        try:
            stdout = plain(self.client.get_text(f"{self.api}/jobs/{job_id}/stdout/",
                                                {"format": "txt"})).strip()
        except AwxError as exc:
            stdout = ""
            parts.append(f"(its output could not be read: {exc})")
        if stdout.startswith(TOO_LARGE) or not stdout:
            stdout = "\n".join(events.tail).strip()
        if stdout:
            parts.append("output: " + stdout[-STDOUT_TAIL:])
        return "; ".join(parts)

    # -- the result --

    def _result(self, plan: RunPlan, job: _Job, collector: ResultCollector,
                started: datetime, duration: float) -> RunResult:
        """The RunResult the local executor would have made, plus the AWX job's identity."""
        status = job.stopped or job.status
        hosts = collector.hosts(plan.hosts)
        url = None if job.id is None else self.client.url(self._path(job))
        error = "; ".join(job.errors) if job.errors else None
        setup = setup_failure(collector, status, error, plan.hosts) if job.collected else None
        if setup is not None:
            error = setup[1] if not error else f"{setup[1]}\n{error}"
        return RunResult(
            ident=plan.ident, status=status, rc=None, started_at=iso(started),
            finished_at=iso(self.clock()), duration_s=round(duration, 3), hosts=hosts,
            outcome=outcome_of(status, hosts, plan.hosts), artifacts=url,
            error=self.client.scrub(error) if error else None,
            job=self._job_summary(job, url),
            setup_failure=None if setup is None else setup[0],
        )

    def _job_summary(self, job: _Job, url: str | None) -> dict[str, Any] | None:
        """The job's identity for the record: which template, playbook and revision ran."""
        if not job.template:
            return None
        detail = job.detail
        summary: dict[str, Any] = {"kind": "awx", "id": job.id, "url": url,
                                   "job_template": dict(job.template)}
        if job.kind != "job":
            summary["type"] = job.kind
        for key in ("status", "job_type", "limit", "playbook", "scm_revision", "diff_mode"):
            if key in detail:
                summary[key] = detail[key]
        if job.slices:
            summary["slices"] = job.slices
        if job.ignored:
            summary["ignored_fields"] = sorted(job.ignored)
        if job.stripped:
            summary["results_dropped_by_awx"] = job.stripped
        return summary


def _kind(job: _Job) -> str:
    return "workflow job" if job.kind == "workflow_job" else "job"
