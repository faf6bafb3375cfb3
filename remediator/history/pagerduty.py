"""Incidents from a PagerDuty incident export (CSV), one per row, streamed.

Column names follow PagerDuty's exports: the advanced-reporting CSV (``id``,
``incident_number``, ``description``, ``service_name``, ``escalation_policy_name``,
``created_on``, ``resolved_on``, ``seconds_to_resolve``, ``auto_resolved``,
``acknowledged_by_user_names``, ``assigned_to_user_names``, ``resolved_by_user_name``,
``urgency``, ...), the basic report (``#``, ``Service``, ``Opened On``, ``Resolved On``,
``Resolve By``) and the API's field names (``title``, ``created_at``, ``resolved_at``, ``status``,
``priority``, ``incident_key``). Headers match case-insensitively, with spaces or underscores;
unknown columns are ignored. Required: an id (``id`` or ``incident_number``), a title
(``title`` or ``description``) and the creation time.

``human`` is True when a person acknowledged or resolved the incident. PagerDuty assigns
every incident to whoever is on call, so an assignment alone says nothing, unless the export
has no acknowledgement or resolver column at all: then an assignee counts. ``host`` comes
from a ``host`` (or ``hostname``, ``instance``) column.

A title written by Alertmanager's PagerDuty integration (``[FIRING:1] HighLoad (web-01:9100
node warning)``, see ``titles.py`` for the template and what it can tell) is taken apart: the
incident's name and ``alertname`` label are the alert name, a ``host:port`` value becomes the
``instance`` label (and the host, when no column gives one), and the title, the firing count
and the other values are kept as annotations (``title``, ``firing``, ``title_values``).
The file is UTF-8 (a byte-order mark is fine); a byte that is not UTF-8 reads as U+FFFD.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path

from ..errors import InputError
from ..models import frozen_map
from ..policy import strip_port
from ._common import Incident, OnBad, Progress, moment, ticker
from .titles import subject

NAME = "pagerduty"

# field -> accepted headers (normalised: lower case, runs of other characters as "_")
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "id": ("id", "incident_id"),
    "number": ("incident_number", "number", "#"),
    "title": ("title", "incident_title", "summary"),
    "description": ("description",),
    "service": ("service_name", "service"),
    "service_id": ("service_id",),
    "urgency": ("urgency",),
    "priority": ("priority", "priority_name"),
    "status": ("status",),
    "created": ("created_on", "created_at", "created", "opened_on", "triggered_at"),
    "resolved": ("resolved_on", "resolved_at", "resolved"),
    "seconds_to_resolve": ("seconds_to_resolve",),
    "assigned": ("assigned_to_user_names", "assigned_to", "assigned", "assignees",
                 "assigned_to_user_ids"),
    "acknowledged": ("acknowledged_by_user_names", "acknowledged_by",
                     "acknowledged_by_user_ids"),
    "acknowledge_count": ("acknowledge_count",),
    "resolved_by": ("resolved_by_user_name", "resolved_by", "resolve_by",
                    "resolved_by_user_id"),
    "auto_resolved": ("auto_resolved",),
    "escalation_policy": ("escalation_policy_name", "escalation_policy"),
    "incident_key": ("incident_key",),
    "host": ("host", "hostname", "instance"),
}
# the labels an Alert from PagerDuty's webhook source carries, and the fields they come from
LABELS = (("service", "service"), ("service_id", "service_id"), ("urgency", "urgency"),
          ("priority", "priority"), ("incident_key", "incident_key"),
          ("incident_number", "number"), ("escalation_policy", "escalation_policy"),
          ("host", "host"))
_HUMAN_COLUMNS = ("acknowledged", "acknowledge_count", "resolved_by", "auto_resolved")
_NOBODY = frozenset({"", "not available", "none", "n/a", "-"})
_NON_WORD = re.compile(r"[^a-z0-9#]+")


def read(path: Path, *, progress: Progress | None = None, on_bad: OnBad | None = None
         ) -> Iterator[Incident]:
    """One Incident per row of the export at ``path``; a bad row is an InputError naming
    file:line (and column), or is passed to ``on_bad`` and skipped."""
    tick = ticker(progress)
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise InputError("empty file: expected a header row of PagerDuty export columns",
                             where=str(path))
        rows = _Rows(columns(header, f"{path}:1"))
        for count, row in enumerate(reader, 1):
            tick(count)
            if not any(row):
                continue
            try:
                yield rows.incident(row, path, reader.line_num)
            except InputError as exc:
                if on_bad is None:
                    raise
                on_bad(exc)


def columns(header: Sequence[str], where: str) -> dict[str, tuple[int, str]]:
    """Field -> (index, header as written) for the known columns; missing required columns
    are one InputError naming them all."""
    found: dict[str, tuple[int, str]] = {}
    names = {_normal(name): (number, name) for number, name in reversed(list(enumerate(header)))}
    for field, accepted in COLUMNS.items():
        for name in accepted:
            if name in names:
                found[field] = names[name]
                break
    missing = []
    if "id" not in found and "number" not in found:
        missing.append("id (or incident_number)")
    if "title" not in found and "description" not in found:
        missing.append("title (or description)")
    if "created" not in found:
        missing.append("created (or " + ", ".join(COLUMNS["created"][:-1]) + ")")
    if missing:
        shown = ", ".join(h for h in header if h.strip()) or "none"
        raise InputError(f"missing required column{'s' if len(missing) > 1 else ''}: "
                         f"{'; '.join(missing)} (the header has: {shown})", where=where)
    return found


def _normal(name: str) -> str:
    """A header as matched: ``Created On`` and ``created_on`` are the same column."""
    return _NON_WORD.sub("_", name.strip().lower()).strip("_")


class _Rows:
    """Turns rows into Incidents, with what the header fixed worked out once."""

    def __init__(self, index: Mapping[str, tuple[int, str]]) -> None:
        self.index = index
        self.fields = tuple(index)
        self.pick = itemgetter(*(at for at, _ in index.values()))  # 3 or more: a tuple
        self.width = max(at for at, _ in index.values()) + 1
        self.labels = tuple((label, field) for label, field in LABELS if field in index)
        self.human = _human_rule(index)

    def incident(self, row: Sequence[str], path: Path, line: int) -> Incident:
        """The Incident of one row (``line``: where the row ends in the file)."""
        if len(row) < self.width:
            row = [*row, *([""] * (self.width - len(row)))]
        values = dict(zip(self.fields, map(str.strip, self.pick(row)), strict=True))
        ident = values.get("id") or values.get("number")
        if not ident:
            raise InputError("the incident has no id", where=f"{path}:{line}")
        title = values.get("title") or values.get("description")
        if not title:
            raise InputError("the incident has no title or description", where=f"{path}:{line}")
        started = self._time(values, "created", path, line)
        if started is None:
            raise InputError("the incident has no creation time", where=self._cell(
                "created", path, line))
        resolved = self._time(values, "resolved", path, line)
        if resolved is None and values.get("seconds_to_resolve"):
            try:
                resolved = started + timedelta(seconds=float(values["seconds_to_resolve"]))
            except ValueError:
                raise InputError(f"{values['seconds_to_resolve']!r} is not a number of seconds",
                                 where=self._cell("seconds_to_resolve", path, line)) from None
        labels = {"alertname": title}
        for label, field in self.labels:
            if values[field]:
                labels[label] = values[field]
        annotations = {"incident_id": ident}
        if values.get("title") and values.get("description"):
            annotations["description"] = values["description"]
        name, host = title, values.get("host") or None
        parts = subject(title)
        if parts is not None:
            name = labels["alertname"] = parts.alertname
            annotations["title"] = title
            annotations["title_values"] = " ".join(parts.values)
            if parts.firing is not None:
                annotations["firing"] = str(parts.firing)
            if parts.instance is not None:
                labels["instance"] = parts.instance
                host = host or strip_port(parts.instance)
        return Incident(
            source=NAME, name=name, fingerprint=ident, started=started,
            resolved=resolved if resolved is None or resolved >= started else started,
            host=host, service=values.get("service") or None,
            labels=frozen_map(labels), annotations=frozen_map(annotations),
            human=self.human(values))

    def _time(self, values: Mapping[str, str], field: str, path: Path, line: int
              ) -> datetime | None:
        """The time in column ``field`` (None when the column is absent or empty)."""
        text = values.get(field)
        if not text:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        return moment(text, self._cell(field, path, line))  # the lenient path, or the error

    def _cell(self, field: str, path: Path, line: int) -> str:
        """file:line:column (and the column's header) of ``field`` in a row."""
        at, name = self.index[field]
        return f"{path}:{line}:{at + 1} (column {name!r})"


def _human_rule(index: Mapping[str, tuple[int, str]]) -> Callable[[Mapping[str, str]], bool | None]:
    """How this export tells whether a person acted (see the module docstring)."""
    if any(field in index for field in _HUMAN_COLUMNS):
        return _human
    if "assigned" in index:
        return lambda values: _someone(values["assigned"])
    return lambda values: None


def _human(values: Mapping[str, str]) -> bool:
    """Whether a person acknowledged or resolved the incident."""
    if _someone(values.get("acknowledged")) or _someone(values.get("resolved_by")):
        return True
    count = values.get("acknowledge_count", "")
    return count.isdigit() and int(count) > 0


def _someone(value: str | None) -> bool:
    """True when a cell names a person."""
    return value is not None and value.strip().lower() not in _NOBODY
