"""Slack interactive approvals: ``POST /slack/interactions`` (the app's Request URL).

Slack gives an app three seconds to answer. So the request is checked at once (signature,
timestamp, the payload, the request it names) and written down (its signature is refused if
sent again); the answer is 200; the approval or denial then runs in a thread with an engine of
its own, and its outcome replaces the message through the payload's ``response_url``. A
request refused at the door (4xx) runs and writes nothing.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
import traceback
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeGuard

from aiohttp import web

from ..common import iso, utc_now
from ..config import Config
from ..errors import InputError, NotFoundError, RefusedError, RemediatorError, StoreError
from ..identity import Approver
from ..models import PendingRequest, RequestState
from ..notify.base import DeliveryError
from ..notify.http import post
from ..record import AuditRecord
from ..store import AuditStore, IntakeStore, open_intake, open_store
from ..store.intake import Accepted
from .auth import Authenticator
from .background import Background
from .metrics import Metrics

PATH = "/slack/interactions"
ACTIONS = ("approve", "deny")
MAX_ID = 200  # characters of a request id in a button's value
Log = Callable[[str], None]
Post = Callable[[str, bytes, Mapping[str, str], float], int]


@dataclass(frozen=True, slots=True)
class Interaction:
    """One button click: what was clicked, on which request, by whom, where to answer."""

    action: str  # one of ACTIONS
    request_id: str
    user_id: str
    user_name: str
    response_url: str

    @property
    def approver(self) -> Approver:
        """The Slack user, as Slack's signature vouches for them."""
        return Approver("slack", self.user_id, self.user_name)


def parse(body: bytes, response_urls: tuple[str, ...]) -> Interaction:
    """A ``block_actions`` payload as Slack sends it (form-encoded ``payload=`` JSON); an
    InputError naming the field otherwise."""
    try:
        form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True,
                                     max_num_fields=20)
    except UnicodeDecodeError:
        raise InputError("the body is not UTF-8") from None
    except ValueError as exc:
        raise InputError(f"the body is not a form: {exc}") from None
    if len(form.get("payload", ())) != 1:
        raise InputError("expected one form field 'payload' (Slack's interaction JSON)")
    try:
        payload = json.loads(form["payload"][0])
    except ValueError as exc:
        raise InputError(f"'payload' is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InputError("'payload' must be a JSON object")
    if payload.get("type") != "block_actions":
        raise InputError(f"payload type {payload.get('type')!r} is not handled (only "
                         "block_actions: the approve and deny buttons)")
    user = payload.get("user")
    if not isinstance(user, dict) or not _text(user.get("id")):
        raise InputError("'payload.user.id' is missing")
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise InputError("'payload.actions' must hold the one action clicked")
    action, value = actions[0].get("action_id"), actions[0].get("value")
    if action not in ACTIONS:
        raise InputError(f"unknown action_id {action!r} in 'payload.actions' (handled: "
                         f"{', '.join(ACTIONS)})")
    if not _text(value) or len(value) > MAX_ID:
        raise InputError("'payload.actions[0].value' must be the request id")
    url = payload.get("response_url")
    if not _text(url) or not url.startswith(response_urls) or not url.isprintable() or \
            " " in url:
        raise InputError("'payload.response_url' must start with one of "
                         f"{', '.join(response_urls)} (server.endpoints.slack."
                         "response_url_prefixes)")
    name = next((n for n in (user.get("name"), user.get("username")) if _text(n)),
                user["id"])
    return Interaction(action, value, user["id"], name, url)


def _text(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


def reply(text: str, record_id: str | None = None, record_url: str | None = None
          ) -> dict[str, Any]:
    """What replaces the message in Slack: ``text`` (mrkdwn, escaped by the caller) and how
    to see the record."""
    blocks: list[dict[str, Any]] = [{"type": "section",
                                     "text": {"type": "mrkdwn", "text": text}}]
    if record_id is not None:
        link = f"  <{record_url.format(id=record_id)}|audit record>" if record_url else ""
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"`remediator audit show {record_id}`{link}"}]})
    return {"replace_original": True, "text": text, "blocks": blocks}


def approved(interaction: Interaction, request: PendingRequest, record: AuditRecord,
             ran: bool) -> tuple[str, str]:
    """(outcome label, text) of an approval that returned ``record``: the run it started;
    when another approval won, that one's run; when the entry needs more approvers, the
    record of this one counted; when a host was being fixed, that nothing ran."""
    link = record.get("request")
    if link is not None and link["state"] == "locked":
        return "locked", (f"Nothing ran: {_escape(record['decision']['reason'])}. The request "
                          "stays pending: approve it again when that run ends.")
    if not ran and (link is None or link["state"] != "approved"):
        return "counted", _escape(record["decision"]["reason"])
    what = (f"`{_escape(request.entry)}` on {_escape(', '.join(request.hosts))}: "
            f"*{record['outcome']}*")
    if record["decision"]["action"] != "run":
        what += f" ({_escape(record['decision']['reason'])})"
    if ran:
        return "approved", f"Approved by {_escape(interaction.user_name)}: {what}"
    return "approved-before", (f"Already approved by {_escape(str(record['initiated_by']))};"
                               f" its run: {what}")


def _escape(text: str) -> str:
    """Slack mrkdwn's control characters (&, <, >), so that text cannot ping or link."""
    return html.escape(text, quote=False)


