"""Runner events -> per-host, per-task results; fed one event at a time, never all in memory."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .models import HostResult, Outcome, RunnerStatus, TaskResult

MAX_TEXT = 4096  # characters kept of one message or one side of a diff
MAX_DIFFS = 50  # diffs kept per task (a loop over many files)

_STATUS_BY_EVENT = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


def _clip(value: Any) -> Any:
    """Strings longer than MAX_TEXT cut short with a marker; other values unchanged."""
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT] + f"... [{len(value) - MAX_TEXT} more characters]"
    return value


def _one_diff(diff: Any) -> list[dict[str, Any]]:
    """Normalise one ``diff`` value (a dict or a list of dicts) into a list of clipped dicts."""
    items = diff if isinstance(diff, list) else [diff]
    result = []
    for item in items:
        if isinstance(item, Mapping) and item:
            result.append({k: _clip(v) for k, v in item.items() if k != "prepared" or v})
    return result


def diffs_of(res: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """Every diff in a task result, loop items included; None when there is none."""
    found = _one_diff(res.get("diff"))
    for item in res.get("results") or ():
        if isinstance(item, Mapping) and item.get("changed"):
            found.extend(_one_diff(item.get("diff")))
    return found[:MAX_DIFFS] or None


def message_of(res: Mapping[str, Any]) -> str | None:
    """The task's message, with stderr for failures; hidden output stays hidden."""
    if res.get("censored"):
        return str(res["censored"])
    parts = []
    msg = res.get("msg")
    if msg:
        parts.append(msg if isinstance(msg, str) else str(msg))
    stderr = res.get("stderr")
    if res.get("failed") and isinstance(stderr, str) and stderr.strip():
        parts.append(f"stderr: {stderr.strip()}")
    return _clip("; ".join(parts)) if parts else None


@dataclass
class _HostState:
    tasks: list[TaskResult] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("ok", "changed", "failed", "unreachable", "skipped"), 0))


class ResultCollector:
    """Streams runner events into per-host results; call ``feed`` per event, then ``hosts``."""

    def __init__(self) -> None:
        self._hosts: dict[str, _HostState] = {}
        self._stats: Mapping[str, Mapping[str, int]] | None = None

    def feed(self, event: Mapping[str, Any]) -> TaskResult | None:
        """Take one event; returns the task result it finished, if any."""
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_stats":
            self._stats = {k: v for k, v in data.items() if isinstance(v, Mapping)}
            return None
        status = _STATUS_BY_EVENT.get(kind)
        host = data.get("host")
        if status is None or not host:
            return None
        res = data.get("res") or {}
        changed = bool(res.get("changed")) and status == "ok"
        if status == "failed" and data.get("ignore_errors"):
            status = "ignored"
        elif changed:
            status = "changed"
        task = TaskResult(
            name=str(data.get("task") or data.get("task_action") or "?"),
            action=str(data.get("task_action") or res.get("_ansible_action") or ""),
            status=status,
            changed=changed,
            diff=None if res.get("censored") else diffs_of(res),
            msg=message_of(res),
        )
        state = self._hosts.setdefault(host, _HostState())
        state.tasks.append(task)
        counts = state.counts
        counts[{"ignored": "ok"}.get(status, "ok" if status == "changed" else status)] += 1
        counts["changed"] += int(changed)
        return task

    def hosts(self, targets: Iterable[str] = ()) -> dict[str, HostResult]:
        """Per-host results; hosts targeted but never reached appear with no tasks."""
        names = list(self._hosts) + [t for t in targets if t not in self._hosts]
        return {name: self._host(name) for name in names}

    def _host(self, name: str) -> HostResult:
        state = self._hosts.get(name, _HostState())
        counts = dict(state.counts)
        if self._stats is not None:  # ansible's own recap is the authority on counters
            counts = {
                "ok": self._stats.get("ok", {}).get(name, 0),
                "changed": self._stats.get("changed", {}).get(name, 0),
                "failed": self._stats.get("failures", {}).get(name, 0),
                "unreachable": self._stats.get("dark", {}).get(name, 0),
                "skipped": self._stats.get("skipped", {}).get(name, 0),
            }
        return HostResult(tasks=tuple(state.tasks), **counts)


def outcome_of(status: RunnerStatus, hosts: Mapping[str, HostResult],
               targets: Iterable[str]) -> Outcome:
    """The run's outcome: failed beats unreachable beats succeeded; unreached targets fail.

    A cancelled run (the server shutting down) is interrupted: it may have partly applied.
    """
    if status is RunnerStatus.CANCELED:
        return Outcome.INTERRUPTED
    if any(h.failed for h in hosts.values()):
        return Outcome.FAILED
    if any(h.unreachable for h in hosts.values()):
        return Outcome.UNREACHABLE
    if status is not RunnerStatus.SUCCESSFUL:
        return Outcome.FAILED
    if any(not hosts.get(t, HostResult()).tasks for t in targets):
        return Outcome.FAILED
    return Outcome.SUCCEEDED


def diff_summary(diff: Mapping[str, Any]) -> str:
    """One line for one diff: ``path: file -> absent``, or ``header: changed``."""
    before, after = diff.get("before"), diff.get("after")
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        path = after.get("path") or before.get("path") or ""
        return f"{path}: {before.get('state')} -> {after.get('state')}"
    header = diff.get("after_header") or diff.get("before_header") or "content"
    return f"{header}: changed"
