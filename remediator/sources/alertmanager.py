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
    return [_fast(item) or _alert(item, _shape.at("alerts", index))
            for index, item in enumerate(items)]


_NAMES_SEEN: set[str] = set()  # label names already checked against LABEL_NAME


def _fast(item: object) -> Alert | None:
    """The Alert of a well-formed element without building error paths; None if anything is
    off, so that ``_alert`` can name the problem."""
    if type(item) is not dict:
        return None
    labels, annotations = item.get("labels"), item.get("annotations") or {}
    status, fingerprint = item.get("status"), item.get("fingerprint")
    starts, ends = item.get("startsAt"), item.get("endsAt")
    if type(labels) is not dict or type(annotations) is not dict or \
            status not in _shape.STATUSES:
        return None
    name = labels.get("alertname")
    if type(name) is not str or not name:
        return None
    for key, value in labels.items():
        if type(value) is not str:
            return None
        if key not in _NAMES_SEEN:
            if _shape.LABEL_NAME.fullmatch(key) is None:
                return None
            if len(_NAMES_SEEN) < 4096:  # a bounded cache of valid names
                _NAMES_SEEN.add(key)
    for value in annotations.values():
        if type(value) is not str:
            return None
    for value in (fingerprint, starts, ends):
        if value is not None and type(value) is not str:
            return None
    return Alert(
        source=NAME, name=name, status=status,
        fingerprint=fingerprint or _shape.fingerprint(name, labels),
        labels=frozen_map(labels), annotations=frozen_map(annotations),
        starts_at=None if starts in ("", ZERO_TIME) else starts,
        ends_at=None if ends in ("", ZERO_TIME) else ends,
    )


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
