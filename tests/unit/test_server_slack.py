"""Slack interactions as pure functions: request signing (Slack's own worked example), the
block_actions payload, the slack endpoint's settings, and what Slack is told."""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from remediator.config import from_mapping
from remediator.errors import ConfigError, InputError
from remediator.models import PendingRequest
from remediator.server.auth import Authenticator, slack_signature
from remediator.server.slack import Interaction, approved, parse, reply
from remediator.settings.server import EndpointAuth

DATA = Path(__file__).resolve().parents[1] / "data" / "slack"
# "Verifying requests from Slack" (api.slack.com/authentication/verifying-requests-from-slack):
# its example secret, timestamp, slash-command body and the signature it gives for them
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
            b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
            b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
            b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id="
            b"398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
SLACK = ("https://hooks.slack.com/",)


def slack_auth(*secrets: str) -> Authenticator:
    envs = tuple(f"S{i}" for i in range(len(secrets)))
    return Authenticator(EndpointAuth("slack", "slack", envs),
                         dict(zip(envs, secrets, strict=True)))


def check(auth: Authenticator, body: bytes = DOC_BODY, *, signature: str = DOC_SIGNATURE,
          timestamp: str = DOC_TIMESTAMP, now: float = int(DOC_TIMESTAMP) + 60) -> Any:
    headers = CIMultiDict({"x-slack-signature": signature,  # any letter case
                           "x-slack-request-timestamp": timestamp})
    return auth.check(headers, body, now)


def test_slacks_worked_example_signs_and_verifies() -> None:
    """Slack's published example: our signature is theirs, and the request is let in with a
    replay key (a signature is accepted once), with either of two rotated secrets."""
    assert slack_signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    verdict = check(slack_auth(DOC_SECRET))
    assert verdict.ok and verdict.replay_key == f"slack:{DOC_SIGNATURE}"
    assert check(slack_auth("the-new-secret", DOC_SECRET)).ok
    assert check(slack_auth(DOC_SECRET, "the-old-secret")).ok


@pytest.mark.parametrize(("change", "status", "words"), [
    ({"body": DOC_BODY.replace(b"roadrunner", b"wile-e")}, 403, "wrong X-Slack-Signature"),
    ({"signature": DOC_SIGNATURE.upper()}, 403, "wrong"),
    ({"signature": DOC_SIGNATURE[3:]}, 403, "wrong"),  # the hex without its v0=
    ({"now": int(DOC_TIMESTAMP) + 301}, 403, "stale"),
    ({"now": int(DOC_TIMESTAMP) - 301}, 403, "stale"),  # from the future
    ({"timestamp": "1531420618.5"}, 403, "malformed"),
    ({"timestamp": "١٥٣١٤٢٠٦١٨"}, 400, "ASCII"),  # Arabic-Indic digits: isdigit, not ASCII
    ({"signature": ""}, 401, "missing"),
    ({"timestamp": ""}, 401, "missing"),
])
def test_a_request_not_signed_as_slack_signs_is_refused(change: dict[str, Any], status: int,
                                                         words: str) -> None:
    verdict = check(slack_auth(DOC_SECRET), **change)
    assert (verdict.status, words in verdict.reason) == (status, True), verdict.reason


def test_the_right_signature_with_another_secret_is_refused() -> None:
    assert check(slack_auth("another-apps-secret")).status == 403


def form(payload: Any) -> bytes:
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def recorded() -> dict[str, Any]:
    return dict(json.loads((DATA / "block-actions-approve.json").read_text(encoding="utf-8")))


def test_a_block_actions_click_is_read_as_slack_sends_it() -> None:
    """The user as Slack vouches for them (id, name), the button and the request it names."""
    clicked = parse(form(recorded()), SLACK)
    assert clicked == Interaction(
        "approve", "20261205T113000Z-1a2b3c4d", "U024BE7LH", "alice",
        "https://hooks.slack.com/actions/T0CAG7XKL/8234021475/Xy9fQ2bLkP0mR7sT1uVwZ3aD")
    assert clicked.approver.principal == "slack:U024BE7LH"
    assert clicked.approver.name == "alice"


