"""The web page in tests: config for ``server.web``, and the real ``serve`` app (the receiver's
routes and the page's) on a loopback port, driven over HTTP with aiohttp's test client."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import bcrypt
from aiohttp import ClientResponse, test_utils

from remediator.config import load
from remediator.engine import open_engine
from remediator.server.app import Receiver
from remediator.server.intake import IntakeWriter
from remediator.server.metrics import Metrics
from remediator.server.web import WebPages
from remediator.server.workers import Pool
from tests.conftest import Project, alertmanager_payload, disk_alert, disk_entry

PASSWORD = "correct horse battery staple"
SECRET = "a-session-signing-key-for-tests"
ENV = {"T_WEB_SESSION": SECRET, "T_AM": "am-token-0123456789"}
# cost 4: the lowest bcrypt takes, so that logging in costs a test milliseconds
USERS = {name: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
         for name in ("alice", "bob")}
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def web_config(**web: Any) -> dict[str, Any]:
    """A ``server`` section with the page (users and plain http unless ``web`` says else)."""
    settings = {"users": USERS, "session_secret_env": "T_WEB_SESSION", "plain_http": True,
                **web}
    settings = {key: value for key, value in settings.items() if value is not None}
    return {"server": {"workers": 1, "grace": 5, "web": settings,
                       "endpoints": {"alertmanager": {"auth": "bearer", "token_env": "T_AM"}}}}


def pending_request(project: Project, **labels: str) -> str:
    """Open a human-initiated request for demo-web-01 (a recorded check run); its id."""
    project.write_catalog(disk_entry(stage="human-initiated"))
    if project.executor is None:
        project.fake_runs()
    [record] = project.handle(alertmanager_payload([disk_alert(**labels)]))
    assert record["decision"]["action"] == "pending", record
    return str(record["id"])


class Site:
    """A client of the real app, with the page's cookie jar and a CSRF token once logged in."""

    def __init__(self, client: test_utils.TestClient[Any, Any], pages: WebPages) -> None:
        self.client = client
        self.pages = pages
        self.csrf = ""

    @property
    def origin(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    async def text(self, response: ClientResponse) -> str:
        body = await response.text()
        found = CSRF.search(body)
        if found:
            self.csrf = found.group(1)
        return body

    async def get(self, path: str, **kwargs: Any) -> tuple[ClientResponse, str]:
        response = await self.client.get(path, allow_redirects=False, **kwargs)
        return response, await self.text(response)

    async def post(self, path: str, form: Mapping[str, str], *, origin: str | None = "",
                   headers: Mapping[str, str] | None = None) -> tuple[ClientResponse, str]:
        """POST ``form``; Origin is this site's unless ``origin`` is given (None: no Origin)."""
        sent = dict(headers or {})
        if origin is not None:
            sent["Origin"] = origin or self.origin
        response = await self.client.post(path, data=dict(form), headers=sent,
                                          allow_redirects=False)
        return response, await self.text(response)

    async def login(self, user: str = "alice", password: str = PASSWORD) -> ClientResponse:
        response, _ = await self.post("/login", {"user": user, "password": password,
                                                  "next": "/requests"})
        if response.status == 303:
            await self.get("/requests")  # picks up the CSRF token
        return response

    async def wait_state(self, rid: str, *states: str, timeout: float = 30.0) -> str:
        """The request page once it shows one of ``states``."""
        deadline = time.monotonic() + timeout
        while True:
            _, body = await self.get(f"/requests/{rid}")
            found = re.search(r'id="state">([a-z]+)<', body)
            if found and found.group(1) in states:
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"request {rid} never reached {states}:\n{body}")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def site(project: Project, env: Mapping[str, str] = ENV, *, grace: float = 30.0,
               log: Callable[[str], None] = lambda line: None) -> AsyncIterator[Site]:
    """The real app over the project's config, on a loopback port; at the end, approvals
    still running get ``grace`` seconds, as ``serve`` gives them."""
    config = load(project.config)
    executor = project.executor

    def factory(cfg: Any) -> Any:
        return open_engine(cfg, executor=executor)

    metrics = Metrics(lambda: {})
    pool = Pool(config, metrics, engine_factory=factory)
    assert config.server.web is not None
    pages = WebPages(config, config.server.web, env, factory, log)
    receiver = Receiver(config, env, IntakeWriter(config.store, lambda: None), metrics, pool,
                        web_pages=pages)
    async with test_utils.TestClient(test_utils.TestServer(receiver.app())) as client:
        try:
            yield Site(client, pages)
        finally:
            await asyncio.get_running_loop().run_in_executor(None, pages.close, grace)
