"""The web page's routes: login, pending requests, approve and deny, records."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from aiohttp import web

from ...common import iso, parse_time, utc_now
from ...config import Config
from ...engine import Engine
from ...errors import ChainError, NotFoundError, RefusedError, RemediatorError, StoreError
from ...identity import Approver
from ...models import RequestState
from ...settings.web import WebSettings
from ...store import WebStore
from ..background import Background
from .render import environment, page, redirect, stylesheet
from .sessions import COOKIE, Session, Sessions, now

T = TypeVar("T")
Log = Callable[[str], None]
ID = re.compile(r"[0-9a-zA-Z_-]{1,64}")
NEXT = re.compile(r"/(requests|records)(/[0-9a-zA-Z_-]{1,64})?")
MAX_REASON = 500
MAX_JOBS = 1000  # approvals and denials whose outcome the request page still shows


@dataclass
class Job:
    """An approval started from the page: running, then done or refused."""

    by: str
    state: str = "running"  # running | done | refused | failed
    message: str = ""
    record: str | None = None


class WebPages:
    """The routes of the web page over one config; approvals run in threads of their own."""

    def __init__(self, config: Config, settings: WebSettings, env: Mapping[str, str],
                 engine_factory: Callable[[Config], Engine], log: Log,
                 background: Background | None = None) -> None:
        self.config = config
        self.settings = settings
        self.sessions = Sessions(settings, env)  # reads the secret: fails at start
        self.engine_factory = engine_factory
        self.log = log
        self.templates = environment()
        self.css = stylesheet()
        self.reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="web-reader")
        self._engine: Engine | None = None  # the reader's: its store, and who may approve
        self.jobs: dict[str, Job] = {}
        # the approvals' threads: shared with Slack's in serve
        self.background = background or Background(config, engine_factory, log)
        self.lock = threading.Lock()

    def add_routes(self, app: web.Application) -> None:
        """Put the page's routes on ``app``."""
        app.router.add_get("/", self.home)
        app.router.add_get("/static/web.css", self.stylesheet)
        app.router.add_get("/login", self.login_form)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/requests", self.list_requests)
        app.router.add_get("/requests/{id}", self.show_request)
        app.router.add_post("/requests/{id}/{verb}", self.decide)
        app.router.add_get("/records/{id}", self.show_record)
        app.middlewares.append(self._store_errors)

    @web.middleware
    async def _store_errors(self, request: web.Request,
                            handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                            ) -> web.StreamResponse:
        """A store that cannot be read or written (down, full, damaged) is a 503 page that
        says so, never a 500: the person can try again."""
        try:
            return await handler(request)
        except StoreError as exc:
            self.log(f"web: {request.method} {request.path}: {exc}")
            response = self._error(request, None, 503, f"the audit store cannot be used "
                                   f"right now: {exc}")
            response.headers["Retry-After"] = "10"
            return response

    # -- plumbing --

    async def read(self, work: Callable[[WebStore], T]) -> T:
        """Run ``work`` on the page's own store connection, in its one reader thread."""
        def run() -> T:
            return work(self._reader_engine().store)
        return await asyncio.get_running_loop().run_in_executor(self.reader, run)

    def _reader_engine(self) -> Engine:
        """The reader thread's engine (opened on first use)."""
        if self._engine is None:
            self._engine = self.engine_factory(self.config)
        return self._engine

    async def statuses(self, requests: list[Any]) -> dict[str, dict[str, Any]]:
        """Per request: who asked, the approvals so far, how many are needed, who may approve,
        as `pending --json` says (``Approvals.status``)."""
        def run() -> dict[str, dict[str, Any]]:
            return self._reader_engine().approvals.status(requests)
        return await asyncio.get_running_loop().run_in_executor(self.reader, run)

    def close(self, grace_s: float) -> None:
        """Give approvals still running ``grace_s`` (then their runs are cancelled, recorded
        as such); then close the page's store."""
        self.background.stop(grace_s)

        def shut() -> None:
            if self._engine is not None:
                self._engine.store.close()
        self.reader.submit(shut).result()
        self.reader.shutdown()

    def _base(self, request: web.Request, session: Session | None, title: str,
              **extra: Any) -> dict[str, Any]:
        return {"title": title, "user": session.user if session else None,
                "csrf": self.sessions.csrf_token(session) if session else "",
                "can_logout": self.settings.proxy is None, "note": "", "note_kind": "",
                "refresh": 0, **extra}

    def _error(self, request: web.Request, session: Session | None, status: int,
               message: str) -> web.Response:
        return page(self.templates, "error.html", status,
                    **self._base(request, session, f"{status}: {_REASONS.get(status, '')}",
                                 message=message))

    async def _identify(self, request: web.Request) -> Session | web.Response:
        """The person making ``request``, or the answer for one we do not know (a session
        logged out on any instance on the store is not known)."""
        proxy = self.settings.proxy
        if proxy is not None:
            if not proxy.trusts(request.remote):
                return self._error(request, None, 403, f"the {proxy.header} header is "
                                   "trusted only from the proxy's addresses "
                                   "(server.web.proxy.trusted); this connection is not from "
                                   "one of them")
            user = request.headers.get(proxy.header, "").strip()
            if not user or not user.isprintable() or len(user) > 256:
                return self._error(request, None, 403, f"the proxy sent no usable "
                                   f"{proxy.header} header")
            return self.sessions.proxy_session(user)
        session = self.sessions.read(request.cookies.get(COOKIE), now())
        if session is not None:
            nonce = session.nonce
            if await self.read(lambda s: s.logged_out(nonce)):
                self.sessions.revoke(session, now())  # no need to ask the store again
                session = None
        if session is None:
            if request.method == "GET":
                return redirect(f"/login?next={quote(request.path)}")
            return self._error(request, None, 403, "not logged in (or the login expired)")
        return session

    def _same_origin(self, request: web.Request) -> bool:
        """True when the POST comes from our own page (Origin, else Referer)."""
        source = request.headers.get("Origin") or request.headers.get("Referer") or ""
        if not source or not source.isascii() or source == "null":
            return False
        parts = urlsplit(source)
        origin = f"{parts.scheme}://{parts.netloc}"
        if self.settings.origins:
            return origin in self.settings.origins
        return bool(parts.netloc) and parts.netloc == request.headers.get("Host", "")

    async def _checked_form(self, request: web.Request, session: Session | None
                            ) -> Mapping[str, str] | web.Response:
        """The POSTed form after the origin and CSRF checks, or the 403/400 answer."""
        if not self._same_origin(request):
            return self._error(request, session, 403, "this form was not sent from this "
                               "page (Origin or Referer missing or foreign); nothing was done")
        try:
            form = await request.post()
        except (ValueError, UnicodeDecodeError, web.HTTPException) as exc:
            return self._error(request, session, 400, f"malformed form: {type(exc).__name__}")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if session is not None and not self.sessions.csrf_ok(session, fields.get("csrf")):
            return self._error(request, session, 403, "the form's CSRF token is missing or "
                               "wrong (reload the page and try again); nothing was done")
        return fields

    # -- routes --

    async def home(self, request: web.Request) -> web.Response:
        return redirect("/requests")

    async def stylesheet(self, request: web.Request) -> web.Response:
        return web.Response(body=self.css, content_type="text/css", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff",
                                     "Cache-Control": "max-age=3600"})

    async def login_form(self, request: web.Request) -> web.Response:
        if self.settings.proxy is not None:
            return redirect("/requests")
        target = request.query.get("next", "/requests")
        return page(self.templates, "login.html",
                    **self._base(request, None, "Log in", name="",
                                 next=target if NEXT.fullmatch(target) else "/requests"))

    async def login(self, request: web.Request) -> web.Response:
        if self.settings.proxy is not None:
            return redirect("/requests")
        form = await self._checked_form(request, None)
        if isinstance(form, web.Response):
            return form
        user, password = form.get("user", ""), form.get("password", "")
        if len(user) > 256 or len(password) > 1024:
            return self._error(request, None, 400, "user name or password too long")
        target = form.get("next", "/requests")
        target = target if NEXT.fullmatch(target) else "/requests"
        peer = request.remote or "unknown"
        wait = self.sessions.throttled(user, peer, now())
        if wait > 0:
            return self._error(request, None, 429, f"too many failed logins; try again in "
                               f"{int(wait) + 1} s")
        ok = await asyncio.get_running_loop().run_in_executor(
            None, self.sessions.check_password, user, password)
        if not ok:
            self.sessions.failed(user, peer, now())
            return page(self.templates, "login.html", 401,
                        **self._base(request, None, "Log in", name=user, next=target,
                                     note="wrong user name or password", note_kind="error"))
        _, cookie = self.sessions.issue(user, now())
        response = redirect(target)
        response.set_cookie(COOKIE, cookie, max_age=self.settings.session_ttl, path="/",
                            httponly=True, samesite="Strict",
                            secure=not self.settings.plain_http)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        session = await self._identify(request)
        if isinstance(session, web.Response):
            return session
        form = await self._checked_form(request, session)
        if isinstance(form, web.Response):
            return form
        moment = now()
        self.sessions.revoke(session, moment)
        await self.read(lambda s: s.log_out(session.nonce, session.expires, int(moment)))
        response = redirect("/login")
        response.del_cookie(COOKIE, path="/")
        return response

    async def list_requests(self, request: web.Request) -> web.Response:
        session = await self._identify(request)
        if isinstance(session, web.Response):
            return session
        moment = utc_now()
        pending = await self.read(lambda s: s.requests((RequestState.PENDING,)))
        live = [r for r in pending if (parse_time(r.expires_at) or moment) > moment]
        return page(self.templates, "requests.html",
                    **self._base(request, session, "Pending requests", requests=live,
                                 approval_status=await self.statuses(live)))

    async def show_request(self, request: web.Request) -> web.Response:
        session = await self._identify(request)
        if isinstance(session, web.Response):
            return session
        rid = request.match_info["id"]
        found = await self._request(rid)
        if found is None:
            return self._error(request, session, 404, f"no request {rid}")
        state = str(found.state)
        expires = parse_time(found.expires_at)
        if found.state is RequestState.PENDING and expires is not None and expires <= utc_now():
            state = "expired"
        job = self.jobs.get(found.id)
        note, kind = "", ""
        if found.state is RequestState.APPROVED and not found.result_record:
            state = "running"  # approved here or by another instance: its run is going
        if job is not None and job.state == "running" and not found.result_record:
            state = "running"  # (a run's record in the store says it ended, whatever the job)
            note, kind = f"approved by {job.by}: the live run is going", "ok"
        elif job is not None and job.state in ("refused", "failed"):
            note, kind = job.message, "error"
        elif job is not None and job.message:
            note, kind = job.message, "ok"
        approval_status = (await self.statuses([found]))[found.id]
        return page(self.templates, "request.html",
                    **self._base(request, session, f"Request {found.id}", r=found, state=state,
                                 approval_status=approval_status,
                                 note=note, note_kind=kind,
                                 refresh=2 if state == "running" else 0))

    async def _request(self, rid: str) -> Any:
        if not ID.fullmatch(rid):
            return None
        try:
            return await self.read(lambda s: s.get_request(rid))
        except NotFoundError:
            return None

    async def decide(self, request: web.Request) -> web.Response:
        session = await self._identify(request)
        if isinstance(session, web.Response):
            return session
        rid, verb = request.match_info["id"], request.match_info["verb"]
        if verb not in ("approve", "deny"):
            return self._error(request, session, 404, f"no action {verb}")
        form = await self._checked_form(request, session)
        if isinstance(form, web.Response):
            return form
        reason = form.get("reason", "").strip()
        if len(reason) > MAX_REASON or not all(c.isprintable() for c in reason):
            return self._error(request, session, 400, f"the reason must be one line of at "
                               f"most {MAX_REASON} printable characters")
        found = await self._request(rid)
        if found is None:
            return self._error(request, session, 404, f"no request {rid}")
        approver = Approver("web", session.user, session.user)
        if verb == "approve":
            self._start_approval(found.id, approver, reason)
        else:
            job = Job(session.user)
            self.jobs[found.id] = job
            await asyncio.get_running_loop().run_in_executor(
                None, self._deny, found.id, approver, reason, job)
        return redirect(f"/requests/{found.id}")

    def _start_approval(self, rid: str, approver: Approver, reason: str) -> None:
        """Start the live run in a thread of its own (one at a time per request)."""
        with self.lock:
            running = self.jobs.get(rid)
            if running is not None and running.state == "running":
                return
            if len(self.jobs) >= MAX_JOBS:  # forget the oldest finished ones
                done = [key for key, old in self.jobs.items() if old.state != "running"]
                for key in done[:len(done) // 2 + 1]:
                    del self.jobs[key]
            job = self.jobs[rid] = Job(approver.id)
        self.background.start(f"web-approve-{rid}",
                              lambda: self._approve(rid, approver, reason, job))

    def _approve(self, rid: str, approver: Approver, reason: str, job: Job) -> None:
        self._with_engine(job, lambda engine: engine.approve(rid, approver=approver,
                                                             reason=reason)[0], "approve")

    def _deny(self, rid: str, approver: Approver, reason: str, job: Job) -> None:
        self._with_engine(job, lambda engine: engine.deny(rid, approver=approver,
                                                          reason=reason), "deny")

    def _with_engine(self, job: Job, act: Callable[[Engine], Any], what: str) -> None:
        """Run ``act`` with an engine of its own; note the outcome on ``job``."""
        try:
            with self.background.engine() as engine:
                record = act(engine)
                job.state, job.record = "done", record["id"]  # before the engine closes
                job.message = f"{record['decision']['reason']} (record {record['id']}: " \
                              f"{record['outcome']})"
        except RefusedError as exc:
            job.state, job.message = "refused", f"refused: {exc.message}"
        except RemediatorError as exc:
            job.state, job.message = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - the page says so; serve goes on
            job.state, job.message = "failed", f"unexpected error: {type(exc).__name__}: {exc}"
            self.log(f"web: {what} failed with an unexpected error at {iso(utc_now())}: "
                     f"{type(exc).__name__}: {exc}")

    async def show_record(self, request: web.Request) -> web.Response:
        session = await self._identify(request)
        if isinstance(session, web.Response):
            return session
        rid = request.match_info["id"]
        if not ID.fullmatch(rid):
            return self._error(request, session, 404, f"no record {rid}")
        try:
            record = await self.read(lambda s: s.get(rid))
        except NotFoundError:
            return self._error(request, session, 404, f"no record {rid}")
        except ChainError as exc:
            return self._error(request, session, 409, f"record {rid} does not verify: {exc}")
        return page(self.templates, "record.html",
                    **self._base(request, session, f"Record {record['id']}", rec=record))


_REASONS = {400: "Bad request", 403: "Forbidden", 404: "Not found", 409: "Conflict",
            503: "Service unavailable",
            429: "Too many requests"}

