"""The web page in a real browser: `remediator serve` (tests.fakecli: the runs are a
RecordingExecutor's) with ``server.web``, an alert through the Alertmanager webhook, and
Debian's headless Chromium (tests/browser.py) logging in, reading the pending request's
preview, approving it and following the link to the live run's record. Chromium reaches the
server under test and nothing else (every other connection goes to the recorder)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from remediator.identity import os_user
from remediator.models import RequestState
from tests.browser import Browser, Recorder, launch
from tests.conftest import REPO, Project, alertmanager_payload, disk_alert, disk_entry
from tests.integration.test_serve import records
from tests.serving import Server
from tests.webpage import ENV, PASSWORD, web_config

pytestmark = [pytest.mark.browser, pytest.mark.daemon, pytest.mark.any_store]
ARTIFACTS = Path(os.environ.get("REMEDIATOR_TEST_ARTIFACTS") or REPO / "tests" / "artifacts")
HOSTILE = "<script>alert(1)</script>"
TOKEN = {"Authorization": f"Bearer {ENV['T_AM']}"}

# What a page shows, read from the live DOM.
FACTS = """(() => {
  const text = id => { const el = document.getElementById(id); return el ? el.textContent : null; };
  return {path: location.pathname, title: document.title, h1: document.querySelector('h1').textContent,
    note: (document.querySelector('.note') || {}).textContent || null,
    state: text('state'), outcome: text('outcome'), initiated: text('initiated-by'),
    decision: text('decision'), request: text('request'),
    record: (document.getElementById('record-link') || {}).pathname || null,
    sections: [...document.querySelectorAll('section.request')].map(s => s.textContent),
    tasks: [...document.querySelectorAll('.task')].map(t => t.textContent),
    labels: [...document.querySelectorAll('dl.labels dd')].map(d => d.textContent),
    scripts: document.querySelectorAll('script').length,
    styled: getComputedStyle(document.querySelector('header')).backgroundColor};
})()"""


def fill_and_submit(form: str, **values: str) -> str:
    """JavaScript that fills the fields of the form matching ``form`` and submits it."""
    sets = "".join(f"f.elements[{name!r}].value = {value!r};" for name, value in values.items())
    return f"(() => {{ const f = document.querySelector({form!r}); {sets} f.submit(); }})()"


@contextmanager
def serving(project: Project, tmp_path: Path) -> Iterator[tuple[Server, Browser, Recorder]]:
    """`serve` with the page over the project's config; a browser that may reach only it."""
    server = Server(project.config, ENV, fake=True).start()
    recorder = Recorder()
    browser = None
    try:
        browser = launch(tmp_path, recorder.port, direct=(f"127.0.0.1:{server.port}",))
        yield server, browser, recorder
    finally:
        if browser is not None:
            browser.close()
        recorder.sock.close()
        server.kill()


@pytest.fixture
def served(project: Project, tmp_path: Path) -> Iterator[tuple[Server, Browser, Recorder]]:
    """`serve` with the page and one pending request, opened by an alert to the webhook."""
    project.write_catalog(disk_entry(stage="human-initiated"))
    project.configure(web_config())
    with serving(project, tmp_path) as (server, browser, recorder):
        reply = server.post("/webhook/alertmanager",
                            alertmanager_payload([disk_alert(team=HOSTILE)]), TOKEN)
        assert reply.status == 202, reply.body
        wait_for(lambda: pending(project), "the pending request")
        yield server, browser, recorder


def log_in(server: Server, browser: Browser, user: str, path: str) -> dict[str, Any]:
    """Open ``path``, log in as ``user`` on the way; what the page shows."""
    browser.load(f"{server.url}{path}")
    browser.act(fill_and_submit("form.login", user=user, password=PASSWORD))
    facts: dict[str, Any] = browser.evaluate(FACTS)
    assert facts["path"] == path, facts
    return facts


def pending(project: Project) -> list[Any]:
    store = project.store()
    try:
        return store.requests((RequestState.PENDING,))
    finally:
        store.close()


def wait_for(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.1)
    return found


