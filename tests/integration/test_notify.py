"""Notification channels against a real HTTP server on loopback, field by field."""

from __future__ import annotations

import hashlib
import hmac
import io
import time
from dataclasses import replace

import pytest

from remediator.config import ChannelConfig, NotifyConfig
from remediator.errors import ConfigError
from remediator.notify import Message, build, deliver
from remediator.notify.log import LogNotifier
from remediator.notify.pagerduty import PagerDutyNotifier
from remediator.notify.slack import SlackNotifier
from remediator.notify.webhook import WebhookNotifier, signature

FAST = NotifyConfig(timeout_s=2.0, retries=3, backoff_s=0.01)


def message(kind: str = "result", action: str = "trigger", severity: str = "info") -> Message:
    """A message as the engine would build it."""
    return Message(
        kind=kind, event_action=action, severity=severity,
        title="[remediator] disk-space-cleanup ran: DiskSpaceLow on web-01",
        lines=("decision: run: stage oversight: live run", "outcome: succeeded",
               "web-01: changed: Remove the stale files", "<!channel> & <@U123>"),
        fields={"entry": "disk-space-cleanup", "alert": "DiskSpaceLow", "stage": "oversight",
                "mode": "live", "outcome": "succeeded", "hosts": "web-01"},
        dedup_key="remediator/disk-space-cleanup/a3f1", source="web-01",
        command="remediator audit show 1a2b3c", link="https://ops.example/r/1a2b3c",
        record={"id": "1a2b3c", "outcome": "succeeded"},
    )


def test_pagerduty_trigger_is_an_events_v2_event(sink) -> None:
    """A trigger carries routing_key, dedup_key and a payload with summary, source, severity."""
    notifier = PagerDutyNotifier("pd", "R0UTING-KEY", sink.url)
    (result,) = deliver([notifier], message(severity="error"), FAST)
    assert result == {"channel": "pd", "type": "pagerduty", "event": "result", "status": "sent",
                      "attempts": 1, "error": None}
    (request,) = sink.received
    assert request.path == "/v2/enqueue"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert body["routing_key"] == "R0UTING-KEY"
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == "remediator/disk-space-cleanup/a3f1"
    payload = body["payload"]
    assert payload["summary"].startswith("[remediator] disk-space-cleanup ran")
    assert (payload["source"], payload["severity"], payload["component"]) == (
        "web-01", "error", "disk-space-cleanup")
    assert payload["custom_details"]["outcome"] == "succeeded"
    assert payload["custom_details"]["command"] == "remediator audit show 1a2b3c"
    assert body["links"] == [{"href": "https://ops.example/r/1a2b3c", "text": "audit record"}]


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_pagerduty_acknowledge_and_resolve_carry_only_the_key(sink, action: str) -> None:
    """Acknowledge and resolve events name the dedup_key and nothing else."""
    deliver([PagerDutyNotifier("pd", "K", sink.url)], message("resolved", action), FAST)
    assert sink.bodies() == [{"routing_key": "K", "event_action": action,
                              "dedup_key": "remediator/disk-space-cleanup/a3f1"}]


def test_slack_message_is_readable_blocks_with_escaped_text(sink) -> None:
    """Slack gets a header, the details, key fields and the record command; text is escaped."""
    deliver([SlackNotifier("team", sink.url + "/hooks/T0/B0/XYZ")], message(), FAST)
    body = sink.bodies("/hooks/T0/B0/XYZ")[0]
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds == ["header", "section", "section", "context"]
    assert body["blocks"][0]["text"]["text"].startswith("[remediator] disk-space-cleanup ran")
    details = body["blocks"][1]["text"]["text"]
    assert "web-01: changed: Remove the stale files" in details
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in details  # no @channel ping from alert text
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1]
              for f in body["blocks"][2]["fields"]}
    assert fields["*outcome*"] == "succeeded"
    assert "remediator audit show 1a2b3c" in body["blocks"][3]["elements"][0]["text"]
    assert body["text"]


def pending(link: str | None = "https://ops.example/requests/rq1") -> Message:
    """An approval-needed message for request rq1."""
    return replace(message("approval-needed", severity="warning"), request_id="rq1",
                   request_link=link)


def test_slack_pending_request_has_approve_and_deny_buttons(sink) -> None:
    """A pending request's message carries the preview, Approve (primary) and Deny (danger)
    buttons whose value is the request id, and a link to the request page."""
    deliver([SlackNotifier("team", sink.url + "/hooks/T0/B0/XYZ")], pending(), FAST)
    body = sink.bodies("/hooks/T0/B0/XYZ")[0]
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section", "actions",
                                                   "context"]
    assert "web-01: changed: Remove the stale files" in body["blocks"][1]["text"]["text"]
    buttons = body["blocks"][3]["elements"]
    assert [(b["type"], b["action_id"], b["style"], b["value"], b["text"]["text"])
            for b in buttons] == [("button", "approve", "primary", "rq1", "Approve"),
                                  ("button", "deny", "danger", "rq1", "Deny")]
    assert "<https://ops.example/requests/rq1|request page>" in \
        body["blocks"][4]["elements"][0]["text"]


