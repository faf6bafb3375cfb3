"""Regular expressions that users write, on RE2: the linear-time engine of Alertmanager's Go regexp.

Catalog patterns are matched against alert labels, which whoever can post an alert controls.
Python's backtracking ``re`` takes exponential time on some patterns (``(a+)+$`` against 41
characters: minutes); RE2 takes time linear in the label whatever the pattern, and refuses
what needs backtracking (backreferences, lookaround) when the pattern is compiled. Constant
patterns of our own stay on ``re``.
"""

from __future__ import annotations

import re
from typing import Any

import re2  # type: ignore[import-untyped]  # google-re2 ships no type hints: typed here

__all__ = ["Anchored", "RegexError", "Searcher"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_MEMO_SIZE = 1024  # label values remembered per pattern: alerts repeat the same few
_MEMO_LONGEST = 256  # longer values are matched each time, so the memo stays small


class RegexError(ValueError):
    """A pattern RE2 cannot compile, with RE2's reason (e.g. ``invalid escape sequence: \\1``)."""


def _options(*, capture: bool) -> Any:
    options = re2.Options()
    options.log_errors = False  # the reason goes into the RegexError, not onto stderr
    options.never_capture = not capture
    return options


_MATCH_OPTIONS = _options(capture=False)
_SEARCH_OPTIONS = _options(capture=True)


def _compile(pattern: str, options: Any) -> Any:
    """RE2's compiled ``pattern``, or a RegexError saying why it has none."""
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "cannot be compiled"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexError(f"not a regular expression RE2 accepts ({reason}): {pattern!r}") \
            from None
    except UnicodeEncodeError:
        raise RegexError(f"a lone UTF-16 surrogate in the pattern: {pattern!a}") from None


def _utf8(text: str) -> bytes:
    """``text`` as UTF-8, a lone surrogate read as U+FFFD (as Go reads invalid UTF-8)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


class Anchored:
    """A pattern that must match a whole value, as Alertmanager's ``=~`` and ``!~``:
    ``^(?:pattern)$`` in RE2 syntax."""

    __slots__ = ("_memo", "_regex", "pattern")

    def __init__(self, pattern: str) -> None:
        _compile(pattern, _MATCH_OPTIONS)  # alone first: ``a)|(b`` must not escape the group
        self.pattern = pattern
        self._regex = _compile(f"^(?:{pattern})$", _MATCH_OPTIONS)
        self._memo: dict[str, bool] = {}

    def matches(self, value: str) -> bool:
        """True when the whole of ``value`` matches; linear in its length."""
        known = self._memo.get(value)
        if known is not None:
            return known
        found = self._regex.fullmatch(_utf8(value)) is not None
        if len(value) <= _MEMO_LONGEST:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[value] = found
        return found

    def __reduce__(self) -> tuple[type[Anchored], tuple[str]]:
        return Anchored, (self.pattern,)

    def __repr__(self) -> str:
        return f"Anchored({self.pattern!r})"


class Searcher:
    """A pattern searched for anywhere in a value, for its capture groups (``target.pattern``)."""

    __slots__ = ("_regex", "groups", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._regex = _compile(pattern, _SEARCH_OPTIONS)
        self.groups: int = int(self._regex.groups)

    def first_group(self, value: str) -> str | None:
        """Group 1 of the leftmost match in ``value`` (None without a match or that group)."""
        if not value.isascii():
            value = _SURROGATE.sub("\ufffd", value)
        found = self._regex.search(value)
        if found is None:
            return None
        group = found.group(1)
        return group if isinstance(group, str) else None

    def __reduce__(self) -> tuple[type[Searcher], tuple[str]]:
        return Searcher, (self.pattern,)

    def __repr__(self) -> str:
        return f"Searcher({self.pattern!r})"
