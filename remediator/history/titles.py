"""What an incident title written by Alertmanager's PagerDuty integration says.

Alertmanager's default template (prometheus/alertmanager ``template/default.tmpl``, checked at
commit 68fb2d5) makes the PagerDuty description, which PagerDuty shows as the incident title::

    {{ define "pagerduty.default.description" }}{{ template "__subject" . }}{{ end }}
    {{ define "__subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing
    | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }} {{ if gt (len
    .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove .GroupLabels.Names }}{{
    .Values | join " " }}{{ end }}){{ end }}{{ end }}

e.g. ``[FIRING:2] HighLoad (web-01:9100 node warning)``. ``SortedPairs`` (``template.go``)
puts ``alertname`` first, then the other labels sorted by name; ``Values`` of the remaining
common labels are in the same order.

What the title can tell: the status, the number of alerts firing in the group, the group
labels' values and the other common labels' values, each list in label-name order. What it
cannot: any label *name*. So:

- the alert name is the first group value, which is right whenever ``alertname`` is a group
  label (``group_by: [alertname, ...]`` or ``[...]``, the usual routes); with a route that does
  not group by ``alertname`` the first group value is another label's value, and the title says
  so nowhere;
- a value shaped ``host:port`` is taken as the ``instance`` label (node_exporter and most
  exporters' target), when exactly one value has that shape (a letter, dot or bracket before
  the port: ``12:30`` is not one);
- every other value stays a value: ``warning`` may be ``severity`` or anything else, so no
  other label is guessed, and an entry matching on such labels cannot be judged from this
  history (``simulate`` and the reports say so);
- a route with no group labels (``group_by: []``) writes no group values: the alert name is
  then the first common value (``alertname`` sorts first there too) when it is shaped like one
  (letters, digits, underscores); else the group's alerts had different names, and the title
  is no subject;
- values containing spaces cannot be told apart from two values (the template joins with
  spaces);
- a title cut short (PagerDuty keeps the first 1,024 characters of a summary) loses its closing
  parenthesis and perhaps part of its last value: it is read as far as it goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# status, count, group values, then the common values: closed, or cut short (no ")" after)
_SUBJECT = re.compile(
    r"\[(FIRING|RESOLVED)(?::(\d+))?\] +([^ (][^(]*?)?\s*(?:\((.*)\)|\(([^)]*))?\s*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # an alert name, when no group value says it
_HOST_PORT = re.compile(r"(?=[^:]*[A-Za-z.\[])[A-Za-z0-9_.\-\[\]:]*[A-Za-z0-9_.\-\]]:\d{1,5}")


@dataclass(frozen=True, slots=True)
class Subject:
    """An Alertmanager subject line, taken apart (see the module docstring)."""

    status: str  # "firing" or "resolved"
    firing: int | None  # alerts firing in the group (None for a resolved subject)
    alertname: str
    values: tuple[str, ...]  # the group values after the name, then the other common values
    instance: str | None  # the one ``host:port`` value, if exactly one


def subject(title: str) -> Subject | None:
    """The parts of ``title`` when it is an Alertmanager subject line, else None."""
    if not title.startswith("["):
        return None
    found = _SUBJECT.fullmatch(title)
    if found is None:
        return None
    status, count, group, closed, cut = found.groups()
    common = closed if closed is not None else cut
    names = [*(group or "").split(), *(common or "").split()]
    if not names or (not group and not _NAME.fullmatch(names[0])):
        return None
    values = tuple(names[1:])
    hosts = [v for v in values if _HOST_PORT.fullmatch(v)]
    return Subject(status=status.lower(), firing=int(count) if count else None,
                   alertname=names[0], values=values,
                   instance=hosts[0] if len(hosts) == 1 else None)
