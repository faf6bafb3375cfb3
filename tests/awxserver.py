"""A contract server for AWX API v2 on loopback, built from the recorded answers in
tests/data/awx/ (see the README there for where each shape comes from).

AWX cannot run on these machines, so the AWX executor is tested against this: a real HTTP
server in a thread that checks the bearer token, records every request, answers as AWX's code
does (ansible/awx at e21dd0a0; the README in tests/data/awx/ names each file and symbol):
paging, ignored launch fields, the job's life through pending and waiting to a final status,
cancel, job events from real runs, content negotiation (406), sliced templates launching a
workflow job of slice jobs, survey-only templates, each launch-400 shape, read-scoped tokens,
AWX's own job timeout, an API path prefix. It can be scripted per test (statuses, faults, a
template that does not prompt, AWX's ALLOW_JINJA_IN_EXTRA_VARS). It also writes, for each
launched job, the ``env/extravars`` file AWX would give ansible-playbook, so tests can see
what Ansible templates and what it does not.
"""

from __future__ import annotations

import copy
import json
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import yaml

from .httpsink import QuietServer

DATA = Path(__file__).resolve().parent / "data" / "awx"
TOKEN = "awx-contract-token-5f2b9c"  # what the server accepts; tests grep the records for it
FINAL = ("successful", "failed", "error", "canceled")
FIRST_JOB_ID = 4101  # jobs and workflow jobs share one id sequence (UnifiedJob)
# launch fields AWX accepts only when the template prompts for them (ask_<field>_on_launch)
PROMPTED = {"job_type": "job_type", "limit": "limit", "extra_vars": "variables",
            "diff_mode": "diff_mode", "timeout": "timeout", "job_slice_count": "job_slice_count"}
# What each API view renders (its renderer_classes): JSON views offer JSON and the browsable
# API; UnifiedJobStdout picks by ?format= (awx/api/views/__init__.py, awx/api/renderers.py).
JSON_TYPES = ("application/json", "text/html")
STDOUT_TYPES = {"txt": ("text/plain",), "ansi": ("text/plain",), "json": ("application/json",),
                "html": ("text/html",), "api": ("text/html",)}
NOT_ACCEPTABLE = ("<!DOCTYPE html><html><head><title>Not Acceptable</title></head><body>"
                  "<h1>406</h1><p>Could not satisfy the request Accept header.</p></body></html>")
NO_HOSTS_ERROR = "[ERROR]: Specified inventory, host pattern and/or --limit leaves us with no " \
    "hosts to target."
STDOUT_MAX_BYTES_DISPLAY = 1048576  # awx/settings/defaults.py


def recorded(name: str) -> Any:
    """A recorded answer from tests/data/awx/."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@dataclass
class Request:
    """One request the server got."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Job:
    """A launched job and how it is scripted to live."""

    id: int
    template: dict[str, Any]
    launch: dict[str, Any]  # the accepted launch fields
    statuses: list[str]  # the status each GET shows, the last one repeated
    events: str  # the recorded run its events come from (tests/data/awx/events/NAME.json)
    extravars_file: str  # what AWX writes into env/extravars for ansible-playbook
    gets: int = 0
    cancel_requested: bool = False
    status: str = "pending"
    unsaved_polls: int = 0  # GETs after the end that still say event_processing_finished false
    slice_number: int = 0  # of a sliced template's workflow job, 1-based; 0: not a slice
    slice_count: int = 1
    workflow: int | None = None  # the workflow job a slice job belongs to
    explanation: str = ""  # job_explanation once it ended
    share: set[str] | None = None  # a slice job's share of the inventory


@dataclass
class WorkflowJob:
    """A sliced template's launch: a workflow job whose nodes run one slice job each."""

    id: int
    template: dict[str, Any]
    slices: list[int]  # the slice jobs' ids, slice 1 first
    statuses: list[str]
    gets: int = 0
    cancel_requested: bool = False
    status: str = "pending"
    explanation: str = ""


