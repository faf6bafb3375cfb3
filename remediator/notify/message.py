"""Who is told what, by stage: a pure function from an audit record to a Message (or None).

observe          always: what the automation would have changed (the diff)
human-initiated  always: the preview and the command that approves it
oversight        always: the outcome, changed hosts and tasks
fallback         only on trouble: failure, unreachable, escalation (guardrail, unknown target,
                 still firing after the fix)
approvals        the live run's result resolves (or re-triggers) the approval page
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..audit import is_trouble
from ..reasons import Reason
from ..record import Draft, entry_name, reason_code
from ..results import diff_summary
from .base import Message

MAX_DIFF_LINES = 30


def dedup_key(record: Draft, request_id: str | None = None) -> str:
    """Stable per alert and entry, so a page is triggered, acknowledged and resolved as one."""
    entry = entry_name(record) or "none"
    alert = record.get("alert")
    anchor = (alert["fingerprint"] if alert else None) or request_id or record["id"]
    return f"remediator/{entry}/{anchor}"


def _kind(record: Draft) -> tuple[str, str, str] | None:
    """(kind, event_action, severity) for this record, or None when nobody is told."""
    action, stage = record["decision"]["action"], record.get("stage")
    request = record.get("request")
    if record.get("remediation") is None:
        return None
    if action == "skip":
        if request and request["state"] == "denied":
            return "denied", "resolve", "info"
        if reason_code(record) is Reason.RESOLVED:
            return "resolved", "resolve", "info"
        return None
    if is_trouble(record):
        return "failure", "trigger", "error"
    if action == "pending":
        return "approval-needed", "trigger", "warning"
    if request:  # an approved live run that went well closes the approval page
        return "result", "resolve", "info"
    if record.get("alert") is None:  # a person ran it by hand and saw the result
        return None
    if stage == "observe":
        return "would-change", "trigger", "info"
    if stage == "oversight":
        return "result", "trigger", "info"
    return None  # fallback: silence when all is well


_SHOWN = ("changed", "failed", "unreachable")


def _diff_lines(record: Draft) -> list[str]:
    lines = []
    hidden = 0  # shown kinds of tasks a bounded record does not list
    for host, result in (record.get("hosts") or {}).items():
        hidden += sum(n for status, n in (result.get("tasks_omitted") or {}).items()
                      if status in _SHOWN)
        for task in result.get("tasks") or ():
            if task["status"] not in _SHOWN:
                continue
            lines.append(f"{host}: {task['status']}: {task['name']}"
                         + (f" ({task['msg']})" if task.get("msg") and task["status"] != "changed"
                            else ""))
            for diff in task.get("diff") or ():
                lines.append(f"    {diff_summary(diff)}")
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more lines"]
    if hidden:
        lines.append(f"... {hidden} more changed, failed or unreachable tasks, counted but "
                     "not listed in the record")
    return lines


_HEADLINE = {
    "would-change": "would fix (check mode, nothing changed)",
    "approval-needed": "needs approval",
    "result": "ran",
    "failure": "needs a person",
    "resolved": "alert resolved",
    "denied": "request denied",
}


def plan(record: Draft, *, record_url: str | None = None,
         request_url: str | None = None) -> Message | None:
    """The message this record calls for under its stage, or None. An approval-needed one
    names its request (for buttons) and the request's page when ``request_url`` is set."""
    kind = _kind(record)
    if kind is None:
        return None
    name, action, severity = kind
    alert: Mapping[str, Any] = record.get("alert") or {}
    entry = entry_name(record) or ""
    hosts = list(alert.get("hosts") or record.get("hosts") or [])
    request = record.get("request")
    title = f"[remediator] {entry} {_HEADLINE[name]}: {alert.get('name') or 'manual run'}" + (
        f" on {', '.join(hosts)}" if hosts else "")
    lines = [f"decision: {record['decision']['action']}: {record['decision']['reason']}",
             f"outcome: {record['outcome']}"]
    lines += [f"note: {note}" for note in record["decision"].get("notes") or ()]
    lines += _diff_lines(record)
    asked = record["id"] if name == "approval-needed" else None
    page = request_url.format(id=asked) if asked and request_url else None
    if asked:
        lines.append(f"approve: remediator approve {asked} --by NAME")
        lines.append(f"deny:    remediator deny {asked} --by NAME")
        if page:
            lines.append(f"or on the request page: {page}")
    fields = {"entry": entry, "alert": str(alert.get("name") or ""),
              "stage": str(record.get("stage") or ""), "mode": record["mode"],
              "outcome": record["outcome"], "hosts": ", ".join(hosts),
              "initiated_by": str(record.get("initiated_by") or "")}
    return Message(
        kind=name, event_action=action, severity=severity, title=title, lines=tuple(lines),
        fields=fields, dedup_key=dedup_key(record, request["id"] if request else None),
        source=hosts[0] if hosts else "remediator",
        command=f"remediator audit show {record['id']}",
        link=record_url.format(id=record["id"]) if record_url else None,
        record={k: v for k, v in record.items() if k not in ("notifications", "hash")},
        request_id=asked, request_link=page,
    )