def test_pagerduty_approval_needed_links_to_the_request_page(sink) -> None:
    """PagerDuty's approval-needed event links to the request page first, then the record;
    the resolve that follows the decision still names only the dedup key."""
    deliver([PagerDutyNotifier("pd", "K", sink.url)], pending(), FAST)
    deliver([PagerDutyNotifier("pd", "K", sink.url)], message("denied", "resolve"), FAST)
    trigger, resolve = sink.bodies()
    assert trigger["links"] == [{"href": "https://ops.example/requests/rq1",
                                 "text": "approve or deny"},
                                {"href": "https://ops.example/r/1a2b3c", "text": "audit record"}]
    assert trigger["payload"]["custom_details"]["request"] == "rq1"
    assert resolve == {"routing_key": "K", "event_action": "resolve",
                       "dedup_key": trigger["dedup_key"]}


def test_webhook_signature_verifies_with_the_secret(sink) -> None:
    """The webhook body is the record; the HMAC-SHA256 over timestamp.body verifies."""
    notifier = WebhookNotifier("hook", sink.url + "/in", "s3cret", clock=lambda: 1_700_000_000)
    deliver([notifier], message(), FAST)
    (request,) = sink.received
    body = request.json()
    assert body == {"event": "result", "record": {"id": "1a2b3c", "outcome": "succeeded"}}
    timestamp = request.headers["X-Remediator-Timestamp"]
    assert timestamp == "1700000000"
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + request.body, hashlib.sha256)
    assert request.headers["X-Remediator-Signature"] == "sha256=" + expected.hexdigest()
    assert signature("wrong", timestamp, request.body) != request.headers[
        "X-Remediator-Signature"]


def test_webhook_without_secret_is_unsigned(sink) -> None:
    """With no secret there is no signature header."""
    deliver([WebhookNotifier("hook", sink.url)], message(), FAST)
    assert "X-Remediator-Signature" not in sink.received[0].headers


def test_500_then_200_is_retried_and_sent(sink) -> None:
    """A receiver that fails once and then accepts gets the message on the second attempt."""
    sink.script(500)
    (result,) = deliver([WebhookNotifier("hook", sink.url)], message(), FAST)
    assert (result["status"], result["attempts"]) == ("sent", 2)
    assert len(sink.received) == 2


def test_a_4xx_is_not_retried(sink) -> None:
    """A 400 is final: one attempt, failed, the status in the error."""
    sink.script(400)
    (result,) = deliver([WebhookNotifier("hook", sink.url)], message(), FAST)
    assert (result["status"], result["attempts"], result["error"]) == ("failed", 1, "HTTP 400")


def test_a_receiver_that_never_answers_is_bounded(sink) -> None:
    """A hanging receiver costs at most retries x timeout, and the error hides the URL."""
    sink.script(200, 200, delay_s=3.0)
    config = NotifyConfig(timeout_s=0.3, retries=2, backoff_s=0.01)
    start = time.monotonic()
    (result,) = deliver([SlackNotifier("team", sink.url + "/hooks/SECRET-TOKEN")], message(),
                        config)
    assert time.monotonic() - start < 2.0
    assert (result["status"], result["attempts"]) == ("failed", 2)
    assert "timed out" in result["error"]
    assert "SECRET-TOKEN" not in result["error"]


def test_a_closed_port_is_a_recorded_failure() -> None:
    """Nothing listening: every attempt fails and the result says so, without raising."""
    (result,) = deliver([WebhookNotifier("hook", "http://127.0.0.1:9")], message(), FAST)
    assert result["status"] == "failed"
    assert result["error"].startswith("connection failed")


def test_log_channel_writes_the_message() -> None:
    """The log channel writes the title, lines and command to its stream."""
    stream = io.StringIO()
    deliver([LogNotifier("log", stream)], message(), FAST)
    text = stream.getvalue()
    assert "[remediator] disk-space-cleanup ran" in text
    assert "full record: remediator audit show 1a2b3c" in text


def test_chat_channels_skip_bare_resolves(sink) -> None:
    """Slack and log ignore 'resolved' messages; PagerDuty takes them."""
    stream = io.StringIO()
    results = deliver([SlackNotifier("s", sink.url), LogNotifier("l", stream),
                       PagerDutyNotifier("pd", "K", sink.url)], message("resolved", "resolve"),
                      FAST)
    assert [r["channel"] for r in results] == ["pd"]
    assert stream.getvalue() == ""


def test_secrets_come_from_the_environment() -> None:
    """*_env settings read the environment; a missing variable is a clear ConfigError."""
    config = NotifyConfig(channels={"pd": ChannelConfig("pd", "pagerduty",
                                                        {"routing_key_env": "PD_KEY"})})
    assert build(config, {"PD_KEY": "abc"})["pd"].routing_key == "abc"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="PD_KEY"):
        build(config, {})
