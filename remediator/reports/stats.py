"""Building blocks the reports share: compact duration samples with exact medians, the per-type
tally of occurrences, catalog matching on bare labels, ISO weeks and display formats."""

from __future__ import annotations

import statistics
from array import array
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from ..history import Incident
from ..models import Remediation

RUNBOOK_ANNOTATIONS = ("runbook_url", "runbook", "runbook_link")


class Durations:
    """Seconds, 8 bytes each (``array('d')``); the exact median is taken once, at the end."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values = array("d")

    def add(self, seconds: float) -> None:
        """Add one sample; a negative one (clock skew in the source) counts as zero."""
        self.values.append(seconds if seconds > 0 else 0.0)

    def __len__(self) -> int:
        return len(self.values)

    def median(self) -> float | None:
        """The exact median, or None without samples."""
        return statistics.median(self.values) if self.values else None


class Tally:
    """What every report counts for one alert type: volume, resolution and human action.

    ``no_human`` / ``human_known`` is the share resolved with no person acting (incidents whose
    source cannot tell are left out of both); ``quick`` counts those resolved within
    ``quick_s`` seconds of firing.
    """

    __slots__ = ("acted", "handled", "human_known", "no_human", "open", "quick", "quick_s",
                 "to_resolve", "told", "volume")

    def __init__(self, quick_s: float) -> None:
        self.quick_s = quick_s
        self.volume = 0
        self.open = 0
        self.quick = 0
        self.human_known = 0
        self.no_human = 0
        self.told = 0  # occurrences whose source tells whether a person acted
        self.acted = 0  # occurrences a person acted on
        self.to_resolve = Durations()  # every resolved occurrence
        self.handled = Durations()  # resolved occurrences a person acted on

    def add(self, incident: Incident) -> float | None:
        """Count one occurrence; its time to resolve in seconds (None while open)."""
        self.volume += 1
        if incident.human is not None:
            self.told += 1
            self.acted += incident.human
        if incident.resolved is None:
            self.open += 1
            return None
        seconds = (incident.resolved - incident.started).total_seconds()
        self.to_resolve.add(seconds)
        if seconds <= self.quick_s:
            self.quick += 1
        if incident.human is not None:
            self.human_known += 1
            if incident.human:
                self.handled.add(seconds)
            else:
                self.no_human += 1
        return seconds

    @property
    def resolved(self) -> int:
        """Occurrences that resolved within the history."""
        return len(self.to_resolve)

    def no_human_share(self) -> float | None:
        """Share of resolved occurrences (with a known answer) that no person acted on."""
        return ratio(self.no_human, self.human_known)

    def quick_share(self) -> float | None:
        """Share of resolved occurrences that resolved within ``quick_s``."""
        return ratio(self.quick, self.resolved)


def ratio(part: float, whole: float) -> float | None:
    """part / whole, or None when whole is zero."""
    return part / whole if whole else None


def match_entry(entries: Sequence[Remediation], name: str, labels: Mapping[str, str]
                ) -> Remediation | None:
    """The first catalog entry matching an alert known only by its name and labels."""
    if labels.get("alertname") != name:
        labels = {**labels, "alertname": name}
    for entry in entries:
        if all(matcher.matches(labels) for matcher in entry.matchers):
            return entry
    return None


def runbook_of(annotations: Mapping[str, str]) -> str | None:
    """The runbook an alert points to (``runbook_url``, ``runbook`` or ``runbook_link``)."""
    for key in RUNBOOK_ANNOTATIONS:
        if annotations.get(key):
            return annotations[key]
    return None


def iso_week(moment: datetime) -> str:
    """The ISO week of a moment (UTC), e.g. ``2026-W02``."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(label: str) -> date:
    """The Monday of an ISO week label."""
    year, week = label.split("-W")
    return date.fromisocalendar(int(year), int(week), 1)


def weeks_between(first: str, last: str) -> list[str]:
    """Every ISO week label from ``first`` to ``last``, both included."""
    day, end = week_start(first), week_start(last)
    labels = []
    while day <= end:
        labels.append(iso_week(datetime(day.year, day.month, day.day, tzinfo=UTC)))
        day += timedelta(days=7)
    return labels


def stamp(moment: datetime) -> str:
    """A report timestamp: ISO 8601, UTC, whole seconds."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def seconds_text(seconds: float | None) -> str:
    """A duration for people: ``45s``, ``12m``, ``3h 05m``, ``2d 04h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def pct_text(share: float | None) -> str:
    """A share for people: ``62%``; ``-`` when unknown."""
    return "-" if share is None else f"{100 * share:.0f}%"


def rounded(value: float | None, digits: int = 1) -> float | None:
    """``value`` rounded for JSON, None kept."""
    return None if value is None else round(value, digits)
