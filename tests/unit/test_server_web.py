"""The web page over HTTP: the real ``serve`` app (aiohttp's test server on loopback), a real
SQLite store and engine; the runs are a RecordingExecutor's. What a browser shows is in
tests/integration/test_web_browser.py."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Coroutine
from typing import Any

import pytest

from remediator.config import load
from remediator.errors import ConfigError
from remediator.identity import Approver
from remediator.server.app import Options, serve
from remediator.server.web.sessions import THROTTLE_FAILURES, Sessions
from remediator.settings.web import WebSettings
from tests.conftest import Project, alertmanager_payload, disk_alert, disk_entry
from tests.webpage import ENV, PASSWORD, SECRET, USERS, pending_request, site, web_config

HOSTILE = "<script>alert(1)</script>"


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def test_a_login_sets_a_strict_cookie_and_a_wrong_password_is_refused(project: Project
                                                                       ) -> None:
    """Right password: 303 and an HttpOnly, SameSite=Strict cookie; wrong: 401, no cookie;
    after too many failures even the right password waits (429)."""
    project.configure(web_config(plain_http=False))

    async def check() -> None:
        async with site(project) as web:
            response = await web.login("alice", "wrong")
            assert response.status == 401 and "Set-Cookie" not in response.headers
            response = await web.login("nobody", PASSWORD)
            assert response.status == 401
            response = await web.login()
            assert response.status == 303 and response.headers["Location"] == "/requests"
            cookie = response.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
            for _ in range(THROTTLE_FAILURES):
                await web.login("bob", "wrong")
            response = await web.login("bob", PASSWORD)
            assert response.status == 429
    run(check())


def test_pages_need_a_login_and_carry_strict_headers(project: Project) -> None:
    """Without a session a page redirects to the login; every page has the CSP, no framing and
    no caching; unknown ids are 404 pages."""
    rid = pending_request(project)
    project.configure(web_config())

    async def check() -> None:
        async with site(project) as web:
            response, _ = await web.get(f"/requests/{rid}")
            assert response.status == 303
            assert response.headers["Location"] == f"/login?next=/requests/{rid}"
            await web.login()
            for path in ("/requests", f"/requests/{rid}", f"/records/{rid}", "/login",
                         "/requests/nope", "/records/0123", "/records/..%2f..%2fetc"):
                response, body = await web.get(path)
                assert response.status in (200, 404), (path, response.status, body)
                csp = response.headers["Content-Security-Policy"]
                assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
                assert "script-src" not in csp and "'unsafe-inline'" not in csp
                assert response.headers["X-Frame-Options"] == "DENY"
                assert response.headers["Cache-Control"] == "no-store"
            response, body = await web.get("/requests/nope")
            assert response.status == 404 and "no request nope" in body
    run(check())


def test_a_post_without_the_right_csrf_token_or_origin_is_refused_and_runs_nothing(
        project: Project) -> None:
    """Missing token, wrong token, foreign Origin, no Origin: 403 each, the request stays
    pending and nothing runs; the same POST done right starts the live run."""
    rid = pending_request(project)
    assert project.executor is not None
    checks = len(project.executor.plans)
    project.configure(web_config())

    async def check() -> None:
        async with site(project) as web:
            await web.login()
            await web.get(f"/requests/{rid}")
            good = web.csrf
            assert good
            for form, origin in (({}, ""), ({"csrf": "0" * len(good)}, ""),
                                 ({"csrf": good}, "http://evil.example"),
                                 ({"csrf": good}, None)):
                response, body = await web.post(f"/requests/{rid}/approve", form,
                                                origin=origin)
                assert response.status == 403, (form, origin, body)
            assert len(project.executor.plans) == checks
            body = await web.wait_state(rid, "pending")
            response, _ = await web.post(f"/requests/{rid}/approve", {"csrf": good})
            assert response.status == 303 and response.headers["Location"] == f"/requests/{rid}"
            body = await web.wait_state(rid, "approved")
            assert "by alice (web:alice)" in body or "by alice" in body
    run(check())
    assert [str(p.mode) for p in project.executor.plans[checks:]] == ["live"]


def test_hostile_alert_text_is_escaped_in_every_page(project: Project) -> None:
    """A label and an annotation holding markup show as text on the list, the request and the
    record pages: no tag of theirs reaches the HTML."""
    rid = pending_request(project, team=HOSTILE, summary='"><img src=x onerror=alert(1)>')
    project.configure(web_config())

    async def check() -> None:
        async with site(project) as web:
            await web.login()
            for path in ("/requests", f"/requests/{rid}", f"/records/{rid}"):
                _, body = await web.get(path)
                assert HOSTILE not in body and "<img src=x" not in body, path
                assert html.escape(HOSTILE) in body, path
    run(check())


def test_bad_forms_and_unknown_actions_are_4xx(project: Project) -> None:
    """A reason too long or with control characters, or a form that is not UTF-8, is 400; an
    unknown action or request 404; a login POST from elsewhere 403: never a 5xx."""
    rid = pending_request(project)
    project.configure(web_config())

    async def check() -> None:
        async with site(project) as web:
            response = await web.post("/login", {"user": "alice", "password": PASSWORD},
                                      origin="http://evil.example")
            assert response[0].status == 403
            await web.login()
            await web.get(f"/requests/{rid}")
            for path, form, status in (
                    (f"/requests/{rid}/deny", {"reason": "x" * 501}, 400),
                    (f"/requests/{rid}/deny", {"reason": "a\x1b[2Jb"}, 400),
                    (f"/requests/{rid}/explode", {}, 404),
                    ("/requests/nope/deny", {}, 404)):
                response, body = await web.post(path, {"csrf": web.csrf, **form})
                assert response.status == status, (path, body)
            raw = await web.client.post(f"/requests/{rid}/deny", data=b"\xff\xfe=\xff",
                                        headers={"Origin": web.origin, "Content-Type":
                                                 "application/x-www-form-urlencoded"},
                                        allow_redirects=False)
            assert raw.status == 400  # not UTF-8
            await web.wait_state(rid, "pending")
            response, _ = await web.post(f"/requests/{rid}/deny",
                                         {"csrf": web.csrf, "reason": "not now"})
            assert response.status == 303
            body = await web.wait_state(rid, "denied")
            assert "denied by alice" in body
    run(check())


@pytest.mark.parametrize(("trusted", "allowed"), [("10.0.0.0/8", False),
                                                   ("127.0.0.0/8", True)])
def test_the_proxy_header_is_trusted_only_from_trusted_addresses(
        project: Project, trusted: str, allowed: bool) -> None:
    """Behind oauth2-proxy: the user header from an address outside ``trusted`` is refused
    (403); from a trusted one it names the person, with no login form; no header is 403."""
    pending_request(project)
    project.configure(web_config(users=None, session_secret_env=None,
                                 proxy={"header": "X-Forwarded-Email", "trusted": [trusted]}))

    async def check() -> None:
        async with site(project) as web:
            response, body = await web.get("/requests",
                                           headers={"X-Forwarded-Email": "ann@example.org"})
            assert response.status == (200 if allowed else 403)
            assert ("ann@example.org" in body) is allowed
            response, _ = await web.get("/requests")
            assert response.status == 403
    run(check())


@pytest.mark.parametrize(("web", "says"), [
    ({"users": {"alice": "hunter2"}}, "server.web.users.alice' must be a bcrypt hash"),
    ({"users": USERS, "session_secret_env": None}, "session_secret_env' is required"),
    ({"users": USERS, "proxy": {"trusted": ["10.0.0.0/8"]}}, "exactly one of 'users'"),
    ({"proxy": {"trusted": ["10.0.0.300/8"]}}, "server.web.proxy.trusted"),
    ({"proxy": {"trusted": []}}, "server.web.proxy.trusted' must list"),
    ({"users": USERS, "session_ttl": 5}, "server.web.session_ttl"),
    ({"users": USERS, "colour": "red"}, "unknown key 'server.web.colour'"),
])
def test_config_errors_name_the_key(project: Project, web: dict[str, Any], says: str) -> None:
    """Each mistake in server.web is a ConfigError naming its key."""
    section = {"session_secret_env": "T_WEB_SESSION", **web}
    project.configure({"server": {"web": {k: v for k, v in section.items() if v is not None}}})
    with pytest.raises(ConfigError, match=re.escape(says)):
        load(project.config)


def test_a_missing_session_secret_fails_the_start(project: Project) -> None:
    """The signing key comes from the environment; unset, the page does not start."""
    project.configure(web_config())

    async def check() -> None:
        async with site(project, env={k: v for k, v in ENV.items() if k != "T_WEB_SESSION"}):
            pass
    with pytest.raises(ConfigError, match="T_WEB_SESSION"):
        run(check())


def test_a_session_cookie_is_refused_when_forged_expired_or_logged_out() -> None:
    """A cookie proves its session only as issued, before it expires and until logout; a
    form token is the session's own."""
    sessions = Sessions(WebSettings(users=USERS, session_secret_env="K", session_ttl=60),
                        {"K": SECRET})
    session, cookie = sessions.issue("alice", 1000.0)
    assert sessions.read(cookie, 1059.0) == session
    assert sessions.read(cookie, 1060.0) is None  # expired
    body, _, mac = cookie.rpartition(".")
    forged = body.replace(body.split(".")[1], "Ym9i") + "." + mac  # "bob", same MAC
    assert sessions.read(forged, 1001.0) is None
    other = Sessions(WebSettings(users=USERS, session_secret_env="K"), {"K": SECRET + "x"})
    assert other.read(cookie, 1001.0) is None  # another key
    assert sessions.csrf_ok(session, sessions.csrf_token(session))
    assert not sessions.csrf_ok(session, other.csrf_token(session))
    sessions.revoke(session, 1001.0)
    assert sessions.read(cookie, 1002.0) is None


