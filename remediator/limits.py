"""Guardrail settings: per-entry limits, maintenance windows and a small cron parser.

Parsed from the catalog (``guardrails:`` per entry) over the config's defaults; the checks that
use them live in ``guardrails.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class Window:
    """A maintenance window: a cron schedule plus a duration, or fixed start and end."""

    name: str
    cron: str | None = None
    duration_s: int = 0
    start: datetime | None = None
    end: datetime | None = None

    def active(self, now: datetime) -> datetime | None:
        """When the window ends, if ``now`` is inside it; else None."""
        if self.start is not None and self.end is not None:
            return self.end if self.start <= now < self.end else None
        if self.cron is None:
            return None
        schedule = Cron.parse(self.cron)
        minute = now.replace(second=0, microsecond=0)
        for back in range(self.duration_s // 60 + 1):
            moment = minute - timedelta(minutes=back)
            end = moment + timedelta(seconds=self.duration_s)
            if now < end and schedule.matches(moment):
                return end
        return None


@dataclass(frozen=True, slots=True)
class Guardrails:
    """Per-entry limits; the defaults are deliberately conservative."""

    throttle_host: int = 3  # runs per host per throttle window
    throttle_entry: int = 20  # runs of the entry per throttle window
    throttle_window_s: int = 3600
    cooldown_s: int = 300  # after a live run on a host, before the next run there
    max_hosts: int = 10  # blast radius: hosts per run
    max_percent: float | None = None  # ... or this share of ``group``
    group: str | None = None
    breaker_failures: int = 3  # consecutive failed live runs that open the breaker
    recurrence_host: int = 3  # live fixes per host per recurrence window before escalating
    recurrence_entry: int = 20  # ... and of the entry overall
    recurrence_window_s: int = 86400
    lock_timeout_s: int = 0  # a run unfinished this long is stale; 0 = entry timeout + 60 s
    storm_window_s: int = 0  # serve/poll: gather alerts this long into one run (0: per payload)
    maintenance: tuple[Window, ...] = ()


DEFAULT = Guardrails()

_INT_FIELDS = {
    ("throttle", "per_host"): "throttle_host", ("throttle", "per_entry"): "throttle_entry",
    ("throttle", "window"): "throttle_window_s", ("cooldown", None): "cooldown_s",
    ("blast_radius", "max_hosts"): "max_hosts", ("breaker", "failures"): "breaker_failures",
    ("recurrence", "per_host"): "recurrence_host",
    ("recurrence", "overall"): "recurrence_entry",
    ("recurrence", "window"): "recurrence_window_s", ("lock_timeout", None): "lock_timeout_s",
    ("storm", "window"): "storm_window_s",
}
KEYS = frozenset({"throttle", "cooldown", "blast_radius", "breaker", "recurrence",
                  "lock_timeout", "storm", "maintenance"})


def parse(node: Any, base: Guardrails = DEFAULT) -> tuple[Guardrails, list[tuple[str, str]]]:
    """Guardrails from a YAML mapping over ``base``; problems as (key, message) pairs."""
    problems: list[tuple[str, str]] = []
    if node is None:
        return base, problems
    if not isinstance(node, Mapping):
        return base, [("guardrails", "expected a mapping of guardrail settings")]
    values: dict[str, Any] = {}
    for key in node:
        if key not in KEYS:
            problems.append((key, f"unknown guardrail; expected one of {', '.join(sorted(KEYS))}"))
    sections: dict[str, set[str]] = {}
    for key, sub in _INT_FIELDS:
        if sub is not None and key != "blast_radius":
            sections.setdefault(key, set()).add(sub)
    for key, subs in sections.items():
        if isinstance(node.get(key), Mapping):
            unknown = set(node[key]) - subs
            if unknown:
                problems.append((key, f"unknown key(s) {', '.join(sorted(unknown))}; expected "
                                 f"{', '.join(sorted(subs))}"))
    for (key, sub), attr in _INT_FIELDS.items():
        if key not in node:
            continue
        raw = node[key] if sub is None else (node[key] or {}).get(sub) \
            if isinstance(node[key], Mapping) else None
        if sub is not None and not isinstance(node[key], Mapping):
            problems.append((key, "expected a mapping"))
            continue
        if raw is None:
            continue
        if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
            problems.append((key, f"'{sub or key}' must be a non-negative integer"))
            continue
        values[attr] = raw
    radius = node.get("blast_radius")
    if isinstance(radius, Mapping):
        unknown = set(radius) - {"max_hosts", "max_percent", "group"}
        if unknown:
            problems.append(("blast_radius", f"unknown key(s) {', '.join(sorted(unknown))}"))
        percent = radius.get("max_percent")
        if percent is not None:
            if not isinstance(percent, (int, float)) or isinstance(percent, bool) or \
                    not 0 < percent <= 100 or \
                    not isinstance(radius.get("group"), str):
                problems.append(("blast_radius", "max_percent needs 0 < value <= 100 and a "
                                 "'group' naming an inventory group"))
            else:
                values["max_percent"] = float(percent)
                values["group"] = radius["group"]
    windows = node.get("maintenance")
    if windows is not None:
        parsed, errors = _windows(windows)
        problems += [("maintenance", e) for e in errors]
        values["maintenance"] = parsed
    return replace(base, **values), problems


def _windows(node: Any) -> tuple[tuple[Window, ...], list[str]]:
    if not isinstance(node, list):
        return (), ["expected a list of {cron, duration} or {start, end} windows"]
    result, errors = [], []
    for index, item in enumerate(node):
        name = str(item.get("name", f"window {index + 1}")) if isinstance(item, Mapping) \
            else f"window {index + 1}"
        if isinstance(item, Mapping) and "cron" in item:
            duration = item.get("duration")
            try:
                Cron.parse(str(item["cron"]))
            except ValueError as exc:
                errors.append(f"{name}: {exc}")
                continue
            if not isinstance(duration, int) or duration <= 0:
                errors.append(f"{name}: 'duration' must be a positive number of seconds")
                continue
            result.append(Window(name, cron=str(item["cron"]), duration_s=duration))
        elif isinstance(item, Mapping) and "start" in item and "end" in item:
            start, end = _time(item["start"]), _time(item["end"])
            if start is None or end is None or end <= start:
                errors.append(f"{name}: 'start' and 'end' must be ISO times, start before end")
                continue
            result.append(Window(name, start=start, end=end))
        else:
            errors.append(f"{name}: expected {{cron, duration}} or {{start, end}}")
    return tuple(result), errors


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- cron --

_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


@dataclass(frozen=True, slots=True)
class Cron:
    """A five-field cron schedule (minute hour day-of-month month day-of-week), in UTC."""

    fields: tuple[frozenset[int], ...]
    dom_any: bool
    dow_any: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        """Parse ``*``, lists, ranges and steps; day-of-week 0 and 7 are Sunday."""
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(f"cron {text!r}: expected 5 fields")
        fields = []
        for part, (low, high) in zip(parts, _CRON_RANGES, strict=True):
            values: set[int] = set()
            for item in part.split(","):
                found = re.fullmatch(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?", item)
                if not found:
                    raise ValueError(f"cron {text!r}: bad field {part!r}")
                span, step = found.group(1), int(found.group(2) or 1)
                first, last = (low, high) if span == "*" else (
                    (int(span.split("-")[0]), int(span.split("-")[-1])))
                if high == 6 and last == 7:  # day-of-week 7 is Sunday, like 0
                    values.add(0)
                    if first == 7:
                        continue
                    last = 6
                if first < low or last > high or first > last or step < 1:
                    raise ValueError(f"cron {text!r}: {part!r} is out of range {low}-{high}")
                values.update(range(first, last + 1, step))
            fields.append(frozenset(values))
        return cls(tuple(fields), parts[2] == "*", parts[4] == "*")

    def matches(self, moment: datetime) -> bool:
        """True when ``moment`` (to the minute, UTC) is on the schedule."""
        moment = moment.astimezone(UTC)
        minute, hour, dom, month, dow = self.fields
        day_ok = (moment.day in dom, (moment.isoweekday() % 7) in dow)
        # cron's rule: when both day fields are restricted, either may match
        day = day_ok[0] and day_ok[1] if self.dom_any or self.dow_any else any(day_ok)
        return moment.minute in minute and moment.hour in hour and moment.month in month and day


