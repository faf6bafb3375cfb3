"""Alert sources, tested from recorded payloads under tests/data/payloads."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from remediator.errors import InputError
from remediator.sources import SOURCES, detect, normalize, parse_json

PAYLOADS = Path(__file__).resolve().parent.parent / "data" / "payloads"


def load(name: str) -> Any:
    """The parsed payload recorded in ``name``."""
    return parse_json((PAYLOADS / name).read_text(encoding="utf-8"), name)


def failure(payload: object, source: str = "auto", origin: str = "payload.json") -> InputError:
    """The InputError that normalising ``payload`` raises."""
    with pytest.raises(InputError) as caught:
        normalize(payload, source, origin)
    return caught.value


# parse_json


def test_parse_json_returns_the_payload() -> None:
    """A recorded webhook parses to its top-level object."""
    payload = load("alertmanager-disk-firing.json")
    assert payload["version"] == "4"
    assert len(payload["alerts"]) == 2


def test_parse_json_names_line_and_column_of_bad_json() -> None:
    """Invalid JSON is an InputError located at origin:line:col."""
    text = (PAYLOADS / "not-json.txt").read_text(encoding="utf-8")
    with pytest.raises(InputError) as caught:
        parse_json(text, "not-json.txt")
    assert caught.value.where == "not-json.txt:5:3"
    assert caught.value.message.startswith("not valid JSON: Expecting property name")
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("text", ["42", '"firing"', "null", "true"])
def test_parse_json_rejects_a_scalar_top_level(text: str) -> None:
    """Valid JSON that is neither an object nor an array is rejected."""
    with pytest.raises(InputError, match="expected a JSON object or array") as caught:
        parse_json(text, "stdin")
    assert caught.value.where == "stdin"


# detection


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("alertmanager-disk-firing.json", "alertmanager"),
        ("alertmanager-disk-resolved.json", "alertmanager"),
        ("alertmanager-v3.json", "alertmanager"),
        ("pagerduty-triggered.json", "pagerduty"),
        ("pagerduty-resolved.json", "pagerduty"),
        ("pagerduty-acknowledged.json", "pagerduty"),
        ("generic-one.json", "generic"),
        ("generic-list.json", "generic"),
        ("generic-unknown-key.json", "generic"),
    ],
)
def test_detect_picks_the_source_that_sent_the_payload(name: str, source: str) -> None:
    """Each recorded payload is recognised as coming from its own source."""
    assert detect(load(name)) == source


def test_detect_tries_alertmanager_before_generic() -> None:
    """A payload that fits several sources goes to the first in the registry order."""
    payload = {"name": "DiskSpaceLow", "version": "4", "alerts": []}
    assert list(SOURCES) == ["alertmanager", "pagerduty", "generic"]
    assert detect(payload) == "alertmanager"


@pytest.mark.parametrize("payload", [[], [{"name": "A"}, {"title": "B"}], {"name": 3}])
def test_generic_detect_needs_every_item_named(payload: object) -> None:
    """An empty list, a list with an unnamed item, or a non-string name is not generic."""
    assert SOURCES["generic"].detect(payload) is False


def test_unknown_shape_lists_what_each_source_expects() -> None:
    """A payload that fits no source names every source and the shape it expects."""
    with pytest.raises(InputError) as caught:
        detect(load("unknown-shape.json"), "unknown-shape.json")
    error = caught.value
    assert error.where == "unknown-shape.json"
    assert error.message.startswith("payload fits no alert source")
    for source in SOURCES.values():
        assert f"{source.name}: {source.expected}" in error.message


def test_unknown_shape_through_normalize_names_the_origin() -> None:
    """Auto-detection failing inside normalize reports the origin it was given."""
    error = failure(load("unknown-shape.json"), origin="-")
    assert error.where == "-"
    assert "pagerduty" in error.message


def test_unknown_source_name_lists_the_valid_ones() -> None:
    """Asking for a source that does not exist names the ones that do."""
    error = failure(load("generic-one.json"), source="nagios")
    assert error.message == (
        'unknown alert source "nagios"; valid sources are auto, alertmanager, pagerduty, generic'
    )


def test_explicit_source_overrides_detection() -> None:
    """A payload read by a source it does not fit fails with that source's path-naming error."""
    error = failure(load("pagerduty-triggered.json"), source="generic", origin="pd.json")
    assert error.where == "pd.json"
    assert error.message.startswith('top level: unknown key(s) "event"')