def test_plain_http_is_refused_off_loopback(project: Project) -> None:
    """Cookies without Secure only on a loopback address: serve refuses to start elsewhere."""
    project.configure(web_config())
    config = load(project.config)
    with pytest.raises(ConfigError, match="plain_http is for a loopback address only"):
        # (an address not on this machine: were the check missing, binding it fails at once)
        serve(config, Options(listen="192.0.2.1:0", workers=1), env=ENV)


def test_the_page_shows_the_approvals_as_pending_json_does(project: Project) -> None:
    """An entry needing two people, one approval counted (through Slack): the list and the
    request page say who asked, "1 of 2" with the approver, and who may approve, as
    `pending --json` does."""
    project.write_catalog(disk_entry("human-initiated", approval={"required": 2}))
    project.configure({**web_config(), "approvals": {
        "people": {"alice": {"slack": "U1", "web": "alice"}, "bob": {"web": "bob"}},
        "approvers": ["alice", "bob"]}})
    project.fake_runs()
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    rid = record["id"]
    project.engine().approve(rid, approver=Approver("slack", "U1", "Alice"))
    (listed,) = json.loads(project.cli("pending", "--json").stdout)
    assert (len(listed["approvals"]), listed["required"], listed["approvers"]) == (
        1, 2, ["alice", "bob"])

    async def check() -> None:
        async with site(project) as web:
            await web.login("bob")
            for path in ("/requests", f"/requests/{rid}"):
                _, body = await web.get(path)
                shown = re.search(r'class="approvals" data-count="(\d+)" '
                                  r'data-required="(\d+)">([^<]*)<', body)
                assert shown is not None, body
                assert (int(shown.group(1)), int(shown.group(2))) == (
                    len(listed["approvals"]), listed["required"])
                assert "1 of 2: Alice (slack)" in html.unescape(shown.group(3))
                assert re.search(r'class="approvers">alice, bob<', body)
                assert re.search(r'class="requested-by">an alert<', body)
    run(check())