class Desk:
    """Checks interactions, runs them in threads, answers Slack; waits for them at shutdown."""

    def __init__(self, config: Config, auth: Authenticator, metrics: Metrics,
                 background: Background, log: Log, post_fn: Post = post) -> None:
        self.config = config
        self.auth = auth
        self.metrics = metrics
        self.background = background  # the approvals' threads, shared with the web page
        self.log = log
        self.post = post_fn
        # one thread owns the store connections the door uses (lookups, replay keys)
        self._door = ThreadPoolExecutor(1, thread_name_prefix="slack-door")
        self._store: AuditStore | None = None
        self._intake: IntakeStore | None = None

    async def receive(self, headers: Mapping[str, str], body: bytes) -> web.Response:
        """Check, write down, answer 200 and start the approval; or a 4xx and nothing."""
        verdict = self.auth.check(headers, body, time.time())
        if not verdict.ok:
            return self._refuse(verdict.status, verdict.reason)
        try:
            interaction = parse(body, self.auth.auth.response_url_prefixes)
        except InputError as exc:
            return self._refuse(400, exc.message)
        loop = asyncio.get_running_loop()
        status, reason, admitted = await loop.run_in_executor(
            self._door, self._admit, interaction, body, verdict.replay_key)
        if admitted is None:
            return self._refuse(status, reason)
        request, row = admitted
        self.background.start(f"slack-{interaction.action}",
                              lambda: self._job(interaction, request, row))
        return web.Response(status=200)

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.metrics.slack.labels("rejected").inc()
        return web.json_response({"error": reason}, status=status)

    def _admit(self, interaction: Interaction, body: bytes, replay_key: str | None
               ) -> tuple[int, str, tuple[PendingRequest, int] | None]:
        """In the door's thread: the request must exist; the interaction is written down
        once (its intake row, done at once). (status, reason, None) when refused."""
        try:
            if self._store is None:
                self._store = open_store(self.config.store)
                self._intake = open_intake(self.config.store, durable=True)
            assert self._intake is not None
            try:
                request = self._store.get_request(interaction.request_id)
            except NotFoundError:
                request = None
            if request is None or request.id != interaction.request_id:
                return 404, f"no request {interaction.request_id}", None
            (row,) = self._intake.accept([Accepted(iso(utc_now()), "slack",
                                                   body.decode("utf-8"), replay_key, "done")])
        except StoreError as exc:
            return 503, f"not accepted: {exc}", None
        if row is None:
            return 403, "replayed interaction: this signed payload was accepted before", None
        return 200, "", (request, row)

    def _job(self, interaction: Interaction, request: PendingRequest, row: int) -> None:
        """Approve or deny with an engine of its own; tell Slack; note the outcome."""
        try:
            outcome, text, record_id = self._decide(interaction, request)
            self.metrics.slack.labels(outcome).inc()
            self._answer(interaction, reply(text, record_id,
                                            self.config.notifications.record_url))
            result = {"slack": outcome, "record": record_id,
                      "user": interaction.approver.principal}
            self._door.submit(self._note, row, result).result()
        except Exception:  # noqa: BLE001 - a thread's failure is logged, never lost
            self.log(f"slack {interaction.action} of request {request.id} failed:\n"
                     f"{traceback.format_exc()}")

    def _decide(self, interaction: Interaction, request: PendingRequest
                ) -> tuple[str, str, str | None]:
        """(outcome label, text for Slack, the record id if any)."""
        who = _escape(interaction.user_name)
        try:
            with self.background.engine() as engine:
                if interaction.action == "deny":
                    record = engine.deny(request.id, approver=interaction.approver,
                                         reason="denied in Slack")
                    return "denied", f"Denied by {who}: request {request.id}; nothing ran", \
                        record["id"]
                entry = engine.catalog.get(request.entry)
                if request.state is RequestState.PENDING and (  # else refused or shown at once
                        entry is None or entry.approval.required == 1):  # else maybe counted
                    self._answer(interaction, reply(
                        f"Approved by {who}: running `{_escape(request.entry)}` on "
                        f"{_escape(', '.join(request.hosts))}..."))
                record, ran = engine.approve(request.id, approver=interaction.approver)
                outcome, text = approved(interaction, request, record, ran)
                return outcome, text, record["id"]
        except RefusedError as exc:
            return "refused", f"Not {interaction.action}d: {_escape(exc.message)}", None
        except RemediatorError as exc:
            return "error", f"Could not {interaction.action} request {request.id}: " \
                            f"{_escape(exc.message)}", None

    def _answer(self, interaction: Interaction, message: Mapping[str, Any]) -> None:
        """POST to the interaction's response_url, with the notifications' retries; a failure
        is logged (without the URL: it is a credential for that message)."""
        settings = self.config.notifications
        body = json.dumps(message).encode()
        for attempt in range(settings.retries + 1):
            try:
                self.post(interaction.response_url, body, {}, settings.timeout_s)
                return
            except DeliveryError as exc:
                if not exc.retry or attempt == settings.retries:
                    self.log(f"cannot answer Slack (response_url) for {interaction.action} "
                             f"of request {interaction.request_id}: {exc}")
                    return
                time.sleep(settings.backoff_s * 2 ** attempt)

    def _note(self, row: int, result: dict[str, Any]) -> None:
        """In the door's thread: the outcome into the interaction's intake row."""
        if self._intake is not None:
            self._intake.done([row], iso(utc_now()), {row: result})

    def stop(self, grace_s: float) -> None:
        """Give running approvals ``grace_s`` (then their runs are cancelled, recorded as
        such); once their records and answers are in, close the door's store."""
        self.background.stop(grace_s)
        self._door.submit(self._close).result()
        self._door.shutdown()

    def _close(self) -> None:
        for closing in (self._store, self._intake):
            if closing is not None:
                closing.close()
