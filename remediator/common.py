"""Small shared helpers: the clock, record ids, who is at the keyboard, timestamps."""

from __future__ import annotations

import functools
import getpass
import os
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


def utc_now() -> datetime:
    """The current time in UTC; records are stamped in UTC so their times sort as text."""
    return datetime.now(UTC)


@dataclass
class ManualClock:
    """A clock that moves only when told to (``simulate`` replays history on one; tests too)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        """Move time forward and return the new now."""
        self.now += timedelta(seconds=seconds)
        return self.now


# Ids are unique, not secret: a generator seeded from the OS, seeded afresh in a forked child.
_ID_BITS = random.Random(os.urandom(16))  # noqa: S311 - uniqueness, not secrecy
os.register_at_fork(after_in_child=lambda: _ID_BITS.seed(os.urandom(16)))


def new_record_id() -> str:
    """A time-ordered id: 11 hex digits of milliseconds, then 10 random hex digits.

    The random part comes from a per-process generator seeded from the OS (ids are unique, not
    secret): 40 bits keep thousands of ids within one millisecond apart (a busy worker makes
    about 30 per millisecond, where 24 bits collided within seconds).
    """
    return f"{int(time.time() * 1000):011x}{_ID_BITS.getrandbits(40):010x}"


def current_user() -> str:
    """Who is at the keyboard: $REMEDIATOR_USER, else the login name."""
    try:
        return os.environ.get("REMEDIATOR_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def iso(moment: datetime) -> str:
    """A record timestamp: ISO 8601 in UTC with milliseconds (so timestamps sort as text)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_time(value: object) -> datetime | None:
    """An aware datetime from an ISO 8601 string (``Z`` accepted), or None."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_time(value)


@functools.lru_cache(maxsize=4096)
def _parse_time(value: str) -> datetime | None:
    """Cached: a storm repeats the same few start times thousands of times."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