def test_an_approval_still_running_when_the_page_stops_is_cancelled_and_recorded(
        project: Project) -> None:
    """The page stops (serve's shutdown) while an approved run goes on: after the grace
    period the run is cancelled, as Slack's and the workers' are, and its record is on the
    chain when the page has stopped (not left to the next start)."""
    import time

    from remediator.common import utc_now
    from tests.fakecli import TimedExecutor

    rid = pending_request(project)
    project.configure(web_config())
    project.executor = TimedExecutor(clock=utc_now, seconds={"*": 120.0})
    lines: list[str] = []

    async def check() -> float:
        async with site(project, grace=0.5, log=lines.append) as web:
            await web.login()
            response, _ = await web.post(f"/requests/{rid}/approve", {"csrf": web.csrf})
            assert response.status == 303
            await web.wait_state(rid, "running")
            began = time.monotonic()
        return time.monotonic() - began

    took = asyncio.run(check())
    assert took < 30, took
    assert lines == ["grace period over: cancelling the approved runs still going"]
    store = project.store()
    try:
        request = store.get_request(rid)
        assert request.result_record is not None
        live = store.get(request.result_record)
    finally:
        store.close()
    assert live["mode"] == "live" and live["request"]["id"] == rid


def test_a_logout_holds_on_every_instance_on_the_store_and_after_a_restart(
        project: Project) -> None:
    """Two instances of the page on one store (one key): a session logged out on one is
    refused by the other, and by an instance started after the logout; the logout is a row
    in the store until the cookie would have expired."""
    project.configure(web_config())

    async def check() -> None:
        async with site(project) as first, site(project) as second:
            assert (await first.login()).status == 303
            cookie = first.client.session.cookie_jar.filter_cookies(
                first.client.make_url("/"))["remediator_session"].value
            response, _ = await second.get("/requests", cookies={"remediator_session": cookie})
            assert response.status == 200  # one key: the other instance knows the login
            response, _ = await first.post("/logout", {"csrf": first.csrf})
            assert response.status == 303
            response, _ = await second.get("/requests", cookies={"remediator_session": cookie})
            assert response.status == 303 and response.headers["Location"].startswith("/login")
        async with site(project) as restarted:
            response, _ = await restarted.get("/requests",
                                              cookies={"remediator_session": cookie})
            assert response.status == 303 and response.headers["Location"].startswith("/login")
    run(check())
    assert len(project.query("SELECT nonce FROM web_logouts")) == 1


@pytest.mark.sqlite_only  # a table dropped behind the store's back stands in for a broken store
def test_a_store_that_cannot_be_read_is_a_503_page_not_a_500(project: Project) -> None:
    """The page's store fails (here a table it reads is gone): each page answers 503 with
    Retry-After and says why, never 500; nothing else breaks."""
    import sqlite3

    rid = pending_request(project)
    project.configure(web_config())

    async def check() -> None:
        async with site(project) as web:
            await web.login()
            with sqlite3.connect(project.store_path) as db:
                db.execute("DROP TABLE web_logouts")
            for path in ("/requests", f"/requests/{rid}", f"/records/{rid}"):
                response, body = await web.get(path)
                assert response.status == 503, (path, response.status)
                assert response.headers["Retry-After"] == "10"
                assert "the audit store cannot be used right now" in body
                assert "web_logouts" in body
    run(check())
