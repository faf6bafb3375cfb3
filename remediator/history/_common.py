"""What the history readers share: the Incident, strict times, the host of an alert, and
occurrence pairing.

An occurrence is one (fingerprint, start) pair. Readers see its deliveries (firing, resolved,
re-deliveries) spread over the input; ``Occurrences`` holds only the open ones and hands each
one out once, when it resolves, so memory is bounded by the alerts open at the same time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ..errors import InputError
from ..models import frozen_map
from ..policy import strip_port


@dataclass(frozen=True, slots=True)
class Incident:
    """One occurrence of an alert: when it fired, when (if) it resolved, and who acted."""

    source: str  # "store" | "pagerduty" | "alertmanager"
    name: str  # the alert type: alertname, or the PagerDuty incident title
    fingerprint: str  # the alert's identity; (fingerprint, started) is one occurrence
    started: datetime  # timezone-aware (UTC)
    resolved: datetime | None = None  # None: still open when the history ends
    host: str | None = None  # the target (instance without its port), when known
    service: str | None = None
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    annotations: Mapping[str, str] = field(default_factory=frozen_map)
    human: bool | None = None  # a person acted (assigned, acknowledged, ran a fix); None: unknown
    automated: bool | None = None  # remediator ran a fix for it (store history); None: unknown


OnBad = Callable[[InputError], None]  # receives a bad row or line that is then skipped
Progress = Callable[[int], None]  # receives the number of rows (lines, records) read so far
PROGRESS_EVERY = 50_000  # rows between two progress calls
CLOSED_KEPT = 16_384  # recently resolved occurrences remembered, to drop their re-deliveries
_UTC_SUFFIXES = (" UTC", " GMT", " Z")


def moment(text: str, where: str) -> datetime:
    """An aware UTC datetime from ISO 8601 with an offset (``Z`` and ``... UTC`` accepted).

    A time without an offset is an error: exports carry the account's time zone, and guessing
    it would shift every hour-of-day figure.
    """
    value = text.strip()
    for suffix in _UTC_SUFFIXES:
        if value.endswith(suffix):
            value = value[: -len(suffix)] + "+00:00"
            break
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{text!r} is not a time: expected ISO 8601 with a UTC offset, e.g. "
                         "2026-01-05T12:00:00+00:00", where=where) from None
    if parsed.tzinfo is None:
        raise InputError(f"{text!r} has no UTC offset: add one (e.g. +00:00 or Z)",
                         where=where)
    return parsed.astimezone(UTC)


def host_of(labels: Mapping[str, str]) -> str | None:
    """The host an alert names: its ``instance`` label without the port, else ``host``."""
    instance = labels.get("instance")
    if instance:
        return strip_port(instance)
    return labels.get("host") or None


def ticker(progress: Progress | None) -> Callable[[int], None]:
    """A per-row callback that calls ``progress`` every PROGRESS_EVERY rows."""
    if progress is None:
        return _nothing

    def tick(count: int) -> None:
        if count % PROGRESS_EVERY == 0:
            progress(count)

    return tick


def _nothing(count: int) -> None:
    """No progress wanted."""


@dataclass(slots=True)
class Open:
    """An occurrence seen firing and not yet resolved, with what is known about it so far."""

    incident: Incident
    human: bool | None = None
    automated: bool | None = None

    def finish(self, resolved: datetime | None) -> Incident:
        """The Incident, resolved at ``resolved`` (never before it started)."""
        if resolved is not None and resolved < self.incident.started:
            resolved = self.incident.started
        return replace(self.incident, resolved=resolved, human=self.human,
                       automated=self.automated)

    @staticmethod
    def of(incident: Incident) -> Open:
        """An open occurrence that starts from what ``incident`` says."""
        return Open(incident, incident.human, incident.automated)


class Occurrences:
    """Open occurrences by (fingerprint, start); each is handed out once.

    Resolved occurrences are remembered (the last CLOSED_KEPT of them) so that a late
    re-delivery of one does not open it again. Occurrences without a start time are never
    remembered: their next firing is a new occurrence.
    """

    def __init__(self, kept: int = CLOSED_KEPT) -> None:
        self._open: dict[tuple[str, str], Open] = {}
        self._closed: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._kept = kept

    def __len__(self) -> int:
        return len(self._open)

    def fire(self, key: tuple[str, str], incident: Callable[[], Incident]) -> Open | None:
        """The open occurrence for ``key`` (opened with ``incident()`` if new); None if it
        already resolved."""
        found = self._open.get(key)
        if found is not None:
            return found
        if key in self._closed:
            return None
        found = self._open[key] = Open.of(incident())
        return found

    def resolve(self, key: tuple[str, str], incident: Callable[[], Incident]) -> Open | None:
        """Close ``key`` and return it, to update and ``finish``; None if it already resolved.

        The resolution of an occurrence never seen firing (the history began after it
        started) opens and closes it at once.
        """
        found = self._open.pop(key, None)
        if found is None:
            if key in self._closed:
                return None
            found = Open.of(incident())
        if key[1]:
            self._closed[key] = None
            if len(self._closed) > self._kept:
                self._closed.popitem(last=False)
        return found

    def remaining(self) -> Iterator[Incident]:
        """The occurrences still open at the end of the input, oldest first, unresolved."""
        for found in sorted(self._open.values(), key=lambda o: o.incident.started):
            yield found.finish(None)
        self._open.clear()
