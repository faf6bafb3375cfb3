"""Prometheus Alertmanager webhook payloads (version "4"): one Alert per element of ``alerts``."""

from __future__ import annotations

from collections.abc import Mapping

from remediator.models import Alert, frozen_map
from remediator.sources import _shape

NAME = "alertmanager"
VERSION = "4"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt for an alert that is still firing
EXPECTED = (
    'an Alertmanager webhook: an object with "alerts" (an array) and "version": "4" or "groupKey"'
)


def detect(payload: object) -> bool:
    """True for an object with an ``alerts`` array and ``version`` "4" or a ``groupKey``."""
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("alerts"), list)
        and (payload.get("version") == VERSION or "groupKey" in payload)
    )


def normalize(payload: object) -> list[Alert]:
    """One Alert per element of ``alerts``; anything malformed is an error naming its path."""
    body = _shape.as_object(payload, "")
    if body.get("version") != VERSION:
        raise _shape.wrong(
            "version", f'Alertmanager webhook version "{VERSION}"', body.get("version")
        )
    items = _shape.as_list(_shape.required(body, "alerts", ""), "alerts")
    return [_alert(item, _shape.at("alerts", index)) for index, item in enumerate(items)]


def _alert(item: object, path: str) -> Alert:
    """The Alert of one element of ``alerts``."""
    raw = _shape.as_object(item, path)
    labels = _shape.string_map(
        _shape.required(raw, "labels", path), _shape.at(path, "labels"), label_names=True
    )
    name = _shape.required_str(labels, "alertname", _shape.at(path, "labels"))
    annotations = _shape.optional_map(raw, "annotations", path)
    return Alert(
        source=NAME,
        name=name,
        status=_shape.status(_shape.required(raw, "status", path), _shape.at(path, "status")),
        fingerprint=(
            _shape.optional_str(raw, "fingerprint", path) or _shape.fingerprint(name, labels)
        ),
        labels=frozen_map(labels),
        annotations=frozen_map(annotations),
        starts_at=_time(raw, "startsAt", path),
        ends_at=_time(raw, "endsAt", path),
    )


def _time(raw: Mapping[str, object], key: str, path: str) -> str | None:
    """The timestamp at ``key`` as sent, or None when absent or Alertmanager's zero time."""
    value = _shape.optional_str(raw, key, path)
    return None if value in (None, "", ZERO_TIME) else value