@dataclass
class FakeAwx:
    """The scriptable state of the contract server; tests change its fields."""

    url: str = ""
    token: str = TOKEN
    templates: dict[int, dict[str, Any]] = field(default_factory=dict)
    launches: dict[int, dict[str, Any]] = field(default_factory=dict)
    jinja: str | None = "template"  # ALLOW_JINJA_IN_EXTRA_VARS; None: the token may not read it
    # what each GET of a job shows after the launch answered 'pending' (the task manager moves
    # it to waiting, the dispatcher to running: UnifiedJob.JOB_STATUS_CHOICES)
    statuses: list[str] = field(default_factory=lambda: ["pending", "waiting", "running",
                                                         "successful"])
    events: str = "live"
    unsaved_polls: int = 1
    cancel_honoured: bool = True  # False: the job ignores cancel requests
    echo_headers: bool = False  # error answers quote the request headers (a careless proxy)
    prefix: str = ""  # OPTIONAL_API_URLPATTERN_PREFIX: the API at /api/<prefix>/v2/ only (as
    # Automation Platform 2.5's gateway routes /api/controller/; AWX alone serves both paths)
    token_scope: str = "write"  # "read": every POST is a 403 (APIView.check_permissions)
    can_launch: bool = True  # False: the user may read templates but lacks Execute
    inventory_hosts: list[str] = field(default_factory=lambda: ["demo-web-01", "demo-web-02"])
    survey_readable: bool = True  # False: GET survey_spec/ is a 403 (it needs Admin)
    awx_timeout: bool = False  # jobs launched with a timeout end as AWX's own timeout does
    launch_refusal: str | None = None  # the next launch answers this 400 (errors.json)
    faults: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path regex, status)
    requests: list[Request] = field(default_factory=list)
    jobs: dict[int, Job] = field(default_factory=dict)
    workflow_jobs: dict[int, WorkflowJob] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for tid in (7, 8):
            self.templates[tid] = recorded(f"job_template_{tid}.json")
            self.launches[tid] = recorded(f"job_template_{tid}_launch.json")

    def ask(self, template_id: int, **asks: bool) -> None:
        """Set ``ask_<name>_on_launch`` flags of a template (as an admin editing it would)."""
        for name, value in asks.items():
            self.templates[template_id][f"ask_{name}_on_launch"] = value
            self.launches[template_id][f"ask_{name}_on_launch"] = value

    def slice(self, template_id: int, count: int, ask: bool = False) -> None:
        """Give a template ``job_slice_count`` (and ``ask_job_slice_count_on_launch``)."""
        for where in (self.templates[template_id], self.launches[template_id]["defaults"]):
            where["job_slice_count"] = count
        self.ask(template_id, job_slice_count=ask)

    def survey(self, template_id: int, *questions: dict[str, Any]) -> None:
        """Enable a survey of ``questions`` ({"variable", "required", "type", "max"}) on a
        template that does not prompt for variables."""
        spec = [{"question_name": q["variable"], "type": "text", "required": False,
                 "min": 0, "max": 1024, "default": "", **q} for q in questions]
        self.ask(template_id, variables=False)
        self.templates[template_id].update(survey_enabled=True, survey_spec={
            "name": "", "description": "", "spec": spec})
        self.launches[template_id].update(survey_enabled=True, variables_needed_to_start=[
            q["variable"] for q in spec if q["required"]])

    @property
    def api(self) -> str:
        """The API's path: /api/v2, or /api/<prefix>/v2."""
        return f"/api/{self.prefix}/v2" if self.prefix else "/api/v2"

    def fail(self, method: str, path: str, *statuses: int) -> None:
        """Answer the next requests matching ``method`` and ``path`` (a regex) with ``statuses``
        (200: an HTML page instead of JSON)."""
        self.faults.extend((method, path, s) for s in statuses)

    def seen(self, method: str, path: str | None = None) -> list[Request]:
        """The requests made with ``method`` (to paths matching ``path``), in order."""
        return [r for r in self.requests
                if r.method == method and (path is None or re.search(path, r.path))]

    def launched(self) -> list[dict[str, Any]]:
        """The bodies of every launch POST."""
        return [r.json() for r in self.seen("POST", r"/launch/$")]

    # -- answering --

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes,
               accept: str = "*/*") -> tuple[int, Any]:
        """(status, JSON body or text) for one authenticated request."""
        for index, (fault_method, pattern, status) in enumerate(self.faults):
            if fault_method == method and re.search(pattern, path):
                del self.faults[index]
                if status == 200:  # a proxy's login page where JSON was expected
                    return 200, "<!DOCTYPE html><title>Sign in</title><form>...</form>"
                return status, _error(status)
        api = re.escape(self.api)
        routes = [
            ("GET", r"/job_templates/$", self._templates),
            ("GET", r"/job_templates/(\d+)/$", self._template),
            ("GET", r"/job_templates/(\d+)/launch/$", self._launch_info),
            ("POST", r"/job_templates/(\d+)/launch/$", self._launch),
            ("GET", r"/job_templates/(\d+)/survey_spec/$", self._survey_spec),
            ("GET", r"/jobs/(\d+)/$", self._job),
            ("POST", r"/jobs/(\d+)/cancel/$", self._cancel),
            ("GET", r"/jobs/(\d+)/job_events/$", self._events),
            ("GET", r"/jobs/(\d+)/stdout/$", self._stdout),
            ("GET", r"/workflow_jobs/(\d+)/$", self._workflow_job),
            ("POST", r"/workflow_jobs/(\d+)/cancel/$", self._workflow_cancel),
            ("GET", r"/workflow_jobs/(\d+)/workflow_nodes/$", self._workflow_nodes),
            ("GET", r"/settings/jobs/$", self._settings),
        ]
        matching = [(m, h, found) for m, p, h in routes
                    if (found := re.match(f"^{api}{p}", path))]
        if not matching:
            return 404, _error(404)
        allowed = {m for m, _, _ in matching}
        if method == "OPTIONS":  # Metadata.determine_actions: POST only for a write token
            actions = {m: {} for m in allowed if m == "GET" or self.token_scope == "write"}
            return 200, {"name": path, "renders": list(JSON_TYPES), "actions": actions}
        if method not in allowed:
            return 405, {"detail": f'Method "{method}" not allowed.'}
        if method == "POST" and (self.token_scope != "write" or (
                not self.can_launch and path.endswith("/launch/"))):
            return 403, _error(403)
        handler, found = next((h, f) for m, h, f in matching if m == method)
        offered = STDOUT_TYPES.get(query.get("format", "txt"), ()) \
            if path.endswith("/stdout/") else JSON_TYPES
        if not offered:
            return 404, _error(404)
        if not _acceptable(accept, offered):
            return 406, NOT_ACCEPTABLE
        return handler(*found.groups(), query=query, body=body)

    def _templates(self, *, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        found = [t for t in self.templates.values()
                 if "name" not in query or t["name"] == query["name"]]
        return 200, {"count": len(found), "next": None, "previous": None, "results": found}

    def _template(self, tid: str, **_: Any) -> tuple[int, Any]:
        template = self.templates.get(int(tid))
        return (200, template) if template else (404, _error(404))

    def _launch_info(self, tid: str, **_: Any) -> tuple[int, Any]:
        launch = self.launches.get(int(tid))
        return (200, launch) if launch else (404, _error(404))

    def _survey_spec(self, tid: str, **_: Any) -> tuple[int, Any]:
        template = self.templates.get(int(tid))
        if template is None:
            return 404, _error(404)
        if not self.survey_readable:  # JobTemplateSurveySpec: obj_permission_type 'admin'
            return 403, _error(403)
        return 200, template.get("survey_spec") or {}

    def _launch(self, tid: str, *, body: bytes, **_: Any) -> tuple[int, Any]:
        """JobTemplateLaunch.post: validate (JobLaunchSerializer.validate), accept or ignore
        each field, then a job, or a workflow job when the template slices."""
        template = self.templates.get(int(tid))
        if template is None:
            return 404, _error(404)
        if self.launch_refusal is not None:
            refusal, self.launch_refusal = self.launch_refusal, None
            return 400, recorded("errors.json")["400_launch"][refusal]
        data = json.loads(body or b"{}")
        extra = data.get("extra_vars", {})
        if extra is not None and not isinstance(extra, dict):  # AWX: JSON, else yaml.safe_load
            parsed = _parse_vars(str(extra))
            if isinstance(parsed, str):
                return 400, {"extra_vars": [parsed]}
        accepted, ignored = {}, {}
        for key, value in data.items():
            prompt = PROMPTED.get(key)
            if key == "extra_vars" and template.get("survey_enabled") and \
                    not template.get("ask_variables_on_launch"):
                taken, dropped, errors = _survey_answers(template, value or {})
                if errors:
                    return 400, {"variables_needed_to_start": errors}
                if taken:
                    accepted[key] = taken
                if dropped:
                    ignored[key] = dropped
            elif prompt and template.get(f"ask_{prompt}_on_launch"):
                accepted[key] = value
            else:
                ignored[key] = value
        slices = min(int(accepted.get("job_slice_count", template.get("job_slice_count", 1))),
                     len(self.inventory_hosts))
        if slices > 1:  # JobTemplate.create_unified_job: a workflow job of slice jobs
            workflow = self._workflow(template, accepted, slices)
            return 201, {"workflow_job": workflow.id, "ignored_fields": ignored,
                         **self._workflow_detail(workflow)}
        job = self._new_job(template, accepted)
        answer = {"job": job.id, "ignored_fields": ignored, **self._job_detail(job)}
        return 201, answer

    def _next_id(self) -> int:
        return FIRST_JOB_ID + len(self.jobs) + len(self.workflow_jobs)

    def _new_job(self, template: dict[str, Any], accepted: dict[str, Any], *,
                 slice_number: int = 0, slice_count: int = 1,
                 workflow: int | None = None) -> Job:
        job_id = self._next_id()
        job = Job(id=job_id, template=template, launch=accepted, statuses=list(self.statuses),
                  events=self.events, unsaved_polls=self.unsaved_polls,
                  extravars_file=self._extravars_file(template, accepted.get("extra_vars") or {}),
                  slice_number=slice_number, slice_count=slice_count, workflow=workflow)
        if slice_count > 1:  # its share of the inventory (Inventory.get_sliced_hosts)
            share = set(sorted(self.inventory_hosts)[slice_number - 1::slice_count])
            job.share = share
            limit = set(filter(None, str(accepted.get("limit", "")).split(",")))
            if limit and not limit & share:
                job.events = "no-hosts"
        self.jobs[job_id] = job
        return job

    def _workflow(self, template: dict[str, Any], accepted: dict[str, Any], count: int
                  ) -> WorkflowJob:
        workflow = WorkflowJob(id=self._next_id(), template=template, slices=[],
                               statuses=list(self.statuses))
        self.workflow_jobs[workflow.id] = workflow
        for number in range(1, count + 1):
            job = self._new_job(template, accepted, slice_number=number, slice_count=count,
                                workflow=workflow.id)
            workflow.slices.append(job.id)
        return workflow

    def _extravars_file(self, template: dict[str, Any], launched: dict[str, Any]) -> str:
        """The env/extravars AWX writes: every value ``!unsafe`` unless the setting is
        'always', or 'template' and the template's own extra vars hold the same key and value."""
        own = yaml.safe_load(template.get("extra_vars") or "") or {}
        variables = {**own, **launched}
        if self.jinja == "always":
            return yaml.safe_dump(variables)
        trusted = own if self.jinja == "template" else {}
        parts = []
        for key, value in variables.items():
            dumper = yaml.SafeDumper if key in trusted and trusted[key] == value else _UnsafeDumper
            parts.append(yaml.dump({key: value}, Dumper=dumper, default_flow_style=False))
        return "".join(parts)

    def _job_detail(self, job: Job) -> dict[str, Any]:
        detail = copy.deepcopy(recorded("job.json"))
        jid = job.id
        detail.update(id=jid, url=f"/api/v2/jobs/{jid}/", status=job.status,
                      name=job.template["name"], job_template=job.template["id"],
                      unified_job_template=job.template["id"],
                      job_type=job.launch.get("job_type", job.template["job_type"]),
                      limit=job.launch.get("limit", job.template["limit"]),
                      diff_mode=job.launch.get("diff_mode", job.template["diff_mode"]),
                      extra_vars=json.dumps(job.launch.get("extra_vars") or {}),
                      failed=job.status in ("failed", "error"))
        detail["related"] = {k: re.sub(r"/jobs/\d+/", f"/jobs/{jid}/", v)
                             for k, v in detail["related"].items()}
        if job.status in FINAL:
            detail.update(started="2026-11-27T02:20:01.300000Z",
                          finished="2026-11-27T02:20:09.900000Z", elapsed=8.6,
                          event_processing_finished=job.unsaved_polls <= 0)
        if job.status == "error":
            detail["job_explanation"] = "Job terminated due to error"
        if job.explanation and job.status in FINAL:
            detail["job_explanation"] = job.explanation
        if job.status == "canceled":
            detail["canceled_on"] = "2026-11-27T02:20:05.000000Z"
        detail.update(job_slice_number=job.slice_number, job_slice_count=job.slice_count)
        return detail

    def _job(self, jid: str, **_: Any) -> tuple[int, Any]:
        job = self.jobs.get(int(jid))
        if job is None:
            return 404, _error(404)
        if job.status in FINAL:
            job.unsaved_polls -= 1
        elif job.workflow is not None:
            pass  # a slice job moves with its workflow job
        elif job.cancel_requested and self.cancel_honoured:
            job.status = "canceled"
        else:
            self._advance(job)
        return 200, self._job_detail(job)

    def _advance(self, job: Job) -> None:
        """The job's next scripted status; a failed end of a job that ran no host's task (a
        syntax error, no host to target), and AWX's own timeout, say why."""
        job.status = job.statuses[min(job.gets, len(job.statuses) - 1)]
        job.gets += 1
        if job.status in FINAL and job.events == "no-hosts":
            job.status = "failed"
        if job.status in FINAL and self.awx_timeout and job.launch.get("timeout"):
            # RunJob.run (awx/main/tasks/jobs.py): runner status 'timeout' becomes 'failed'
            job.status, job.explanation = "failed", "Job terminated due to timeout"

    def _cancel(self, jid: str, **_: Any) -> tuple[int, Any]:
        job = self.jobs.get(int(jid))
        if job is None:
            return 404, _error(404)
        if job.status in FINAL:
            return 405, _error("405_cancel")
        job.cancel_requested = True
        return 202, None

    def _workflow_detail(self, workflow: WorkflowJob) -> dict[str, Any]:
        """WorkflowJobSerializer's fields (no event_processing_finished: it has no events)."""
        first = self.jobs[workflow.slices[0]]
        wid = workflow.id
        detail = {"id": wid, "type": "workflow_job", "url": f"/api/v2/workflow_jobs/{wid}/",
                  "related": {"workflow_nodes": f"/api/v2/workflow_jobs/{wid}/workflow_nodes/",
                              "cancel": f"/api/v2/workflow_jobs/{wid}/cancel/",
                              "job_template": f"/api/v2/job_templates/{workflow.template['id']}/"},
                  "name": workflow.template["name"], "status": workflow.status,
                  "failed": workflow.status in ("failed", "error"),
                  "job_template": workflow.template["id"], "is_sliced_job": True,
                  "workflow_job_template": None, "limit": first.launch.get("limit"),
                  "extra_vars": json.dumps(first.launch.get("extra_vars") or {}),
                  "job_explanation": workflow.explanation}
        return detail

    def _workflow_job(self, wid: str, **_: Any) -> tuple[int, Any]:
        workflow = self.workflow_jobs.get(int(wid))
        if workflow is None:
            return 404, _error(404)
        slices = [self.jobs[j] for j in workflow.slices]
        if workflow.status not in FINAL:
            if workflow.cancel_requested and self.cancel_honoured:
                workflow.status = "canceled"  # WorkflowJob.cancel cancels its jobs too
                for job in slices:
                    job.status = "canceled" if job.status not in FINAL else job.status
            else:
                status = workflow.statuses[min(workflow.gets, len(workflow.statuses) - 1)]
                workflow.gets += 1
                for job in slices:
                    if status in FINAL:
                        self._advance_to_end(job, status)
                    else:
                        job.status = status
                failed = [j for j in slices if j.status in ("failed", "error", "canceled")]
                workflow.status = status
                if status in FINAL and failed:  # WorkflowDAG.has_workflow_failed
                    workflow.status = "failed"
                    workflow.explanation = ("No error handling paths found, marking workflow "
                                            "as failed")
        return 200, self._workflow_detail(workflow)

    def _advance_to_end(self, job: Job, status: str) -> None:
        job.statuses, job.gets = [status], 0
        self._advance(job)

    def _workflow_cancel(self, wid: str, **_: Any) -> tuple[int, Any]:
        workflow = self.workflow_jobs.get(int(wid))
        if workflow is None:
            return 404, _error(404)
        if workflow.status in FINAL:  # GenericCancelView: 405 once it cannot be cancelled
            return 405, _error("405_cancel")
        workflow.cancel_requested = True
        return 202, None

    def _workflow_nodes(self, wid: str, *, query: dict[str, str], **_: Any) -> tuple[int, Any]:
        """WorkflowJobNodeSerializer: a node per slice, its job once the workflow runs."""
        workflow = self.workflow_jobs.get(int(wid))
        if workflow is None:
            return 404, _error(404)
        started = workflow.status not in ("new", "pending", "waiting")
        nodes = []
        for index, job_id in enumerate(workflow.slices):
            job = self.jobs[job_id]
            node_id = 700 + job_id
            nodes.append({
                "id": node_id, "type": "workflow_job_node",
                "url": f"/api/v2/workflow_job_nodes/{node_id}/",
                "job": job_id if started else None, "workflow_job": workflow.id,
                "unified_job_template": workflow.template["id"],
                "ancestor_artifacts": {"job_slice": index + 1}, "do_not_run": False,
                "summary_fields": {"job": {"id": job_id, "name": job.template["name"],
                                           "status": job.status, "type": "job",
                                           "failed": job.status in ("failed", "error")}}
                if started else {}})
        return 200, {"count": len(nodes), "next": None, "previous": None, "results": nodes}

    def _run_events(self, job: Job) -> list[dict[str, Any]]:
        """The recorded events, as they would be for this job: only its limit's hosts."""
        hosts = set(filter(None, str(job.launch.get("limit", "")).split(",")))
        if job.share is not None:
            hosts = (hosts or set(self.inventory_hosts)) & job.share
        events = []
        for event in recorded(f"events/{job.events}.json"):
            data = event["event_data"]
            if event["host_name"] and hosts and event["host_name"] not in hosts:
                continue
            if event["event"] == "playbook_on_stats" and hosts:
                event["event_data"] = {k: ({h: n for h, n in v.items() if h in hosts}
                                           if isinstance(v, dict) else v)
                                       for k, v in data.items()}
            event.update(job=job.id, related={**event["related"], "job": f"/api/v2/jobs/{job.id}/"})
            if job.events == "no-hosts":  # recorded with the limit demo-db-01
                event["stdout"] = event["stdout"].replace("demo-db-01",
                                                          str(job.launch.get("limit", "")))
            events.append(event)
        return events

    def _events(self, jid: str, *, query: dict[str, str], **_: Any) -> tuple[int, Any]:
        job = self.jobs.get(int(jid))
        if job is None:
            return 404, _error(404)
        events = self._run_events(job)
        if query.get("order_by") == "counter":
            events.sort(key=lambda e: e["counter"])
        size = int(query.get("page_size", 25))
        page = int(query.get("page", 1))
        start = (page - 1) * size
        path = f"/api/v2/jobs/{job.id}/job_events/"

        def link(number: int) -> str:
            return path + "?" + urlencode({**query, "page": number})

        return 200, {"count": len(events),
                     "next": link(page + 1) if start + size < len(events) else None,
                     "previous": link(page - 1) if page > 1 else None,
                     "results": events[start:start + size]}

    def _stdout(self, jid: str, *, query: dict[str, str], **_: Any) -> tuple[int, Any]:
        """UnifiedJobStdout.retrieve: txt plain, json {range, content}; over
        STDOUT_MAX_BYTES_DISPLAY only a message (StdoutMaxBytesExceeded)."""
        job = self.jobs.get(int(jid))
        if job is None:
            return 404, _error(404)
        text = "\n".join(e["stdout"] for e in self._run_events(job) if e["stdout"]) + "\n"
        if len(text.encode()) > STDOUT_MAX_BYTES_DISPLAY:
            text = (f"Standard Output too large to display ({len(text.encode())} bytes), only "
                    f"download supported for sizes over {STDOUT_MAX_BYTES_DISPLAY} bytes.")
        if query.get("format") == "json":
            lines = text.count("\n")
            return 200, {"range": {"start": 0, "end": lines, "absolute_end": lines},
                         "content": text}
        return 200, text

    def _settings(self, **_: Any) -> tuple[int, Any]:
        if self.jinja is None:
            return 403, _error(403)
        return 200, {**recorded("settings_jobs.json"), "ALLOW_JINJA_IN_EXTRA_VARS": self.jinja}


def _acceptable(accept: str, offered: tuple[str, ...]) -> bool:
    """Whether an Accept header admits one of ``offered`` (DRF's
    DefaultContentNegotiation.select_renderer: else NotAcceptable, 406)."""
    for item in accept.split(","):
        wanted = item.split(";")[0].strip().lower()
        if not wanted or wanted == "*/*" or wanted in offered or (
                wanted.endswith("/*") and any(o.startswith(wanted[:-1]) for o in offered)):
            return True
    return False


def _survey_answers(template: dict[str, Any], answers: dict[str, Any]
                    ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(accepted, ignored, errors) of launch-time variables on a survey-only template:
    SurveyJobTemplateMixin._accept_or_ignore_variables and _survey_element_validation
    (awx/main/models/mixins.py): answers to questions are checked, the rest ignored unless
    equal to the template's own extra vars."""
    taken, errors = {}, []
    rest = dict(answers)
    for question in (template.get("survey_spec") or {}).get("spec", []):
        name = question["variable"]
        if name not in answers:
            if question.get("required"):
                errors.append(f"'{name}' value missing")
            continue
        value = rest.pop(name)
        if question.get("type") in ("text", "textarea") and isinstance(value, str) and \
                len(value) > int(question.get("max", 1024)):
            errors.append(f"'{name}' value {value} is too large (must be no more than "
                          f"{question['max']}).")
            continue
        taken[name] = value
    own = yaml.safe_load(template.get("extra_vars") or "") or {}
    ignored = {k: v for k, v in rest.items() if not (k in own and own[k] == v)}
    return taken, ignored, errors


def awx_extravars(untrusted: dict[str, Any], trusted: dict[str, Any]) -> str:
    """The env/extravars file AWX writes for a job (its Jinja setting 'template'): the job
    template's own variables plain, launch-time ones each tagged ``!unsafe``."""
    parts = [yaml.dump({k: v}, Dumper=yaml.SafeDumper, default_flow_style=False)
             for k, v in trusted.items() if k not in untrusted]
    parts += [yaml.dump({k: v}, Dumper=_UnsafeDumper, default_flow_style=False)
              for k, v in untrusted.items()]
    return "".join(parts)


class _UnsafeDumper(yaml.SafeDumper):
    """Writes every string with the ``!unsafe`` tag, as AWX's safe_dump does."""

    def represent_data(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.represent_scalar("!unsafe", data)
        return super().represent_data(data)


def _parse_vars(text: str) -> dict[str, Any] | str:
    """Launch-time extra vars as AWX parses them (JSON, then yaml.safe_load), or its error."""
    try:
        value = json.loads(text)
        if isinstance(value, dict):
            return value
        raise ValueError("not a dictionary")
    except ValueError as json_error:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as yaml_error:
            return recorded("errors.json")["400_extra_vars"]["extra_vars"][0].format(
                json_error=json_error, yaml_error=yaml_error)
        return value if isinstance(value, dict) else "Input type is not a dictionary"


def _error(status: int | str) -> Any:
    errors = recorded("errors.json")
    if str(status) in errors:
        return errors[str(status)]
    if isinstance(status, int) and status >= 500:
        return errors["502"].replace("502 Bad Gateway", f"{status} Server Error")
    return {"detail": "Error."}


def serve(awx: FakeAwx | None = None, tls: tuple[Path, Path] | None = None
          ) -> Iterator[FakeAwx]:
    """Start the contract server on 127.0.0.1 and an ephemeral port (HTTPS with ``tls``, a
    (certificate, key) pair); stop it afterwards."""
    state = awx or FakeAwx()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            with state.lock:
                state.requests.append(Request(method, parts.path, query,
                                              dict(self.headers.items()), body))
                if self.headers.get("Authorization") != f"Bearer {state.token}":
                    status, answer = 401, _error(401)
                else:
                    status, answer = state.answer(method, parts.path, query, body,
                                                  self.headers.get("Accept") or "*/*")
                if state.echo_headers and status >= 400:
                    answer = {"detail": f"rejected request with headers {dict(self.headers)}"}
            text = answer if isinstance(answer, str) else "" if answer is None \
                else json.dumps(answer)
            if state.prefix:  # transform_optional_api_urlpattern_prefix_url
                text = text.replace("/api/v2/", f"{state.api}/")
            raw = text.encode("utf-8")
            self.send_response(status)
            kind = "application/json" if not isinstance(answer, str) else (
                "text/html" if status >= 400 or answer.startswith("<") else
                "text/plain; charset=utf-8")
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("X-API-Product-Name", "AWX")
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="api"')
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_OPTIONS(self) -> None:
            self._handle("OPTIONS")

        def log_message(self, *args: Any) -> None:
            pass

    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    state.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
