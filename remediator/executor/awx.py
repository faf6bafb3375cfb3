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
from ..results import ResultCollector, outcome_of
from . import ProgressFn, RunPlan, plain_data
from .awx_client import AwxClient, AwxError
from .awx_settings import AwxSettings

API = "/api/v2"
FINAL = {"successful": RunnerStatus.SUCCESSFUL, "failed": RunnerStatus.FAILED,
         "error": RunnerStatus.ERROR, "canceled": RunnerStatus.CANCELED}
CANCEL_WAIT_S = 30.0  # how long a cancelled job may take to reach a final status
STDOUT_TAIL = 2000  # characters of a failed job's output kept in the record


class Refused(Exception):
    """The template cannot run this plan safely; nothing was launched."""


@dataclass
class _Job:
    """What is known about the job while it runs; becomes the RunResult."""

    template: Mapping[str, Any] = field(default_factory=dict)  # {"id", "name"}
    id: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)  # the last GET of the job
    status: RunnerStatus = RunnerStatus.ERROR
    stopped: RunnerStatus | None = None  # TIMEOUT or CANCELED when we cancelled it
    errors: list[str] = field(default_factory=list)
    ignored: Mapping[str, Any] = field(default_factory=dict)


def launch_refusals(launch: Mapping[str, Any], mode: Mode, hosts: Iterable[str],
                    variables: Collection[str]) -> list[str]:
    """Why a template's launch settings (GET .../launch/) cannot run a ``mode`` plan on
    ``hosts`` with ``variables`` safely; empty when they can."""
    defaults = launch.get("defaults") or {}
    wanted = "check" if mode is Mode.CHECK else "run"
    problems = []
    if not launch.get("ask_job_type_on_launch") and defaults.get("job_type") != wanted:
        problems.append(
            f"it does not prompt for the job type (ask_job_type_on_launch is false) and its "
            f"own job type is {defaults.get('job_type')!r}: a {mode} plan needs "
            f"job_type {wanted!r}" + (", and would otherwise run LIVE"
                                      if mode is Mode.CHECK else ""))
    if not launch.get("ask_limit_on_launch"):
        problems.append("it does not prompt for the limit (ask_limit_on_launch is false): the "
                        "job would run on every host of its inventory, not only "
                        f"{', '.join(hosts)}")
    if variables and not launch.get("ask_variables_on_launch"):
        problems.append("it does not prompt for variables (ask_variables_on_launch is false): "
                        f"{', '.join(sorted(variables))} would be dropped")
    if launch.get("passwords_needed_to_start"):
        problems.append("it needs passwords at launch: "
                        f"{', '.join(map(str, launch['passwords_needed_to_start']))}")
    missing = sorted(set(launch.get("variables_needed_to_start") or ()) - set(variables))
    if missing:
        problems.append(f"its survey needs {', '.join(missing)}, which this entry does not set")
    if launch.get("inventory_needed_to_start"):
        problems.append("it has no inventory")
    return problems


def launch_body(plan: RunPlan, launch: Mapping[str, Any]) -> dict[str, Any]:
    """The POST body of the launch: job type, limit, variables, and diff mode when prompted."""
    body: dict[str, Any] = {"limit": ",".join(plan.hosts)}
    if launch.get("ask_job_type_on_launch"):
        body["job_type"] = "check" if plan.mode is Mode.CHECK else "run"
    variables = {**plain_data(plan.trusted_vars), **plain_data(plan.untrusted_vars)}
    if variables:
        body["extra_vars"] = variables
    if launch.get("ask_diff_mode_on_launch"):
        body["diff_mode"] = True
    if launch.get("ask_timeout_on_launch"):
        body["timeout"] = plan.timeout_s  # AWX stops the job itself should we die meanwhile
    return body


