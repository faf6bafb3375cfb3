"""Incidents from Alertmanager webhook logs: JSON lines, one webhook payload (version 4) each.

Each payload is read by the same source as ``handle`` (``remediator.sources``). Deliveries of
one occurrence (fingerprint and startsAt) become one Incident: re-deliveries collapse, the
resolved delivery closes it at its ``endsAt``. Only open occurrences are held in memory; each
is handed out when it resolves, the ones still firing at the end of the log last.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from .. import sources
from ..errors import InputError
from ..models import Alert
from ._common import Incident, Occurrences, OnBad, Progress, host_of, moment, ticker

NAME = "alertmanager"


def read(path: Path, *, progress: Progress | None = None, on_bad: OnBad | None = None
         ) -> Iterator[Incident]:
    """The occurrences in the log at ``path``; a bad line is an InputError naming file:line,
    or is passed to ``on_bad`` and skipped."""
    tick = ticker(progress)
    occurrences = Occurrences()
    with path.open(encoding="utf-8", errors="replace") as handle:  # a stray byte: U+FFFD
        for number, line in enumerate(handle, 1):
            tick(number)
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                alerts = _alerts(line, path, number)
                changes = [(alert, _times(alert, where)) for alert in alerts]
            except InputError as exc:
                if on_bad is None:
                    raise
                on_bad(exc)
                continue
            for alert, (started, ended) in changes:
                key = (alert.fingerprint, alert.starts_at or "")

                def first(alert: Alert = alert, started: datetime = started) -> Incident:
                    return _incident(alert, started)

                if alert.firing:
                    occurrences.fire(key, first)
                    continue
                found = occurrences.resolve(key, first)
                if found is not None:
                    yield found.finish(ended)
    yield from occurrences.remaining()


def _alerts(line: str, path: Path, number: int) -> list[Alert]:
    """The alerts of one logged payload (line ``number`` of ``path``), bounded as a webhook's."""
    return sources.normalize(sources.parse_json(line, str(path), number), NAME,
                             f"{path}:{number}")


def _incident(alert: Alert, started: datetime) -> Incident:
    """The occurrence as its first delivery shows it."""
    return Incident(source=NAME, name=alert.name, fingerprint=alert.fingerprint,
                    started=started, host=host_of(alert.labels),
                    service=alert.labels.get("service"), labels=alert.labels,
                    annotations=alert.annotations)


def _times(alert: Alert, where: str) -> tuple[datetime, datetime | None]:
    """(start, end) of an alert; a resolved alert must say when it ended."""
    if not alert.starts_at:
        raise InputError(f"alert {alert.name!r} ({alert.fingerprint}) has no startsAt",
                         where=where)
    started = moment(alert.starts_at, f"{where}: startsAt")
    ended = None
    if not alert.firing:
        if not alert.ends_at:
            raise InputError(f"resolved alert {alert.name!r} ({alert.fingerprint}) has no "
                             "endsAt", where=where)
        ended = moment(alert.ends_at, f"{where}: endsAt")
    return started, ended
