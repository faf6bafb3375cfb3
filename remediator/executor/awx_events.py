"""AWX job events in the collector's words: every event type AWX stores, one job or several.

AWX stores the events ansible-runner's ``awx_display`` callback emits, with the types listed in
``BasePlaybookEvent.EVENT_TYPES`` (awx/main/models/events.py at e21dd0a0). ``ResultCollector``
knows the four final per-host events; this adapter translates the rest before they reach it:

- ``runner_on_error`` ("Host Failure") is one of AWX's ``FAILED_EVENTS``: a failed task;
- ``error`` (a job-level error, no host: a playbook that does not parse, ``--limit`` leaving no
  host) is also in ``FAILED_EVENTS``: its text is kept for the record, and so is a ``verbose``
  line starting ``[ERROR]`` or ``ERROR!`` (ansible-core 2.19 prints errors raised before its
  callback loads as plain output, which ansible-runner stores as ``verbose``; recorded in
  tests/data/awx/events/syntax-error.json and no-hosts.json);
- ``runner_item_on_*``, ``runner_on_async_ok``/``_failed`` and ``runner_retry`` come before
  the task's own final event: they are kept, and used when that event's ``res`` was dropped,
  and retries are counted in the task's message;
- ``res`` larger than ``MAX_EVENT_RES_DATA`` (700,000 characters, awx/settings/defaults.py,
  handed to the callback as ``MAX_EVENT_RES`` by ``RunJob.build_env`` in
  awx/main/tasks/jobs.py) arrives as ``{}`` (ansible-runner ``EventContext.get_begin_dict``):
  the task's message says so and ``stripped`` names it;
- ``playbook_on_stats`` of several jobs (the slices of a sliced template) are summed into one
  recap, fed at ``finish``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..models import TaskResult
from ..results import ResultCollector

MAX_EVENT_RES_DATA = 700_000  # AWX's default; a larger res arrives as {}
FINAL = frozenset({"runner_on_ok", "runner_on_failed", "runner_on_skipped",
                   "runner_on_unreachable"})
ITEMS = frozenset({"runner_item_on_ok", "runner_item_on_failed", "runner_item_on_skipped"})
ASYNC = frozenset({"runner_on_async_ok", "runner_on_async_failed"})
TAIL_LINES = 60  # lines of event output kept, should the job's stdout be unreadable
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    """``text`` without ANSI colour codes and carriage returns."""
    return _ANSI.sub("", text).replace("\r", "")


class AwxEvents:
    """Feeds AWX job events to a ``ResultCollector``; call ``feed`` per event, then
    ``finish`` once every job's events are in."""

    def __init__(self, collector: ResultCollector) -> None:
        self.collector = collector
        self.errors: list[str] = []  # text of job-level ``error`` events
        self.stripped: list[str] = []  # "host: task" whose result AWX dropped
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._stats: dict[str, dict[str, int]] = {}
        self._seen_stats = False
        self._items: dict[tuple[str, str], list[tuple[bool, Mapping[str, Any]]]] = {}
        self._async: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._retries: dict[tuple[str, str], int] = {}

    def feed(self, event: Mapping[str, Any]) -> TaskResult | None:
        """Take one event; the task result it finished, if any."""
        kind = str(event.get("event", ""))
        data = event.get("event_data") or {}
        self.tail.extend(plain(str(event.get("stdout") or "")).splitlines())
        if kind == "playbook_on_stats":
            self._merge_stats(data)
            return None
        if kind in ("error", "verbose"):
            text = plain(str(event.get("stdout") or "")).strip()
            if text and (kind == "error" or text.startswith(("[ERROR]", "ERROR!"))):
                self.errors.append(text)
            return None
        key = (str(data.get("host") or ""), str(data.get("task_uuid") or
                                                event.get("parent_uuid") or ""))
        if kind in ITEMS:
            self._items.setdefault(key, []).append((kind == "runner_item_on_failed",
                                                    data.get("res") or {}))
            return None
        if kind in ASYNC:
            self._async[key] = data.get("res") or {}
            return None
        if kind == "runner_retry":
            self._retries[key] = self._retries.get(key, 0) + 1
            return None
        if kind == "runner_on_error":
            kind = "runner_on_failed"
        if kind not in FINAL:
            return self.collector.feed(event)
        res = self._result(key, data)
        return self.collector.feed({**event, "event": kind, "event_data": {**data, "res": res}})

    def finish(self) -> None:
        """Feed the recap summed over every job (none if no job ended its playbook)."""
        if self._seen_stats:
            self.collector.feed({"event": "playbook_on_stats", "event_data": self._stats})

    def _result(self, key: tuple[str, str], data: Mapping[str, Any]) -> Mapping[str, Any]:
        """The task's ``res``: rebuilt from its item or async events when AWX dropped it,
        with its retries in the message."""
        items = self._items.pop(key, [])
        late = self._async.pop(key, None)
        retries = self._retries.pop(key, 0)
        res: dict[str, Any] = dict(data.get("res") or {})
        if "res" in data and not res:  # ansible always sends keys: this one was dropped
            self.stripped.append(f"{key[0]}: {data.get('task') or '?'}")
            res = dict(late or {}) or _from_items(items)
            why = (f"AWX dropped this task's result: larger than {MAX_EVENT_RES_DATA:,} "
                   "characters (its MAX_EVENT_RES_DATA)")
            if late or items:
                why += "; rebuilt from its " + ("async" if late else "item") + " events"
            res["msg"] = f"{why}: {res['msg']}" if res.get("msg") else why
        if retries:
            note = f"after {retries} {'retry' if retries == 1 else 'retries'}"
            res["msg"] = f"{res['msg']} ({note})" if res.get("msg") else note
        return res

    def _merge_stats(self, data: Mapping[str, Any]) -> None:
        self._seen_stats = True
        for name, per_host in data.items():
            if not isinstance(per_host, Mapping):
                continue
            total = self._stats.setdefault(name, {})
            for host, count in per_host.items():
                if isinstance(count, int):
                    total[host] = total.get(host, 0) + count


def _from_items(items: list[tuple[bool, Mapping[str, Any]]]) -> dict[str, Any]:
    """A task result from its loop items' events (failed: a ``runner_item_on_failed``):
    changed if any was, each failed item's label and message."""
    if not items:
        return {}
    failed = [f"{res.get('_ansible_item_label', res.get('item', '?'))}: "
              f"{res.get('msg') or 'failed'}" for bad, res in items if bad]
    res: dict[str, Any] = {"changed": any(r.get("changed") for _, r in items),
                           "results": [dict(r) for _, r in items]}
    if failed:
        res.update(failed=True, msg=f"{len(failed)} of {len(items)} items failed: "
                   + "; ".join(failed))
    return res
