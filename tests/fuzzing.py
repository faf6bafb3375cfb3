"""Hypothesis strategies for untrusted alert input: arbitrary JSON, and payloads shaped like
the real ones (Alertmanager v4, PagerDuty v3, generic) with some parts broken or hostile."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import strategies as st

EXPLORE = os.environ.get("REMEDIATOR_HYPOTHESIS") == "explore"  # see tests/conftest.py


def examples(count: int) -> int:
    """A test's ``max_examples``: ``count`` in the suite, a hundred times more to explore."""
    return count * 100 if EXPLORE else count


SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
CONTROLS = st.characters(max_codepoint=0x1F) | st.sampled_from("\x7f\x85\u2028\u2029\ufeff")

# Text as an attacker sends it: mostly plain, sometimes lone surrogates, control characters,
# anything Unicode has, or long.
TEXT = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(codec=None, categories=None) | SURROGATES | CONTROLS, max_size=20),
    st.sampled_from(["", "firing", "resolved", "alertname", "\ud800", "\udfff", "a\x00b",
                     "0001-01-01T00:00:00Z", "incident.triggered", "4"]),
    st.integers(200, 5000).map(lambda n: "x" * n),
)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(-(10 ** 30), 10 ** 30),
    st.sampled_from([10 ** 120, -(10 ** 101)]),  # past our bound of 100 digits
    # (past Python's 4,300 digits, hypothesis itself cannot print or shrink them: HUGE_INTS
    # are tested as explicit examples instead)
    st.floats(allow_nan=True, allow_infinity=True),
)
HUGE_INTS = (10 ** 5000, -(10 ** 4400))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)


class Nested(dict[str, Any]):
    """An object nested ``depth`` levels deep, shown by its depth (hypothesis cannot print it)."""

    def __init__(self, depth: int) -> None:
        value: Any = None
        for level in range(depth - 1):
            value = [value] if level % 2 else {"a": value}
        super().__init__(a=value)
        self.depth = depth

    def __repr__(self) -> str:
        return f"Nested({self.depth})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


DEEP = st.integers(50, 3000).map(Nested)  # deeper than Python's recursion limit, too
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(TEXT, inner, max_size=4), max_leaves=12) | DEEP


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``valid``, one time in twenty any JSON value instead: most payloads are then
    whole, or broken in one place."""
    return st.integers(0, 19).flatmap(lambda n: JSON if n == 0 else valid)


LABEL_NAMES = st.integers(0, 19).flatmap(  # keys are strings: one in twenty not a label name
    lambda n: TEXT if n == 0 else st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True))
LABELS = st.dictionaries(LABEL_NAMES, maybe(TEXT), max_size=5)
STRING_MAP = st.dictionaries(TEXT, maybe(TEXT), max_size=4)


def _with_name(labels: dict[str, Any], name: Any) -> dict[str, Any]:
    return {"alertname": name, **labels}


AM_ALERT = st.fixed_dictionaries(
    {"status": maybe(st.sampled_from(["firing", "resolved"])),
     "labels": maybe(st.builds(_with_name, LABELS, maybe(TEXT)))},
    optional={"annotations": maybe(STRING_MAP), "startsAt": maybe(TEXT), "endsAt": maybe(TEXT),
              "fingerprint": maybe(TEXT), "generatorURL": maybe(TEXT), "extra": JSON},
)
ALERTMANAGER = st.fixed_dictionaries(
    {"version": maybe(st.just("4")), "alerts": maybe(st.lists(maybe(AM_ALERT), max_size=4))},
    optional={"groupKey": maybe(TEXT), "status": maybe(TEXT), "receiver": maybe(TEXT),
              "groupLabels": maybe(STRING_MAP), "commonLabels": maybe(LABELS),
              "truncatedAlerts": maybe(NUMBERS)},
)

PD_REFERENCE = st.fixed_dictionaries({}, optional={"id": maybe(TEXT), "summary": maybe(TEXT),
                                                   "type": maybe(TEXT)})
PD_INCIDENT = st.fixed_dictionaries(
    {"id": maybe(TEXT), "title": maybe(TEXT)},
    optional={"service": maybe(PD_REFERENCE), "priority": maybe(st.none() | PD_REFERENCE),
              "urgency": maybe(TEXT), "incident_key": maybe(TEXT), "number": maybe(NUMBERS),
              "html_url": maybe(TEXT), "created_at": maybe(TEXT), "status": maybe(TEXT)},
)
PAGERDUTY = st.fixed_dictionaries({"event": maybe(st.fixed_dictionaries(
    {"event_type": maybe(st.sampled_from(["incident.triggered", "incident.resolved",
                                          "incident.acknowledged", "incident.", "pagey"])),
     "data": maybe(PD_INCIDENT)},
    optional={"id": maybe(TEXT), "occurred_at": maybe(TEXT), "resource_type": maybe(TEXT)}))})

GENERIC_ALERT = st.fixed_dictionaries(
    {"name": maybe(TEXT)},
    optional={"status": maybe(st.sampled_from(["firing", "resolved"])), "labels": maybe(LABELS),
              "annotations": maybe(STRING_MAP), "fingerprint": maybe(TEXT),
              "starts_at": maybe(TEXT), "lables": JSON},
)
GENERIC = GENERIC_ALERT | st.lists(maybe(GENERIC_ALERT), max_size=4)

PAYLOADS = st.one_of(ALERTMANAGER, PAGERDUTY, GENERIC, JSON)


def dumps(payload: Any) -> str | None:
    """``payload`` as JSON text, or None when Python cannot write it (an int of 4,300+
    digits, a value nested past the recursion limit)."""
    try:
        return json.dumps(payload)
    except (ValueError, RecursionError):
        return None


@st.composite
def json_texts(draw: st.DrawFn) -> str:
    """Text for a JSON parser: a payload's JSON, sometimes cut or spliced, or any text."""
    text = dumps(draw(PAYLOADS)) or "[]"
    how = draw(st.sampled_from(["as is", "as is", "cut", "splice", "raw", "unescaped"]))
    if how == "cut":
        return text[:draw(st.integers(0, len(text)))]
    if how == "splice":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.text(max_size=8) | st.sampled_from(
            ["[" * 70, "1" * 120, "NaN", "-Infinity", "1e999", "\\ud800", "\ud800", "\x00"]))
        + text[at:]
    if how == "raw":
        return draw(st.text(st.characters(codec=None, categories=None) | SURROGATES, max_size=40))
    if how == "unescaped":  # non-ASCII written as itself, as most senders do
        try:
            return json.dumps(draw(PAYLOADS), ensure_ascii=False)
        except (ValueError, RecursionError):
            return text
    return text
