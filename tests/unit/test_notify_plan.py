"""Who is told what, by stage: notify.message.plan over records (pure)."""

from __future__ import annotations

import pytest

from remediator.notify.message import dedup_key, plan


def record(stage: str | None, action: str, outcome: str, *, mode: str = "live",
           alert: bool = True, reason: str = "r", request: dict | None = None) -> dict:
    """A record with just the fields plan() reads."""
    body = {
        "id": "rec1", "stage": stage, "mode": mode, "outcome": outcome,
        "initiated_by": "automation",
        "decision": {"action": action, "reason": reason, "notes": []},
        "remediation": {"name": "disk"},
        "alert": {"name": "DiskSpaceLow", "fingerprint": "fp1", "hosts": ["web-01"]}
        if alert else None,
        "hosts": {"web-01": {"tasks": [
            {"name": "Remove", "status": "changed", "changed": True, "msg": None,
             "diff": [{"before": {"path": "/c/x", "state": "file"},
                       "after": {"path": "/c/x", "state": "absent"}}]}]}},
    }
    if request:
        body["request"] = request
    return body


@pytest.mark.parametrize(("args", "expected"), [
    (("observe", "run", "succeeded"), ("would-change", "trigger", "info")),
    (("human-initiated", "pending", "succeeded"), ("approval-needed", "trigger", "warning")),
    (("oversight", "run", "succeeded"), ("result", "trigger", "info")),
    (("oversight", "run", "failed"), ("failure", "trigger", "error")),
    (("fallback", "run", "failed"), ("failure", "trigger", "error")),
    (("fallback", "run", "unreachable"), ("failure", "trigger", "error")),
    (("fallback", "escalate", "not-run"), ("failure", "trigger", "error")),
    (("observe", "escalate", "not-run"), ("failure", "trigger", "error")),
])
def test_each_stage_notifies_as_designed(args: tuple[str, str, str],
                                         expected: tuple[str, str, str]) -> None:
    """The message kind, PagerDuty action and severity follow the stage table."""
    message = plan(record(*args))
    assert message is not None
    assert (message.kind, message.event_action, message.severity) == expected


def test_fallback_success_is_silent() -> None:
    """A successful fallback run notifies nobody."""
    assert plan(record("fallback", "run", "succeeded")) is None


def test_unmatched_and_manual_success_are_silent() -> None:
    """No entry, or a person's own successful run, notifies nobody."""
    unmatched = record(None, "skip", "not-run", mode="none")
    unmatched["remediation"] = None
    assert plan(unmatched) is None
    assert plan(record("oversight", "run", "succeeded", alert=False)) is None


def test_resolved_alert_resolves_and_denial_resolves() -> None:
    """A resolved alert and a denied request both resolve the page."""
    resolved = plan(record("oversight", "skip", "not-run", mode="none",
                           reason="alert is resolved: resolved alerts never trigger a fix"))
    denied = plan(record("human-initiated", "skip", "not-run", mode="none",
                         request={"id": "p1", "state": "denied"}))
    assert resolved is not None and (resolved.kind, resolved.event_action) == (
        "resolved", "resolve")
    assert denied is not None and (denied.kind, denied.event_action) == ("denied", "resolve")


def test_approved_run_resolves_the_approval_page_under_the_same_key() -> None:
    """The approved run's message resolves the page the pending request triggered."""
    pending = plan(record("human-initiated", "pending", "succeeded", mode="check"))
    approved = plan(record("human-initiated", "run", "succeeded",
                           request={"id": "rec1", "state": "approved"}))
    assert pending is not None and approved is not None
    assert approved.event_action == "resolve"
    assert approved.dedup_key == pending.dedup_key == "remediator/disk/fp1"


def test_observe_message_carries_the_diff_and_the_record_command() -> None:
    """The observe message lists what would change and how to see the full record."""
    message = plan(record("observe", "run", "succeeded"), record_url="https://x/r/{id}")
    assert message is not None
    assert "web-01: changed: Remove" in message.lines
    assert "    /c/x: file -> absent" in message.lines
    assert message.command == "remediator audit show rec1"
    assert message.link == "https://x/r/rec1"


def test_pending_message_says_how_to_approve() -> None:
    """The approval message names the approve and deny commands."""
    message = plan(record("human-initiated", "pending", "succeeded", mode="check"))
    assert message is not None
    assert "approve: remediator approve rec1 --by NAME" in message.lines


def test_dedup_key_falls_back_to_the_record_for_manual_runs() -> None:
    """Without an alert the key is anchored on the record id."""
    assert dedup_key(record("oversight", "run", "failed", alert=False)) == "remediator/disk/rec1"


def test_a_resolved_alert_is_told_by_its_code_not_its_words() -> None:
    """The resolve message follows the reason code: reworded prose still resolves, and a skip
    of another kind whose words mention "resolved" does not."""
    reworded = record("oversight", "skip", "not-run", mode="none", reason="all clear now")
    reworded["decision"]["code"] = "resolved"
    duplicate = record("oversight", "skip", "not-run", mode="none",
                       reason="duplicate: the resolved alert again")
    duplicate["decision"]["code"] = "duplicate"
    told = plan(reworded)
    assert told is not None and (told.kind, told.event_action) == ("resolved", "resolve")
    assert plan(duplicate) is None


def test_a_pending_request_names_its_request_and_page() -> None:
    """approval-needed carries the request id (the buttons' value) and, with request_url,
    the request's page; other messages carry neither, and refusals or counted approvals of
    several tell nobody."""
    message = plan(record("human-initiated", "pending", "succeeded", mode="check"),
                   request_url="https://ops.example/requests/{id}")
    assert message is not None
    assert (message.request_id, message.request_link) == (
        "rec1", "https://ops.example/requests/rec1")
    assert "or on the request page: https://ops.example/requests/rec1" in message.lines
    assert "web-01: changed: Remove" in message.lines  # the preview: what would change
    bare = plan(record("human-initiated", "pending", "succeeded", mode="check"))
    assert bare is not None and (bare.request_id, bare.request_link) == ("rec1", None)
    result = plan(record("oversight", "run", "succeeded"),
                  request_url="https://ops.example/requests/{id}")
    assert result is not None and (result.request_id, result.request_link) == (None, None)
    for state in ("refused", "partially-approved"):
        quiet = record("human-initiated", "skip", "not-run", mode="none",
                       request={"id": "rec0", "state": state, "by": "m", "at": "t",
                                "requested_at": "t"})
        assert plan(quiet) is None
