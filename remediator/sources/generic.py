"""Generic JSON alerts: for any tool that can post JSON but is not Alertmanager or PagerDuty.

A payload is one alert object, or a JSON array of alert objects::

    {
      "name": "DiskSpaceLow",
      "status": "firing",
      "labels": {"instance": "demo-web-01:9100", "mountpoint": "/"},
      "annotations": {"summary": "Disk almost full on demo-web-01"},
      "fingerprint": "disk-demo-web-01-root",
      "starts_at": "2024-05-14T09:12:03Z"
    }

| key           | type                       | required | meaning                                  |
|---------------|----------------------------|----------|------------------------------------------|
| `name`        | string, not empty          | yes      | the alert name; catalog entries match it |
| `status`      | `"firing"` or `"resolved"` | no       | default `"firing"`; resolved runs no fix |
| `labels`      | object of string values    | no       | names match `[a-zA-Z_][a-zA-Z0-9_]*`     |
| `annotations` | object of string values    | no       | free text, e.g. `summary`, `description` |
| `fingerprint` | string                     | no       | dedupe key; default: name + labels hash  |
| `starts_at`   | string (RFC 3339 time)     | no       | when the problem started                 |

- `labels.alertname` is set to `name` when absent; when given, it must equal `name`.
- Any other key is an error that names it, so a typo (`"lables"`) never passes silently.
- The default fingerprint is the one the Alertmanager source computes for an alert without one:
  the same name and labels give the same fingerprint, whatever their order.
"""

from __future__ import annotations

from remediator.models import Alert, frozen_map
from remediator.sources import _shape

NAME = "generic"
KEYS = ("name", "status", "labels", "annotations", "fingerprint", "starts_at")
EXPECTED = 'generic JSON: an object with a string "name", or an array of such objects'


def detect(payload: object) -> bool:
    """True for an object with a string ``name``, or a non-empty array of only such objects."""
    if isinstance(payload, list):
        return bool(payload) and all(_named(item) for item in payload)
    return _named(payload)


def normalize(payload: object) -> list[Alert]:
    """One Alert per alert object; anything malformed is an error naming its path."""
    if isinstance(payload, list):
        return [_alert(item, _shape.at("", index)) for index, item in enumerate(payload)]
    return [_alert(payload, "")]


def _named(item: object) -> bool:
    """True for an object with a string ``name``."""
    return isinstance(item, dict) and isinstance(item.get("name"), str)


def _alert(item: object, path: str) -> Alert:
    """The Alert of one generic alert object."""
    raw = _shape.as_object(item, path)
    _shape.reject_unknown(raw, KEYS, path)
    name = _shape.required_str(raw, "name", path)
    labels = _shape.optional_map(raw, "labels", path, label_names=True)
    given = labels.setdefault("alertname", name)
    if given != name:
        where = _shape.at(_shape.at(path, "labels"), "alertname")
        raise _shape.wrong(where, f"the same as name ({_shape.describe(name)}) or absent", given)
    return Alert(
        source=NAME,
        name=name,
        status=_shape.status(raw.get("status", "firing"), _shape.at(path, "status")),
        fingerprint=(
            _shape.optional_str(raw, "fingerprint", path) or _shape.fingerprint(name, labels)
        ),
        labels=frozen_map(labels),
        annotations=frozen_map(_shape.optional_map(raw, "annotations", path)),
        starts_at=_shape.optional_str(raw, "starts_at", path),
    )
