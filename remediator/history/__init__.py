"""Alert history from any source, as one stream of Incidents: the store's own records,
PagerDuty incident exports (CSV) and Alertmanager webhook logs (JSON lines).

Readers stream: memory stays bounded however long the file is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from ..errors import InputError, UsageError
from ..store import StoreLocation
from ._common import Incident

__all__ = ["AUTO", "FORMATS", "Incident", "between", "detect_format", "read"]

AUTO = "auto"
FORMATS = ("pagerduty", "alertmanager")  # the file formats ``read`` knows
_SUFFIXES = {".csv": "pagerduty", ".jsonl": "alertmanager", ".ndjson": "alertmanager"}


def read(path: Path | None, fmt: str = AUTO, *, store: StoreLocation | None = None,
         progress: Callable[[int], None] | None = None,
         on_bad: Callable[[InputError], None] | None = None) -> Iterator[Incident]:
    """The Incidents in the history file at ``path`` (``fmt``: auto, pagerduty or
    alertmanager), or in the audit store at ``store`` when ``path`` is None. Streamed.

    ``progress`` gets the number of rows read, every 50,000 rows. A bad row or line is an
    InputError naming file:line, unless ``on_bad`` is given: it gets the error and the row is
    skipped. Incidents come out as they close (in the order the input resolves them), the
    ones still open at the end last: sort them if order matters.
    """
    from . import alertmanager, pagerduty
    from . import store as store_reader

    if path is None:
        if store is None:
            raise UsageError("no history: give a history file or the audit store")
        return store_reader.read(store, progress=progress)
    readers = {"pagerduty": pagerduty.read, "alertmanager": alertmanager.read}
    name = detect_format(path) if fmt == AUTO else fmt
    if name not in readers:
        raise UsageError(f"unknown history format {fmt!r}; expected {AUTO}, "
                         + ", ".join(FORMATS))
    return readers[name](path, progress=progress, on_bad=on_bad)


def detect_format(path: Path) -> str:
    """pagerduty for ``.csv``; alertmanager for ``.jsonl``/``.ndjson`` or a file whose first
    non-blank character is ``{``; anything else is an InputError asking for the format."""
    by_suffix = _SUFFIXES.get(path.suffix.lower())
    if by_suffix is not None:
        return by_suffix
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096).lstrip()
    except OSError as exc:
        raise InputError(f"cannot read the history file: {exc.strerror}", where=str(path)
                         ) from None
    if head.startswith("{"):
        return "alertmanager"
    raise InputError("cannot tell the history format (a .csv PagerDuty export, or JSON lines "
                     "of Alertmanager webhooks); name it with --format", where=str(path))


def between(incidents: Iterable[Incident], since: datetime | None = None,
            until: datetime | None = None) -> Iterator[Incident]:
    """The incidents that started at or after ``since`` and before ``until``."""
    for incident in incidents:
        if (since is None or incident.started >= since) and \
                (until is None or incident.started < until):
            yield incident
