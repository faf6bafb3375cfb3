"""Runner events -> per-host, per-task results; fed one event at a time, never all in memory."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .models import HostResult, Outcome, RunnerStatus, TaskResult, frozen_map

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


MAX_TASKS = 2000  # task entries listed per run (so per audit record)
MAX_ROUTINE_PER_HOST = 100  # ok and skipped task entries listed per host

# Which tasks a bounded record keeps first: failed and unreachable ones, then changed and
# ignored ones, then the routine rest (ok, skipped).
_RANK = {"failed": 2, "unreachable": 2, "changed": 1, "ignored": 1, "ok": 0, "skipped": 0}
_COUNTER = {"ok": "ok", "changed": "ok", "ignored": "ok", "failed": "failed",
            "skipped": "skipped", "unreachable": "unreachable"}


@dataclass(slots=True)
class _HostState:
    tasks: list[TaskResult | None] = field(default_factory=list)  # None: listed, then dropped
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("ok", "changed", "failed", "unreachable", "skipped"), 0))
    omitted: dict[str, int] = field(default_factory=dict)  # by status
    routine: int = 0  # ok/skipped entries listed so far

    def omit(self, status: str) -> None:
        self.omitted[status] = self.omitted.get(status, 0) + 1


class ResultCollector:
    """Streams runner events into per-host results; call ``feed`` per event, then ``hosts``.

    Counters are exact however long the run. Task entries are bounded, so that the collector's
    memory and the audit record stay flat as a run grows: at most ``max_tasks`` in all, of which
    at most ``max_routine_per_host`` ok/skipped ones per host. A full collector makes room for a
    failed or unreachable task by dropping the newest ok/skipped entry (else the newest changed
    or ignored one), and for a changed or ignored task by dropping the newest ok/skipped one;
    every task not listed is counted in its host's ``omitted``. The runner's artifacts keep
    every event.
    """

    def __init__(self, max_tasks: int = MAX_TASKS,
                 max_routine_per_host: int = MAX_ROUTINE_PER_HOST) -> None:
        self.max_tasks = max_tasks
        self.max_routine_per_host = max_routine_per_host
        self._hosts: dict[str, _HostState] = {}
        self._stats: Mapping[str, Mapping[str, int]] | None = None
        self._listed = 0
        # listed entries that may make room, newest last, for rank 0 and rank 1
        self._droppable: tuple[list[tuple[_HostState, int, str]], ...] = ([], [])
        self._play: tuple[str, str] | None = None  # the current play: (name, hosts pattern)
        self.unmatched: list[tuple[str, str]] = []  # plays whose pattern matched no target

    @property
    def touched(self) -> bool:
        """True once any task reported for any host."""
        return bool(self._hosts)

    def feed(self, event: Mapping[str, Any]) -> TaskResult | None:
        """Take one event; returns the task result it finished, if any (for a task the
        record will not list, without its diff and message)."""
        kind = event.get("event", "")
        status = _STATUS_BY_EVENT.get(kind)
        if status is None:
            if kind == "playbook_on_play_start":
                data = event.get("event_data") or {}
                self._play = (str(data.get("play") or data.get("name") or "?"),
                              str(data.get("play_pattern") or "?"))
            elif kind == "playbook_on_no_hosts_matched" and self._play is not None:
                self.unmatched.append(self._play)
            elif kind == "playbook_on_stats":
                data = event.get("event_data") or {}
                self._stats = {k: v for k, v in data.items() if isinstance(v, Mapping)}
            return None
        data = event.get("event_data") or {}
        host = data.get("host")
        if not host:
            return None
        res = data.get("res") or {}
        changed = status == "ok" and bool(res.get("changed"))
        if status == "failed" and data.get("ignore_errors"):
            status = "ignored"
        elif changed:
            status = "changed"
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _HostState()
        state.counts[_COUNTER[status]] += 1
        state.counts["changed"] += changed
        name = str(data.get("task") or data.get("task_action") or "?")
        action = str(data.get("task_action") or res.get("_ansible_action") or "")
        rank = _RANK[status]
        if not self._room(state, rank):
            state.omit(status)
            return TaskResult(name=name, action=action, status=status, changed=changed)
        task = TaskResult(name=name, action=action, status=status, changed=changed,
                          diff=None if res.get("censored") else diffs_of(res),
                          msg=message_of(res))
        state.tasks.append(task)
        self._listed += 1
        if rank < 2:
            self._droppable[rank].append((state, len(state.tasks) - 1, status))
        if rank == 0:
            state.routine += 1
        return task

    def _room(self, state: _HostState, rank: int) -> bool:
        """True when a task of ``rank`` for ``state`` may be listed, after dropping a
        lower-ranked entry if the run is full."""
        if rank == 0 and state.routine >= self.max_routine_per_host:
            return False
        if self._listed < self.max_tasks:
            return True
        for lower in range(rank):
            if self._droppable[lower]:
                owner, index, dropped = self._droppable[lower].pop()
                owner.tasks[index] = None
                owner.omit(dropped)
                self._listed -= 1
                return True
        return False

    def hosts(self, targets: Iterable[str] = ()) -> dict[str, HostResult]:
        """Per-host results; hosts targeted but never reached appear with no tasks."""
        names = list(self._hosts) + [t for t in targets if t not in self._hosts]
        return {name: self._host(name) for name in names}

    def _host(self, name: str) -> HostResult:
        state = self._hosts.get(name) or _HostState()
        counts = dict(state.counts)
        if self._stats is not None:  # ansible's own recap is the authority on counters
            counts = {
                "ok": self._stats.get("ok", {}).get(name, 0),
                "changed": self._stats.get("changed", {}).get(name, 0),
                "failed": self._stats.get("failures", {}).get(name, 0),
                "unreachable": self._stats.get("dark", {}).get(name, 0),
                "skipped": self._stats.get("skipped", {}).get(name, 0),
            }
        tasks = tuple(t for t in state.tasks if t is not None)
        return HostResult(tasks=tasks, omitted=frozen_map(state.omitted), **counts)


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
    if any(not hosts.get(t, HostResult()).reached for t in targets):
        return Outcome.FAILED
    return Outcome.SUCCEEDED


SETUP_CAUSES = (  # (kind, words in ansible's error output), first match wins
    ("vault", ("vault secrets", "decryption failed", "vault password", "vault-id")),
    ("missing-role", ("the role '",)),
    ("missing-collection", ("couldn't resolve module/action", "unable to find collection",
                            "could not load \"", "no filter named", "no test named",
                            "lookup plugin")),
    ("syntax", ("syntax error", "yaml", "is not a valid attribute", "conflicting action",
                "no such file or directory", "could not find or access")),
)


def setup_failure(collector: ResultCollector, status: RunnerStatus, error: str | None,
                  targets: Iterable[str]) -> tuple[str, str] | None:
    """(kind, plain words) when a run stopped before any task ran on any host: a playbook
    that does not parse, a role, collection or vault password that is missing, or a target
    outside every play's ``hosts:``. None when a host was touched (or the run was cancelled)."""
    if collector.touched or status is RunnerStatus.CANCELED:
        return None
    if collector.unmatched:
        names = ", ".join(targets)
        plays = "; ".join(f"play '{name}' (hosts: {pattern})"
                          for name, pattern in collector.unmatched)
        return ("no-hosts-matched", f"no host matched: {names} is not in the hosts of {plays}; "
                "the playbook ran no task (fix the play's hosts: pattern or the entry)")
    if status is RunnerStatus.SUCCESSFUL:
        return None
    text = (error or "").lower()
    detail = _error_line(error)
    for kind, words in SETUP_CAUSES:
        if any(word in text for word in words):
            return kind, f"{_SETUP_WORDS[kind]}: {detail}"
    if status is RunnerStatus.TIMEOUT:
        return None
    return "setup", f"the playbook stopped before touching any host: {detail}"