def test_log_in_see_the_preview_approve_and_read_the_record(
        project: Project, served: tuple[Server, Browser, Recorder]) -> None:
    """A wrong password is refused; alice logs in, sees the request's preview (hostile label
    as text), approves it, and the record behind the request's link shows the live run's
    outcome and her as the approver; the page made no request but to the server."""
    server, browser, recorder = served
    [request] = pending(project)
    browser.load(f"{server.url}/requests")
    facts = browser.evaluate(FACTS)
    assert facts["path"] == "/login"
    browser.act(fill_and_submit("form.login", user="alice", password="not it"))
    facts = browser.evaluate(FACTS)
    assert facts["path"] == "/login" and facts["note"] == "wrong user name or password"
    browser.act(fill_and_submit("form.login", user="alice", password=PASSWORD))
    facts = browser.evaluate(FACTS)
    assert facts["path"] == "/requests" and facts["h1"] == "Pending requests"
    [section] = facts["sections"]
    assert "disk-space-cleanup on demo-web-01" in section and "DiskSpaceLow" in section
    assert facts["tasks"] == ["fix"]  # the check run's changed task: the preview
    assert HOSTILE in facts["labels"] and facts["scripts"] == 0
    assert facts["styled"] == "rgb(246, 248, 250)"  # our stylesheet, allowed by the CSP
    browser.act(f"document.querySelector('a[href=\"/requests/{request.id}\"]').click()")
    facts = browser.evaluate(FACTS)
    assert facts["path"] == f"/requests/{request.id}" and facts["state"] == "pending"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # for a person to look at (git-ignored)
    (ARTIFACTS / "web-request.png").write_bytes(browser.screenshot(1024, 1100))
    browser.act("document.getElementById('approve-reason').value = 'cache is safe to drop'; "
                "document.getElementById('approve').click()")
    facts = browser.evaluate(FACTS)
    assert facts["path"] == f"/requests/{request.id}"
    assert facts["state"] in ("running", "approved"), facts

    def finished() -> Any:
        browser.load(f"{server.url}/requests/{request.id}")
        seen = browser.evaluate(FACTS)
        return seen if seen["record"] else None
    facts = wait_for(finished, "record link on the request page")
    assert facts["state"] == "approved"
    browser.act("document.getElementById('record-link').click()")
    facts = browser.evaluate(FACTS)
    assert facts["path"].startswith("/records/")
    assert facts["outcome"] == "succeeded"
    assert facts["initiated"] == "alice" and \
        "approved by alice: cache is safe to drop" in facts["decision"]
    assert "alice" in facts["request"] and "approved" in facts["request"]
    # (a page left by a script's click, not a person's, is skipped by the Back button: said)
    problems = [e for e in browser.events
                if e.get("method") in ("Network.loadingFailed", "Audits.issueAdded") and
                "NavigationEntryMarkedSkippable" not in str(e)]
    assert problems == [], problems
    assert recorder.connections() == [], recorder.connections()


def test_the_requester_of_a_four_eyes_entry_cannot_approve_it_on_the_page(
        project: Project, tmp_path: Path) -> None:
    """alice asks for a live run from the CLI (her OS account is hers in approvals.people);
    approving it on the page as web user alice is refused, shown, and runs nothing; bob's
    approval starts the run."""
    project.write_catalog(disk_entry("oversight", approval={"four_eyes": True}))
    project.configure({"approvals": {"people": {"alice": {"web": "alice", "cli": os_user()},
                                                "bob": {"web": "bob"}}}, **web_config()})
    project.fake_runs()
    result = project.cli("run", "disk-space-cleanup", "--limit", "demo-web-01", "--live",
                         "--var", "disk_mountpoint=/", "--by", "alice", "--json", "-q")
    assert result.exit_code == 0, result.output
    [asked] = json.loads(result.stdout)
    rid = asked["id"]
    with serving(project, tmp_path) as (server, browser, _):
        facts = log_in(server, browser, "alice", f"/requests/{rid}")
        assert facts["state"] == "pending"
        browser.act("document.getElementById('approve').click()")

        def answered() -> Any:
            browser.load(f"{server.url}/requests/{rid}")
            seen = browser.evaluate(FACTS)
            return seen if seen["state"] != "running" else None
        facts = wait_for(answered, "the refusal")
        assert facts["state"] == "pending" and facts["record"] is None
        assert facts["note"].startswith("refused:") and "own" in facts["note"], facts
        assert [r["mode"] for r in records(project) if r["mode"] == "live"] == []
        browser.act(fill_and_submit("form.inline"))  # log out
        log_in(server, browser, "bob", f"/requests/{rid}")
        browser.act("document.getElementById('approve').click()")

        def finished() -> Any:
            browser.load(f"{server.url}/requests/{rid}")
            seen = browser.evaluate(FACTS)
            return seen if seen["record"] else None
        assert wait_for(finished, "the run's record")["state"] == "approved"