class AwxExecutor:
    """Runs plans that name a job template on AWX / Automation Platform (API v2)."""

    def __init__(self, settings: AwxSettings, token: str, *,
                 clock: Callable[[], datetime] = utc_now,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.client = AwxClient(settings, token, sleep=sleep)
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
            job.errors.append(f"job {job.id} may still be running on AWX: remediator lost "
                              "track of it")
        return self._result(plan, job, collector, started, time.monotonic() - t0)

    # -- launching --

    def _launch(self, plan: RunPlan, job: _Job) -> None:
        """Resolve the template, check it can run the plan safely, launch it."""
        if plan.job_template is None:
            raise Refused("this plan names no job template")
        if self.cancel.is_set():
            job.stopped = RunnerStatus.CANCELED
            raise Refused("not launched: remediator is shutting down")
        job.template = self._template(plan.job_template)
        where = f"{API}/job_templates/{job.template['id']}/launch/"
        launch = self.client.get(where)
        variables = {**plan.trusted_vars, **plan.untrusted_vars}
        refusals = launch_refusals(launch, plan.mode, plan.hosts, variables)
        if refusals:
            raise Refused(f"refused to launch {_name(job.template)}: " + "; ".join(refusals))
        if plan.untrusted_vars:
            self._check_jinja(job.template)
        try:
            answer = self.client.post(where, launch_body(plan, launch))
        except AwxError as exc:
            if exc.status is None or exc.status >= 500:
                jobs = self.client.url(f"{API}/job_templates/{job.template['id']}/jobs/")
                raise AwxError(f"{exc}; a job may have been created on AWX: not retried, "
                               f"look at {jobs}", exc.status) from None
            raise
        job.id = int((answer or {}).get("job") or (answer or {})["id"])
        job.detail = answer or {}
        job.ignored = (answer or {}).get("ignored_fields") or {}
        if job.ignored:
            job.errors.append(f"AWX ignored {', '.join(sorted(job.ignored))} at launch "
                              f"({_name(job.template)} does not prompt for them): job {job.id} "
                              "cancelled")
            job.stopped = RunnerStatus.ERROR
            self._cancel(job)

    def template_problems(self, job_template: str | int, modes: Iterable[Mode],
                          variables: Collection[str], untrusted: bool) -> list[str]:
        """Why ``job_template`` cannot run the plans of an entry (``catalog validate --awx``):
        it is looked up on AWX and its launch settings checked for each mode; [] when fine."""
        problems: list[str] = []
        try:
            template = self._template(job_template)
            launch = self.client.get(f"{API}/job_templates/{template['id']}/launch/")
            for mode in modes:
                found = launch_refusals(launch, mode, ["its targets"], variables)
                problems += [p for p in found if p not in problems]
            if untrusted:
                self._check_jinja(template)
        except (Refused, AwxError) as exc:
            problems.append(str(exc))
        return problems

    def _template(self, wanted: str | int) -> Mapping[str, Any]:
        """``{"id", "name"}`` of the template named (by id or by name) in the catalog."""
        if isinstance(wanted, int):
            found = self.client.get(f"{API}/job_templates/{wanted}/")
            return {"id": int(found["id"]), "name": str(found.get("name", wanted))}
        page = self.client.get(f"{API}/job_templates/", {"name": wanted})
        results = page.get("results") or []
        if not results:
            raise Refused(f"no job template named {wanted!r} on AWX (or the token's user "
                          "cannot see it)")
        if len(results) > 1:
            ids = ", ".join(str(r.get("id")) for r in results)
            raise Refused(f"{len(results)} job templates are named {wanted!r} (ids {ids}, in "
                          "different organizations): name it by id in the catalog")
        return {"id": int(results[0]["id"]), "name": str(results[0].get("name", wanted))}

    def _check_jinja(self, template: Mapping[str, Any]) -> None:
        """Refuse alert data unless AWX writes launch-time variables ``!unsafe``."""
        setting = self.settings.jinja_setting
        if setting == "verify":
            try:
                setting = str(self.client.get(f"{API}/settings/jobs/")
                              .get("ALLOW_JINJA_IN_EXTRA_VARS", ""))
            except AwxError as exc:
                raise Refused(
                    f"refused to launch {_name(template)} with alert data: cannot read AWX's "
                    f"ALLOW_JINJA_IN_EXTRA_VARS ({exc}); this needs a system auditor token, or "
                    "set awx.jinja_setting to what it is (template or never)") from None
        if setting not in ("template", "never"):
            raise Refused(f"refused to launch {_name(template)} with alert data: AWX's "
                          f"ALLOW_JINJA_IN_EXTRA_VARS is {setting!r}, so Ansible would template "
                          "alert text as Jinja; set it to 'template' (the default) or 'never'")

    # -- following --

    def _follow(self, plan: RunPlan, job: _Job, t0: float) -> None:
        """Poll the job until it ends; cancel it at the timeout or when asked to stop."""
        deadline = None  # set once we cancelled: how long the job may take to stop
        while True:
            job.detail = self.client.get(f"{API}/jobs/{job.id}/")
            status = str(job.detail.get("status", ""))
            if status in FINAL:
                job.status = FINAL[status]
                return
            now = time.monotonic()
            if deadline is None and job.stopped is None:
                if self.cancel.is_set():
                    job.stopped = RunnerStatus.CANCELED
                    job.errors.append(f"cancelled: remediator is shutting down (job {job.id})")
                    self._cancel(job)
                elif now - t0 > plan.timeout_s:
                    job.stopped = RunnerStatus.TIMEOUT
                    job.errors.append(f"timed out after {plan.timeout_s} s: job {job.id} "
                                      f"cancelled (it was {status})")
                    self._cancel(job)
            if job.stopped is not None and deadline is None:
                deadline = now + CANCEL_WAIT_S
            if deadline is not None and now > deadline:
                job.errors.append(f"job {job.id} still {status} {CANCEL_WAIT_S:g} s after "
                                  "the cancel request")
                return
            if self.cancel.is_set():  # set: wait() would return at once
                time.sleep(self.settings.poll_interval_s)
            else:
                self.cancel.wait(self.settings.poll_interval_s)

    def _cancel(self, job: _Job) -> None:
        """Ask AWX to cancel the job; a refusal (it already ended) is noted, not raised."""
        try:
            self.client.post(f"{API}/jobs/{job.id}/cancel/")
        except AwxError as exc:
            job.errors.append(f"cancel request failed: {exc}")

    # -- events --

    def _collect(self, job: _Job, collector: ResultCollector,
                 progress: ProgressFn | None) -> None:
        """Feed every job event, in order, to the collector once AWX has saved them all."""
        if job.detail.get("status") in FINAL:
            self._await_events(job)
        params = {"order_by": "counter", "page_size": self.settings.page_size}
        for event in self.client.pages(f"{API}/jobs/{job.id}/job_events/", params):
            task = collector.feed(event)
            if task is not None and progress is not None:
                progress(str((event.get("event_data") or {}).get("host", "")), task)
        if job.status in (RunnerStatus.FAILED, RunnerStatus.ERROR) and job.stopped is None:
            job.errors.append(self._failure(job))

    def _await_events(self, job: _Job) -> None:
        """Wait (bounded) until AWX says every event of the ended job is saved."""
        wait = self.settings.events_wait_s
        if self.cancel.is_set():  # shutting down: do not hold serve up for long
            wait = min(wait, CANCEL_WAIT_S / 6)
        deadline = time.monotonic() + wait
        while job.detail.get("event_processing_finished") is False:
            if time.monotonic() >= deadline:
                job.errors.append(f"AWX had not saved all events of job {job.id} after "
                                  f"{wait:g} s: the record may miss tasks")
                return
            time.sleep(self.settings.poll_interval_s)
            job.detail = self.client.get(f"{API}/jobs/{job.id}/")

    def _failure(self, job: _Job) -> str:
        """Why the job failed: AWX's explanation and the end of its output."""
        parts = [f"job {job.id} {job.detail.get('status')}"]
        for key in ("job_explanation", "result_traceback"):
            text = str(job.detail.get(key) or "").strip()
            if text:
                parts.append(text[-STDOUT_TAIL:])
        try:
            stdout = self.client.get_text(f"{API}/jobs/{job.id}/stdout/", {"format": "txt"})
            if stdout.strip():
                parts.append("output: " + stdout.strip()[-STDOUT_TAIL:])
        except AwxError as exc:
            parts.append(f"(its output could not be read: {exc})")
        return "; ".join(parts)

    # -- the result --

    def _result(self, plan: RunPlan, job: _Job, collector: ResultCollector,
                started: datetime, duration: float) -> RunResult:
        """The RunResult the local executor would have made, plus the AWX job's identity."""
        status = job.stopped or job.status
        hosts = collector.hosts(plan.hosts)
        url = None if job.id is None else self.client.url(f"{API}/jobs/{job.id}/")
        return RunResult(
            ident=plan.ident, status=status, rc=None, started_at=iso(started),
            finished_at=iso(self.clock()), duration_s=round(duration, 3), hosts=hosts,
            outcome=outcome_of(status, hosts, plan.hosts), artifacts=url,
            error=self.client.scrub("; ".join(job.errors)) if job.errors else None,
            job=self._job_summary(job, url),
        )

    def _job_summary(self, job: _Job, url: str | None) -> dict[str, Any] | None:
        """The job's identity for the record: which template, playbook and revision ran."""
        if not job.template:
            return None
        detail = job.detail
        summary: dict[str, Any] = {"kind": "awx", "id": job.id, "url": url,
                                   "job_template": dict(job.template)}
        for key in ("status", "job_type", "limit", "playbook", "scm_revision", "diff_mode"):
            if key in detail:
                summary[key] = detail[key]
        if job.ignored:
            summary["ignored_fields"] = sorted(job.ignored)
        return summary


def _name(template: Mapping[str, Any]) -> str:
    return f"job template {template.get('name')!r} (id {template.get('id')})"