def test_the_name_falls_back_to_the_username_then_the_id() -> None:
    payload = recorded()
    payload["user"] = {"id": "U1", "username": "bob"}
    assert parse(form(payload), SLACK).user_name == "bob"
    payload["user"] = {"id": "U1"}
    assert parse(form(payload), SLACK).user_name == "U1"


def changed(**fields: Any) -> bytes:
    payload = recorded()
    for key, value in fields.items():
        if key == "action":
            payload["actions"] = [{**payload["actions"][0], **value}]
        else:
            payload[key] = value
    return form(payload)


@pytest.mark.parametrize(("body", "words"), [
    (b"\xff\xfe", "not UTF-8"),
    (b"text=hello", "one form field 'payload'"),
    (form(recorded()) + b"&" + form(recorded()), "one form field 'payload'"),
    (b"payload=%7Bnope", "'payload' is not JSON"),
    (b"payload=%5B%5D", "must be a JSON object"),
    (changed(type="view_submission"), "'view_submission' is not handled"),
    (changed(user="U1"), "'payload.user.id' is missing"),
    (changed(user={"name": "alice"}), "'payload.user.id' is missing"),
    (changed(actions=[]), "the one action clicked"),
    (changed(action={"action_id": "snooze"}), "unknown action_id 'snooze'"),
    (changed(action={"value": ""}), "must be the request id"),
    (changed(action={"value": 12}), "must be the request id"),
    (changed(response_url=None), "response_url"),
    (changed(response_url="https://hooks.slack.com.evil.example/x"), "response_url"),
    (changed(response_url="http://hooks.slack.com/x"), "response_url"),
    (changed(response_url="https://hooks.slack.com/x\nHost: evil"), "response_url"),
])
def test_a_malformed_interaction_is_an_input_error_naming_the_field(body: bytes, words: str
                                                                    ) -> None:
    with pytest.raises(InputError, match=re.escape(words)):
        parse(body, SLACK)


def server(endpoints: Any, **more: Any) -> Any:
    return from_mapping({"server": {"endpoints": endpoints, **more}}, Path("/srv")).server


def test_the_slack_endpoint_settings() -> None:
    """auth slack by default; one secret or a list while rotating; Slack's response URLs
    unless told otherwise; Slack's five minutes."""
    slack = server({"slack": {"signing_secret_env": "SLACK_SIGNING"}}).endpoints["slack"]
    assert (slack.scheme, slack.secret_envs, slack.response_url_prefixes, slack.max_skew_s) == (
        "slack", ("SLACK_SIGNING",), ("https://hooks.slack.com/",), 300)
    rotating = server({"slack": {"auth": "slack", "signing_secret_env": ["NEW", "OLD"],
                                 "response_url_prefixes": ["http://127.0.0.1:8080/"]}})
    slack = rotating.endpoints["slack"]
    assert slack.secret_envs == ("NEW", "OLD")
    assert slack.response_url_prefixes == ("http://127.0.0.1:8080/",)


@pytest.mark.parametrize(("endpoints", "more", "words"), [
    ({"slack": {}}, {}, "'server.endpoints.slack.signing_secret_env' must name"),
    ({"slack": {"auth": "hmac", "secret_env": "S"}}, {}, "'server.endpoints.slack.auth' must "
                                                         "be slack"),
    ({"generic": {"auth": "slack", "signing_secret_env": "S"}}, {}, "for the slack endpoint"),
    ({"slack": {"signing_secret_env": "S", "max_skew": 600}}, {}, "does not take"),
    ({"slack": {"signing_secret_env": "S", "response_url_prefixes": "https://x/"}}, {},
     "'server.endpoints.slack.response_url_prefixes' must be a list"),
    ({"slack": {"signing_secret_env": "S", "response_url_prefixes": ["https://x"]}}, {},
     "ending in /"),
    ({"slack": {"signing_secret_env": "S", "response_url_prefixes": ["ftp://x/"]}}, {},
     "http(s)"),
    ({"slack": {"signing_secret_env": "S"}}, {"keep_intake": 120},
     "'server.keep_intake' must be at least 300 with the slack endpoint"),
])
def test_slack_settings_errors_name_the_key(endpoints: Any, more: dict[str, Any],
                                            words: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(words)):
        server(endpoints, **more)