_SETUP_WORDS = {
    "vault": "a vaulted file could not be decrypted",
    "missing-role": "a role the playbook uses is not installed",
    "missing-collection": "a collection the playbook uses is not installed",
    "syntax": "the playbook does not parse",
}


def failure_summary(hosts: Mapping[str, HostResult], outcome: Outcome, error: str | None
                    ) -> str | None:
    """One line saying why a run did not succeed: the first failing task with its host and
    message, else the first line of the run's error (ansible's own ``ERROR`` line, or the
    plain words of a setup failure). None for a successful run."""
    if outcome is Outcome.SUCCEEDED:
        return None
    for host, result in hosts.items():
        for task in result.tasks:
            if task.status in ("failed", "unreachable"):
                message = " ".join((task.msg or "no message").split())
                return _short(f"{host}: task '{task.name}' {task.status}: {message}")
    if error:  # plain words (a setup failure) or ansible's ERROR line come first
        first = next((line.strip() for line in error.splitlines() if line.strip()), "")
        return _short(first if not first.startswith("/") else _error_line(error))
    return None


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error_line(error: str | None) -> str:
    """The first ``ERROR``/``[ERROR]`` line of ansible's output, else its last line."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("ERROR!", "[ERROR]")):
            return line
    return lines[-1] if lines else "no output"


def diff_summary(diff: Mapping[str, Any]) -> str:
    """One line for one diff: ``path: file -> absent``, or ``header: changed``."""
    before, after = diff.get("before"), diff.get("after")
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        path = after.get("path") or before.get("path") or ""
        return f"{path}: {before.get('state')} -> {after.get('state')}"
    header = diff.get("after_header") or diff.get("before_header") or "content"
    return f"{header}: changed"