# Alertmanager


def test_alertmanager_firing_gives_one_alert_per_element() -> None:
    """A firing group of two becomes two firing Alerts with labels, annotations and times."""
    first, second = normalize(load("alertmanager-disk-firing.json"))
    assert first.source == "alertmanager"
    assert first.name == "DiskSpaceLow"
    assert first.status == "firing"
    assert first.firing
    assert dict(first.labels) == {
        "alertname": "DiskSpaceLow",
        "instance": "demo-web-01:9100",
        "job": "node",
        "mountpoint": "/",
        "severity": "warning",
    }
    assert first.annotations["summary"] == "Disk space low on demo-web-01:9100"
    assert set(first.annotations) == {"summary", "description"}
    assert first.fingerprint == "a3f1c2d4e5b60718"
    assert first.starts_at == "2024-05-14T09:12:03.512Z"
    assert second.labels["instance"] == "demo-web-02:9100"
    assert second.fingerprint == "5b0e9d3c7a214f86"


def test_alertmanager_zero_ends_at_is_none() -> None:
    """Alertmanager's 0001-01-01 endsAt of a firing alert is stored as None."""
    payload = load("alertmanager-disk-firing.json")
    assert payload["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert [alert.ends_at for alert in normalize(payload)] == [None, None]


def test_alertmanager_resolved() -> None:
    """A resolved alert keeps its status and its real endsAt."""
    (alert,) = normalize(load("alertmanager-disk-resolved.json"))
    assert alert.status == "resolved"
    assert not alert.firing
    assert alert.ends_at == "2024-05-14T09:31:48.512Z"


def test_alertmanager_labels_are_read_only() -> None:
    """The labels of a normalised Alert cannot be changed after the edge."""
    (alert, _) = normalize(load("alertmanager-disk-firing.json"))
    with pytest.raises(TypeError):
        alert.labels["instance"] = "elsewhere"  # type: ignore[index]


def test_alertmanager_wrong_version() -> None:
    """A webhook version other than "4" is rejected with the version it expects."""
    error = failure(load("alertmanager-v3.json"), origin="alertmanager-v3.json")
    assert error.where == "alertmanager-v3.json"
    assert error.message == 'version: expected Alertmanager webhook version "4", got "3"'


def test_alertmanager_missing_version() -> None:
    """A webhook without a version is rejected as not being version "4"."""
    payload = load("alertmanager-disk-firing.json")
    del payload["version"]
    error = failure(payload, source="alertmanager")
    assert error.message == 'version: expected Alertmanager webhook version "4", got null'


def test_alertmanager_label_value_must_be_a_string() -> None:
    """A numeric label value is an error naming its JSON path and the value."""
    error = failure(load("alertmanager-bad-label.json"), origin="alertmanager-bad-label.json")
    assert error.message == "alerts[2].labels.instance: expected a string, got 42"
    assert str(error) == (
        "alertmanager-bad-label.json: alerts[2].labels.instance: expected a string, got 42"
    )


def test_alertmanager_alertname_is_required() -> None:
    """An alert without an alertname label is an error naming the missing key."""
    error = failure(load("alertmanager-no-alertname.json"))
    assert error.message == "alerts[0].labels.alertname: required key is missing"


def test_alertmanager_label_names_are_checked() -> None:
    """A label name that Prometheus would refuse is an error quoting the name."""
    payload = load("alertmanager-disk-firing.json")
    payload["alerts"][1]["labels"]["mount-point"] = "/"
    error = failure(payload)
    assert error.message.startswith('alerts[1].labels["mount-point"]: not a valid label name')


def test_alertmanager_status_must_be_firing_or_resolved() -> None:
    """An alert status other than firing or resolved is an error naming its path."""
    payload = load("alertmanager-disk-firing.json")
    payload["alerts"][0]["status"] = "pending"
    error = failure(payload)
    assert error.message == 'alerts[0].status: expected "firing" or "resolved", got "pending"'


def test_alertmanager_alerts_must_be_objects() -> None:
    """An element of alerts that is not an object is an error naming its index."""
    payload = load("alertmanager-disk-firing.json")
    payload["alerts"].append("DiskSpaceLow")
    error = failure(payload, source="alertmanager")
    assert error.message == 'alerts[2]: expected an object, got "DiskSpaceLow"'


# fingerprints


def test_missing_fingerprint_is_computed_from_name_and_labels() -> None:
    """Without a fingerprint, one is derived: 16 hex chars that change with the labels."""
    payload = load("alertmanager-disk-firing.json")
    for alert in payload["alerts"]:
        del alert["fingerprint"]
    first, second = normalize(payload)
    assert re.fullmatch(r"[0-9a-f]{16}", first.fingerprint)
    assert first.fingerprint != second.fingerprint  # only the instance label differs


def test_fingerprint_ignores_label_order() -> None:
    """The same labels in a different order give the same computed fingerprint."""
    payload = load("alertmanager-disk-firing.json")
    del payload["alerts"][0]["fingerprint"]
    reordered = copy.deepcopy(payload)
    labels = reordered["alerts"][0]["labels"]
    reordered["alerts"][0]["labels"] = dict(reversed(list(labels.items())))
    assert list(reordered["alerts"][0]["labels"]) != list(labels)
    assert normalize(payload)[0].fingerprint == normalize(reordered)[0].fingerprint


def test_generic_and_alertmanager_fingerprints_agree() -> None:
    """The same alert sent as generic JSON or through Alertmanager gets the same fingerprint."""
    payload = load("alertmanager-disk-firing.json")
    del payload["alerts"][0]["fingerprint"]
    (from_alertmanager, _) = normalize(payload)
    (from_generic,) = normalize(load("generic-one.json"))
    assert from_generic.fingerprint == from_alertmanager.fingerprint


# PagerDuty


def test_pagerduty_triggered_fires() -> None:
    """incident.triggered becomes one firing Alert named by the incident title."""
    (alert,) = normalize(load("pagerduty-triggered.json"))
    assert alert.source == "pagerduty"
    assert alert.name == "DiskSpaceLow on demo-web-01:9100"
    assert alert.status == "firing"
    assert alert.fingerprint == "Q2K4FYAB7LRZ0D"
    assert dict(alert.labels) == {
        "alertname": "DiskSpaceLow on demo-web-01:9100",
        "service": "Web Platform",
        "service_id": "PF9KMXH",
        "urgency": "high",
        "priority": "P2",
        "incident_key": "9d1f4c3e8a7b4d2f9e6c5b4a3d2e1f0a",
        "incident_number": "1842",
    }
    assert dict(alert.annotations) == {
        "html_url": "https://acme.pagerduty.com/incidents/Q2K4FYAB7LRZ0D",
        "incident_id": "Q2K4FYAB7LRZ0D",
    }
    assert alert.starts_at == "2024-05-14T09:12:41Z"
    assert alert.ends_at is None


def test_pagerduty_resolved() -> None:
    """incident.resolved gives a resolved Alert, same fingerprint, ended when the event occurred."""
    (triggered,) = normalize(load("pagerduty-triggered.json"))
    (resolved,) = normalize(load("pagerduty-resolved.json"))
    assert resolved.status == "resolved"
    assert resolved.fingerprint == triggered.fingerprint
    assert resolved.ends_at == "2024-05-14T09:33:05.871Z"


def test_pagerduty_acknowledged_is_not_actionable() -> None:
    """An incident.acknowledged event yields no Alert at all."""
    assert normalize(load("pagerduty-acknowledged.json")) == []


def test_pagerduty_other_incident_events_are_not_actionable() -> None:
    """Any incident.* event besides triggered and resolved yields no Alert, even a note."""
    payload = load("pagerduty-triggered.json")
    payload["event"]["event_type"] = "incident.annotated"
    payload["event"]["data"] = {"id": "P2LA89X", "type": "incident_note", "content": "on it"}
    assert normalize(payload) == []


def test_pagerduty_null_priority_leaves_the_label_out() -> None:
    """An incident without priority or incident key has no such labels."""
    payload = load("pagerduty-triggered.json")
    payload["event"]["data"]["priority"] = None
    del payload["event"]["data"]["incident_key"]
    (alert,) = normalize(payload)
    assert "priority" not in alert.labels
    assert "incident_key" not in alert.labels
    assert alert.labels["service"] == "Web Platform"


def test_pagerduty_title_is_required() -> None:
    """A triggered incident without a title is an error naming event.data.title."""
    payload = load("pagerduty-triggered.json")
    del payload["event"]["data"]["title"]
    error = failure(payload, origin="pd.json")
    assert error.message == "event.data.title: required key is missing"
    assert error.where == "pd.json"


def test_pagerduty_number_must_be_an_integer() -> None:
    """An incident number that is not an integer is an error naming its path."""
    payload = load("pagerduty-triggered.json")
    payload["event"]["data"]["number"] = "1842"
    error = failure(payload)
    assert error.message == 'event.data.number: expected an integer, got "1842"'


# generic


def test_generic_one_object() -> None:
    """A single generic object becomes one firing Alert whose alertname label is its name."""
    (alert,) = normalize(load("generic-one.json"))
    assert alert.source == "generic"
    assert alert.name == "DiskSpaceLow"
    assert alert.status == "firing"
    assert alert.labels["alertname"] == "DiskSpaceLow"
    assert alert.labels["instance"] == "demo-web-01:9100"
    assert dict(alert.annotations) == {"summary": "Disk space low on demo-web-01:9100"}
    assert alert.starts_at == "2024-05-14T09:12:03Z"
    assert alert.ends_at is None


def test_generic_list() -> None:
    """A generic list gives one Alert each, with a default status and a given fingerprint."""
    first, second = normalize(load("generic-list.json"))
    assert (first.status, second.status) == ("firing", "resolved")
    assert first.fingerprint == "nginx-demo-web-01"
    assert re.fullmatch(r"[0-9a-f]{16}", second.fingerprint)
    assert dict(second.labels) == {
        "alertname": "ServiceDown",
        "instance": "demo-web-02:9100",
        "service": "nginx",
    }
    assert dict(second.annotations) == {}


def test_generic_unknown_keys_are_named() -> None:
    """Keys outside the generic shape are an error that names each of them and the item."""
    error = failure(load("generic-unknown-key.json"), origin="generic-unknown-key.json")
    assert error.where == "generic-unknown-key.json"
    assert error.message.startswith('[1]: unknown key(s) "lables", "severity"; allowed keys are')


def test_generic_alertname_must_match_name() -> None:
    """A labels.alertname that differs from name is an error, not a silent override."""
    payload = load("generic-one.json")
    payload["labels"]["alertname"] = "DiskFull"
    error = failure(payload)
    assert error.message.startswith("labels.alertname: expected the same as name")
    assert error.message.endswith('got "DiskFull"')


def test_generic_name_must_not_be_empty() -> None:
    """An empty name is rejected even though it is a string."""
    payload = load("generic-one.json")
    payload["name"] = ""
    assert failure(payload).message == "name: must not be empty"