def test_a_missing_signing_secret_fails_at_start_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="SLACK_UNSET is not set"):
        Authenticator(EndpointAuth("slack", "slack", ("SLACK_UNSET",)), {})


def test_what_slack_is_told_replaces_the_message_and_names_the_record() -> None:
    told = reply("Denied by bob", "R1", "https://ops.example/r/{id}")
    assert told["replace_original"] is True and told["text"] == "Denied by bob"
    assert told["blocks"][1]["elements"][0]["text"] == (
        "`remediator audit show R1`  <https://ops.example/r/R1|audit record>")
    assert len(reply("Working...")["blocks"]) == 1


def test_names_from_slack_cannot_ping_or_link() -> None:
    """A display name like ``<!channel>`` is shown, escaped, never a mention."""
    clicked = Interaction("approve", "R0", "U1", "<!channel> & co", "https://hooks.slack.com/x")
    request = PendingRequest(id="R0", entry="disk", hosts=("web-01",), fingerprint="f",
                             alert={}, variables={}, preview={}, created_at="t", expires_at="t")
    record: Any = {"outcome": "failed", "initiated_by": "<@U2>", "request": {"state": "approved"},
                   "decision": {"action": "run", "reason": "approved"}}
    assert approved(clicked, request, record, True) == (
        "approved", "Approved by &lt;!channel&gt; &amp; co: `disk` on web-01: *failed*")
    assert approved(clicked, request, record, False)[1].startswith(
        "Already approved by &lt;@U2&gt;; its run:")


def test_an_approval_counted_toward_more_is_told_as_counted() -> None:
    """An entry that needs two approvers: the first click's record is its approval counted."""
    clicked = Interaction("approve", "R0", "U1", "alice", "https://hooks.slack.com/x")
    request = PendingRequest(id="R0", entry="disk", hosts=("web-01",), fingerprint="f",
                             alert={}, variables={}, preview={}, created_at="t", expires_at="t")
    record: Any = {"outcome": "not-run", "initiated_by": "alice",
                   "request": {"state": "partially-approved"},
                   "decision": {"action": "skip", "reason": "approval 1 of 2 by alice (request "
                                "R0); 1 more needed before the live run"}}
    assert approved(clicked, request, record, False) == (
        "counted", "approval 1 of 2 by alice (request R0); 1 more needed before the live run")


def test_an_approval_that_found_its_host_being_fixed_is_told_nothing_ran() -> None:
    """The last approval came while another run held a host: Slack is told nothing ran and
    how to go on, not that the approval was counted or that it ran."""
    clicked = Interaction("approve", "R0", "U1", "alice", "https://hooks.slack.com/x")
    request = PendingRequest(id="R0", entry="disk", hosts=("web-01",), fingerprint="f",
                             alert={}, variables={}, preview={}, created_at="t", expires_at="t")
    record: Any = {"outcome": "not-run", "initiated_by": "alice", "request": {"state": "locked"},
                   "decision": {"action": "escalate", "reason": "locked: a run of this entry on"
                                " web-01 is in progress (record R9); try again when it ends"}}
    assert approved(clicked, request, record, False) == (
        "locked", "Nothing ran: locked: a run of this entry on web-01 is in progress (record "
        "R9); try again when it ends. The request stays pending: approve it again when that "
        "run ends.")
