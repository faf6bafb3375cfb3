"""Properties of the alert sources on untrusted input (hypothesis): any payload normalises to
well-formed alerts or is an InputError, ``parse_json`` raises nothing else, and catalog matching
and the policy's reads of an alert never raise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediator import catalog, sources
from remediator.errors import InputError
from remediator.models import Alert, frozen_map
from remediator.policy import alert_variables, target_of
from tests.fuzzing import (
    ALERTMANAGER,
    GENERIC,
    HUGE_INTS,
    JSON,
    PAGERDUTY,
    TEXT,
    Nested,
    dumps,
    examples,
    json_texts,
)

DATA = Path(__file__).resolve().parent.parent / "data"
CATALOG = catalog.load(DATA / "catalogs" / "every-matcher.yml", DATA / "playbooks")
READERS = ("auto", *sources.SOURCES)


def well_formed(alert: Alert) -> None:
    """Every field the type it claims; every string storable as UTF-8 and JSON."""
    assert isinstance(alert, Alert)
    for value in (alert.source, alert.name, alert.status, alert.fingerprint):
        assert type(value) is str
    assert alert.name and alert.fingerprint and alert.status in ("firing", "resolved")
    assert alert.source in sources.SOURCES
    for value in (alert.starts_at, alert.ends_at):
        assert value is None or type(value) is str
    for mapping in (alert.labels, alert.annotations):
        assert all(type(k) is str and type(v) is str for k, v in mapping.items())
    data = alert.as_dict()
    text = json.dumps(data, ensure_ascii=False)
    text.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError
    assert json.loads(text) == data


def read(payload: object, reader: str) -> list[Alert]:
    """The alerts ``reader`` makes of ``payload`` (none when it is an InputError), each
    well formed and matched against the catalog."""
    try:
        alerts = sources.normalize(payload, reader, "fuzz")
    except InputError as exc:
        assert str(exc)
        return []
    for alert in alerts:
        well_formed(alert)
        matched(alert)
    return alerts


def matched(alert: Alert) -> None:
    """Catalog matching and the policy's reads of the alert answer without raising."""
    entry = CATALOG.match(alert)
    for each in CATALOG:
        each.matches(alert)
        target_of(alert, each.target)
        alert_variables(alert, each)
    assert entry is None or entry.matches(alert)


@pytest.mark.parametrize("shape", ["alertmanager", "pagerduty", "generic", "json"])
def test_a_payload_normalises_to_well_formed_alerts_or_an_input_error(shape: str) -> None:
    """Payloads near each source's shape (and any JSON), read as each source and as auto."""
    strategy = {"alertmanager": ALERTMANAGER, "pagerduty": PAGERDUTY, "generic": GENERIC,
                "json": JSON}[shape]

    @settings(max_examples=examples(150))
    @given(strategy, st.sampled_from(READERS))
    def check(payload: object, reader: str) -> None:
        read(payload, reader)

    check()


@settings(max_examples=examples(300))
@given(json_texts(), st.sampled_from(READERS))
def test_parse_json_raises_only_input_errors_and_what_it_returns_reads_cleanly(
        text: str, reader: str) -> None:
    try:
        payload = sources.parse_json(text, "fuzz")
    except InputError as exc:
        assert str(exc).startswith("fuzz")
        return
    assert isinstance(payload, dict | list)
    read(payload, reader)


@settings(max_examples=examples(150))
@given(JSON)
def test_what_json_holds_round_trips_through_parse_json_or_is_refused(value: object) -> None:
    """Text Python writes from any JSON value parses back to it, or is an InputError."""
    text = dumps(value)
    if text is None:
        return
    try:
        parsed = sources.parse_json(text, "fuzz")
    except InputError:
        return
    assert dumps(parsed) == text


@settings(max_examples=examples(300))
@given(st.builds(Alert, source=st.sampled_from(list(sources.SOURCES)), name=TEXT,
                 status=st.sampled_from(["firing", "resolved"]), fingerprint=TEXT,
                 labels=st.dictionaries(st.sampled_from(["alertname", "severity", "instance",
                                                         "mountpoint", "env", "job", "team",
                                                         "host"]) | TEXT, TEXT,
                                        max_size=6).map(frozen_map),
                 annotations=st.dictionaries(TEXT, TEXT, max_size=3).map(frozen_map)))
def test_catalog_matching_never_raises_on_any_alert(alert: Alert) -> None:
    """Even on alerts no source would make (lone surrogates, any label names)."""
    matched(alert)


# What the properties found, kept as examples (each raised another exception before).


@pytest.mark.parametrize("huge", HUGE_INTS, ids=["5000 digits", "-4400 digits"])
@pytest.mark.parametrize("reader", READERS)
def test_integers_past_pythons_4300_digits_are_input_errors(huge: int, reader: str) -> None:
    """Where a string, an object or an incident number belongs (ValueError from str(), in
    describe and in the PagerDuty number, before)."""
    payloads = [huge, [huge], {"version": "4", "alerts": [huge]},
                {"event": {"event_type": "incident.triggered",
                           "data": {"id": "P1", "title": "Disk", "number": huge}}},
                {"name": "A", "labels": {"x": huge}}]
    for payload in payloads:
        with pytest.raises(InputError):
            sources.normalize(payload, reader, "fuzz")


def test_a_value_nested_past_the_recursion_limit_is_an_input_error() -> None:
    """``[Nested(1984)]`` read as Alertmanager (RecursionError in describe, before)."""
    with pytest.raises(InputError, match="nested too deep to show"):
        sources.normalize([Nested(1984)], "alertmanager", "fuzz")


def test_a_lone_surrogate_from_a_payload_parse_json_never_saw_is_an_input_error() -> None:
    """``[{"name": "0"}, {"name": "\\ud800"}]`` built in Python (a history file's reader):
    refused, naming the alert and key (an alert UTF-8 cannot store, before)."""
    with pytest.raises(InputError, match="alert 2: key 'name': text with a lone UTF-16"):
        sources.normalize([{"name": "0"}, {"name": "\ud800"}], "auto", "fuzz")
    with pytest.raises(InputError, match=r"alert 1: key 'labels.x': text with a lone"):
        sources.normalize({"name": "A", "labels": {"x": "\udfff"}}, "generic", "fuzz")
