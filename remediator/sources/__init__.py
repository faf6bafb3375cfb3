"""Alert sources: parse a payload, find which source sent it, and normalise it to Alerts."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from remediator.errors import InputError
from remediator.models import Alert
from remediator.sources import _shape, alertmanager, generic, pagerduty

__all__ = ["SOURCES", "Source", "detect", "normalize", "parse_json"]

AUTO = "auto"


@dataclass(frozen=True, slots=True)
class Source:
    """One alert source: how to recognise its payloads and how to turn one into Alerts."""

    name: str
    detect: Callable[[object], bool]
    normalize: Callable[[object], list[Alert]]
    expected: str  # one line: the payload shape this source accepts


# The order is the order in which detection tries them: the loosest shape comes last.
SOURCES: Mapping[str, Source] = MappingProxyType(
    {
        alertmanager.NAME: Source(
            alertmanager.NAME, alertmanager.detect, alertmanager.normalize, alertmanager.EXPECTED
        ),
        pagerduty.NAME: Source(
            pagerduty.NAME, pagerduty.detect, pagerduty.normalize, pagerduty.EXPECTED
        ),
        generic.NAME: Source(generic.NAME, generic.detect, generic.normalize, generic.EXPECTED),
    }
)


def parse_json(text: str, origin: str) -> object:
    """The JSON object or array in ``text``; bad JSON is an InputError at ``origin:line:col``."""
    try:
        payload: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg}", where=f"{origin}:{exc.lineno}:{exc.colno}"
        ) from exc
    if not isinstance(payload, dict | list):
        raise InputError(
            f"expected a JSON object or array at the top level, got {_shape.describe(payload)}",
            where=origin,
        )
    return payload


def detect(payload: object, origin: str | None = None) -> str:
    """The name of the first source that recognises ``payload``; none is an InputError."""
    for source in SOURCES.values():
        if source.detect(payload):
            return source.name
    expected = "".join(f"\n  {s.name}: {s.expected}" for s in SOURCES.values())
    raise InputError(f"payload fits no alert source; expected one of:{expected}", where=origin)


def normalize(payload: object, source: str = AUTO, origin: str = "-") -> list[Alert]:
    """The Alerts in ``payload``, read by ``source`` (``auto``: the one ``detect`` finds)."""
    name = detect(payload, origin) if source == AUTO else source
    if name not in SOURCES:
        valid = ", ".join([AUTO, *SOURCES])
        message = f"unknown alert source {_shape.describe(name)}; valid sources are {valid}"
        raise InputError(message, where=origin)
    try:
        return SOURCES[name].normalize(payload)
    except InputError as exc:
        if exc.where is not None:
            raise
        raise InputError(exc.message, where=origin) from exc
