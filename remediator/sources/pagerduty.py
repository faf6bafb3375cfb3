"""PagerDuty V3 webhooks: incident.triggered fires, .resolved resolves, other events do nothing."""

from __future__ import annotations

from collections.abc import Mapping

from remediator.models import Alert, frozen_map
from remediator.sources import _shape

NAME = "pagerduty"
STATUS_OF_EVENT = {"incident.triggered": "firing", "incident.resolved": "resolved"}
EXPECTED = (
    'a PagerDuty V3 webhook: an object with "event", whose "event_type" starts with "incident."'
)


def detect(payload: object) -> bool:
    """True for an object whose ``event`` object has an ``event_type`` starting ``incident.``."""
    if not isinstance(payload, dict):
        return False
    event = payload.get("event")
    kind = event.get("event_type") if isinstance(event, dict) else None
    return isinstance(kind, str) and kind.startswith("incident.")


def normalize(payload: object) -> list[Alert]:
    """One Alert for a triggered or resolved incident, none for any other event."""
    event = _shape.as_object(_shape.required(_shape.as_object(payload, ""), "event", ""), "event")
    event_type = _shape.required_str(event, "event_type", "event")
    status = STATUS_OF_EVENT.get(event_type)
    if status is None:
        return []
    data = _shape.as_object(_shape.required(event, "data", "event"), "event.data")
    return [_incident(data, status, _shape.optional_str(event, "occurred_at", "event"))]


def _incident(data: Mapping[str, object], status: str, occurred_at: str | None) -> Alert:
    """The Alert of one incident object (``event.data``)."""
    path = "event.data"
    title = _shape.required_str(data, "title", path)
    incident_id = _shape.required_str(data, "id", path)
    labels = {
        "alertname": title,
        **_reference(data, "service", path, {"service": "summary", "service_id": "id"}),
        "urgency": _shape.optional_str(data, "urgency", path),
        **_reference(data, "priority", path, {"priority": "summary"}),
        "incident_key": _shape.optional_str(data, "incident_key", path),
        "incident_number": _number(data, path),
    }
    annotations = {
        "html_url": _shape.optional_str(data, "html_url", path),
        "incident_id": incident_id,
    }
    return Alert(
        source=NAME,
        name=title,
        status=status,
        fingerprint=incident_id,
        labels=frozen_map(_present(labels)),
        annotations=frozen_map(_present(annotations)),
        starts_at=_shape.optional_str(data, "created_at", path),
        ends_at=occurred_at if status == "resolved" else None,
    )


def _reference(
    data: Mapping[str, object], key: str, path: str, fields: Mapping[str, str]
) -> dict[str, str | None]:
    """Labels from the fields of a reference object such as ``service``; None when it is null."""
    value = data.get(key)
    if value is None:
        return dict.fromkeys(fields)
    where = _shape.at(path, key)
    ref = _shape.as_object(value, where)
    return {label: _shape.optional_str(ref, field, where) for label, field in fields.items()}


def _number(data: Mapping[str, object], path: str) -> str | None:
    """The incident number as a string, or None when absent."""
    value = data.get("number")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _shape.wrong(_shape.at(path, "number"), "an integer", value)
    if value.bit_length() > 256:  # str() of 4,300 digits and more raises
        raise _shape.wrong(_shape.at(path, "number"), "an integer of at most 77 digits", value)
    return str(value)


def _present(values: Mapping[str, str | None]) -> dict[str, str]:
    """``values`` without the keys whose value is None."""
    return {key: value for key, value in values.items() if value is not None}
