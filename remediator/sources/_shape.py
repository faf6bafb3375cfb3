"""Shared checks for alert payloads: typed reads that name the JSON path of what is wrong."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping

from remediator.errors import InputError

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
STATUSES = ("firing", "resolved")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHOWN = 60


def at(path: str, key: str | int) -> str:
    """The JSON path of ``key`` inside ``path``: ``alerts[2]``, ``labels.job``, ``a["b c"]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _KEY.fullmatch(key) is None:
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key


def describe(value: object) -> str:
    """A short, escaped, JSON-like rendering of an untrusted value for an error message."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = _unshown(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _unshown(value: object) -> str:
    """What ``value`` is when JSON cannot show it: an integer past Python's 4,300 digits, a
    value nested past the recursion limit, or not JSON at all (its repr)."""
    if isinstance(value, int):
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    if isinstance(value, dict | list):
        return f"{'an object' if isinstance(value, dict) else 'an array'} nested too deep to show"
    try:
        return repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__}"


def problem(path: str, message: str) -> InputError:
    """An InputError that starts with the JSON path it is about (``top level`` for the root)."""
    return InputError(f"{path or 'top level'}: {message}")


def wrong(path: str, expected: str, value: object) -> InputError:
    """An InputError saying what ``path`` should hold and what it holds."""
    return problem(path, f"expected {expected}, got {describe(value)}")


def as_object(value: object, path: str) -> Mapping[str, object]:
    """``value`` when it is a JSON object, else an error naming ``path``."""
    if not isinstance(value, dict):
        raise wrong(path, "an object", value)
    return value


def as_list(value: object, path: str) -> list[object]:
    """``value`` when it is a JSON array, else an error naming ``path``."""
    if not isinstance(value, list):
        raise wrong(path, "an array", value)
    return value


def as_str(value: object, path: str) -> str:
    """``value`` when it is a string, else an error naming ``path``."""
    if not isinstance(value, str):
        raise wrong(path, "a string", value)
    return value


def required(obj: Mapping[str, object], key: str, path: str) -> object:
    """The value of ``key`` in ``obj``; a missing key is an error naming its path."""
    if key not in obj:
        raise problem(at(path, key), "required key is missing")
    return obj[key]


def required_str(obj: Mapping[str, object], key: str, path: str) -> str:
    """The non-empty string at ``key``; missing, empty or another type is an error."""
    text = as_str(required(obj, key, path), at(path, key))
    if not text:
        raise problem(at(path, key), "must not be empty")
    return text


def optional_str(obj: Mapping[str, object], key: str, path: str) -> str | None:
    """The string at ``key``, or None when the key is absent or null."""
    value = obj.get(key)
    if value is None or isinstance(value, str):  # the common case: no path to build
        return value
    raise wrong(at(path, key), "a string", value)


def status(value: object, path: str) -> str:
    """``value`` when it is ``firing`` or ``resolved``, else an error naming ``path``."""
    if value not in STATUSES:
        raise wrong(path, '"firing" or "resolved"', value)
    return str(value)


def string_map(value: object, path: str, *, label_names: bool = False) -> dict[str, str]:
    """A copy of a JSON object of strings; with ``label_names`` its keys must be label names."""
    result: dict[str, str] = {}
    for key, item in as_object(value, path).items():
        if label_names and LABEL_NAME.fullmatch(key) is None:
            raise problem(
                at(path, key), f"not a valid label name (must match {LABEL_NAME.pattern})"
            )
        if not isinstance(item, str):  # paths are built only for the error
            raise wrong(at(path, key), "a string", item)
        result[key] = item
    return result


def optional_map(
    obj: Mapping[str, object], key: str, path: str, *, label_names: bool = False
) -> dict[str, str]:
    """The object of strings at ``key`` (as ``string_map``), or an empty one when absent or null."""
    value = obj.get(key)
    return {} if value is None else string_map(value, at(path, key), label_names=label_names)


def reject_unknown(obj: Mapping[str, object], allowed: Collection[str], path: str) -> None:
    """Raise an error naming every key of ``obj`` that is not in ``allowed``."""
    unknown = sorted(key for key in obj if key not in allowed)
    if unknown:
        names = ", ".join(describe(key) for key in unknown)
        known = ", ".join(allowed)
        raise problem(path, f"unknown key(s) {names}; allowed keys are {known}")


def fingerprint(name: str, labels: Mapping[str, str]) -> str:
    """A stable alert id: the first 16 hex chars of sha256 over its name and sorted labels."""
    canonical = json.dumps([name, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
