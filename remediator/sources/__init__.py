"""Alert sources: parse a payload, find which source sent it, and normalise it to Alerts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
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


MAX_DEPTH = 64  # nesting of objects and arrays; alert payloads need fewer than ten
MAX_NUMBER_CHARS = 100  # digits of one JSON number


def _number(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text)} digits (at most {MAX_NUMBER_CHARS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else float("inf")
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"a number too large to store ({text[:20]}...)")
    return value


def _constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str, origin: str, first_line: int = 1) -> object:
    """The JSON object or array in ``text``; bad JSON is an InputError at ``origin:line:col``
    (``text`` starting at line ``first_line`` of ``origin``).

    Bounded, because the text is untrusted: at most MAX_DEPTH levels of nesting, numbers of at
    most MAX_NUMBER_CHARS characters and finite, no NaN or Infinity, and no text that cannot be
    stored (a lone UTF-16 surrogate such as ``"\ud800"``): each an InputError naming the key.
    """
    try:
        payload: object = json.loads(text, parse_int=_number, parse_float=_float,
                                     parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg}",
            where=f"{origin}:{first_line + exc.lineno - 1}:{exc.colno}"
        ) from exc
    except RecursionError:
        raise InputError(f"JSON nested deeper than {MAX_DEPTH} levels", where=origin) from None
    except ValueError as exc:
        raise InputError(f"not acceptable JSON: {exc}", where=origin) from None
    if text.count("[") + text.count("{") > MAX_DEPTH:  # only then can it be too deep
        _check_depth(payload, origin)
    if "\\u" in text:  # only an escape can make a lone surrogate
        _check_text(payload, origin)
    if not isinstance(payload, dict | list):
        raise InputError(
            f"expected a JSON object or array at the top level, got {_shape.describe(payload)}",
            where=origin,
        )
    return payload


def _check_depth(payload: object, origin: str) -> None:
    """An InputError when ``payload`` nests deeper than MAX_DEPTH (iteratively: no recursion)."""
    stack: list[tuple[object, int]] = [(payload, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise InputError(f"JSON nested deeper than {MAX_DEPTH} levels", where=origin)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def _check_text(payload: object, origin: str) -> None:
    """An InputError naming the key of the first string (or key) that UTF-8 cannot encode."""
    stack: list[tuple[object, str]] = [(payload, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}" if path else str(key)
                if not _encodable(str(key)):
                    raise InputError(f"key {where!a}: a lone UTF-16 surrogate cannot be "
                                     "stored", where=origin)
                stack.append((value, where))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{n}]") for n, value in enumerate(node))
        elif isinstance(node, str) and not _encodable(node):
            raise InputError(f"key {path or '(top)'}: text with a lone UTF-16 surrogate "
                             f"({node.encode('utf-8', 'backslashreplace')[:40]!r}) cannot be "
                             "stored", where=origin)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
        alerts = SOURCES[name].normalize(payload)
    except InputError as exc:
        if exc.where is not None:
            raise
        raise InputError(exc.message, where=origin) from exc
    _check_alerts(alerts, origin)
    return alerts


def _check_alerts(alerts: list[Alert], origin: str) -> None:
    """An InputError naming the first alert string UTF-8 cannot encode (a lone surrogate):
    ``parse_json`` refuses those, but a payload may come from elsewhere (a history file)."""
    try:
        "".join(text for alert in alerts for text in _texts(alert)).encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return
    for index, alert in enumerate(alerts):
        fields = {"name": alert.name, "fingerprint": alert.fingerprint,
                  "starts_at": alert.starts_at or "", "ends_at": alert.ends_at or "",
                  **{f"labels.{k}": f"{k}{v}" for k, v in alert.labels.items()},
                  **{f"annotations.{k}": f"{k}{v}" for k, v in alert.annotations.items()}}
        for key, text in fields.items():
            if not _encodable(text):
                raise InputError(f"alert {index + 1}: key {key!a}: text with a lone UTF-16 "
                                 "surrogate cannot be stored", where=origin)


def _texts(alert: Alert) -> Iterator[str]:
    """Every string in ``alert``."""
    yield alert.name
    yield alert.fingerprint
    yield alert.starts_at or ""
    yield alert.ends_at or ""
    for mapping in (alert.labels, alert.annotations):
        yield from mapping.keys()
        yield from mapping.values()
