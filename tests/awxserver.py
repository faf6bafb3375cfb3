"""A contract server for AWX API v2 on loopback, built from the recorded answers in
tests/data/awx/ (see the README there for where each shape comes from).

AWX cannot run on these machines, so the AWX executor is tested against this: a real HTTP
server in a thread that checks the bearer token, records every request, answers as AWX does
(paging, ignored launch fields, the job's life from pending to a final status, cancel, job
events from real runs) and can be scripted per test (statuses, faults, a template that does
not prompt, AWX's ALLOW_JINJA_IN_EXTRA_VARS). It also writes, for each launched job, the
``env/extravars`` file AWX would give ansible-playbook, so tests can see what Ansible
templates and what it does not.
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
FIRST_JOB_ID = 4101
# launch fields AWX accepts only when the template prompts for them (ask_<field>_on_launch)
PROMPTED = {"job_type": "job_type", "limit": "limit", "extra_vars": "variables",
            "diff_mode": "diff_mode", "timeout": "timeout"}


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


@dataclass
class FakeAwx:
    """The scriptable state of the contract server; tests change its fields."""

    url: str = ""
    token: str = TOKEN
    templates: dict[int, dict[str, Any]] = field(default_factory=dict)
    launches: dict[int, dict[str, Any]] = field(default_factory=dict)
    jinja: str | None = "template"  # ALLOW_JINJA_IN_EXTRA_VARS; None: the token may not read it
    statuses: list[str] = field(default_factory=lambda: ["pending", "running", "successful"])
    events: str = "live"
    unsaved_polls: int = 1
    cancel_honoured: bool = True  # False: the job ignores cancel requests
    echo_headers: bool = False  # error answers quote the request headers (a careless proxy)
    faults: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path regex, status)
    requests: list[Request] = field(default_factory=list)
    jobs: dict[int, Job] = field(default_factory=dict)
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

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes
               ) -> tuple[int, Any]:
        """(status, JSON body or text) for one authenticated request."""
        for index, (fault_method, pattern, status) in enumerate(self.faults):
            if fault_method == method and re.search(pattern, path):
                del self.faults[index]
                if status == 200:  # a proxy's login page where JSON was expected
                    return 200, "<!DOCTYPE html><title>Sign in</title><form>...</form>"
                return status, _error(status)
        routes = [
            ("GET", r"^/api/v2/job_templates/$", self._templates),
            ("GET", r"^/api/v2/job_templates/(\d+)/$", self._template),
            ("GET", r"^/api/v2/job_templates/(\d+)/launch/$", self._launch_info),
            ("POST", r"^/api/v2/job_templates/(\d+)/launch/$", self._launch),
            ("GET", r"^/api/v2/jobs/(\d+)/$", self._job),
            ("POST", r"^/api/v2/jobs/(\d+)/cancel/$", self._cancel),
            ("GET", r"^/api/v2/jobs/(\d+)/job_events/$", self._events),
            ("GET", r"^/api/v2/jobs/(\d+)/stdout/$", self._stdout),
            ("GET", r"^/api/v2/settings/jobs/$", self._settings),
        ]
        for route_method, pattern, handler in routes:
            found = re.match(pattern, path)
            if found and route_method == method:
                return handler(*found.groups(), query=query, body=body)
        if any(re.match(p, path) for _, p, _ in routes):
            return 405, {"detail": f'Method "{method}" not allowed.'}
        return 404, _error(404)

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

    def _launch(self, tid: str, *, body: bytes, **_: Any) -> tuple[int, Any]:
        template = self.templates.get(int(tid))
        if template is None:
            return 404, _error(404)
        data = json.loads(body or b"{}")
        extra = data.get("extra_vars", {})
        if extra is not None and not isinstance(extra, dict):  # AWX: JSON, else yaml.safe_load
            parsed = _parse_vars(str(extra))
            if isinstance(parsed, str):
                return 400, {"extra_vars": [parsed]}
        accepted, ignored = {}, {}
        for key, value in data.items():
            prompt = PROMPTED.get(key)
            if prompt and template.get(f"ask_{prompt}_on_launch"):
                accepted[key] = value
            else:
                ignored[key] = value
        job_id = FIRST_JOB_ID + len(self.jobs)
        job = Job(id=job_id, template=template, launch=accepted, statuses=list(self.statuses),
                  events=self.events, unsaved_polls=self.unsaved_polls,
                  extravars_file=self._extravars_file(template, accepted.get("extra_vars") or {}))
        self.jobs[job_id] = job
        answer = {"job": job_id, "ignored_fields": ignored, **self._job_detail(job)}
        return 201, answer

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
        if job.status == "canceled":
            detail["canceled_on"] = "2026-11-27T02:20:05.000000Z"
        return detail

    def _job(self, jid: str, **_: Any) -> tuple[int, Any]:
        job = self.jobs.get(int(jid))
        if job is None:
            return 404, _error(404)
        if job.status in FINAL:
            job.unsaved_polls -= 1
        elif job.cancel_requested and self.cancel_honoured:
            job.status = "canceled"
        else:
            job.status = job.statuses[min(job.gets, len(job.statuses) - 1)]
            job.gets += 1
        return 200, self._job_detail(job)

    def _cancel(self, jid: str, **_: Any) -> tuple[int, Any]:
        job = self.jobs.get(int(jid))
        if job is None:
            return 404, _error(404)
        if job.status in FINAL:
            return 405, _error("405_cancel")
        job.cancel_requested = True
        return 202, None

    def _run_events(self, job: Job) -> list[dict[str, Any]]:
        """The recorded events, as they would be for this job: only its limit's hosts."""
        hosts = set(filter(None, str(job.launch.get("limit", "")).split(",")))
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
        job = self.jobs.get(int(jid))
        if job is None:
            return 404, _error(404)
        text = "\n".join(e["stdout"] for e in self._run_events(job) if e["stdout"]) + "\n"
        return 200, text

    def _settings(self, **_: Any) -> tuple[int, Any]:
        if self.jinja is None:
            return 403, _error(403)
        return 200, {**recorded("settings_jobs.json"), "ALLOW_JINJA_IN_EXTRA_VARS": self.jinja}


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
                    status, answer = state.answer(method, parts.path, query, body)
                if state.echo_headers and status >= 400:
                    answer = {"detail": f"rejected request with headers {dict(self.headers)}"}
            text = answer if isinstance(answer, str) else "" if answer is None \
                else json.dumps(answer)
            raw = text.encode("utf-8")
            self.send_response(status)
            kind = "application/json" if not isinstance(answer, str) else (
                "text/html" if status >= 500 else "text/plain; charset=utf-8")
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
