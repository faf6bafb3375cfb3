"""Alert deliveries in time order, with bounded memory: an external merge sort.

History readers hand out incidents as they close, not as they start, and exports may run
newest first. A replay needs every delivery (an incident's firing at its start, its
resolution at its end) in time order. Deliveries are buffered up to ``chunk``; a full buffer
is sorted and spilled to a file in ``folder``; iteration merges the files. Memory holds one
buffer plus one delivery per spilled file.
"""

from __future__ import annotations

import heapq
import marshal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ..common import iso
from ..models import Alert, frozen_map
from ._common import Incident

CHUNK = 20_000  # deliveries sorted in memory before spilling to a file (about 20 MiB)


def deliveries(incident: Incident) -> list[tuple[Any, ...]]:
    """The firing (and, if it resolved, the resolved) delivery of ``incident``, as plain
    tuples that sort by time: (at, 0, firing, source, name, fingerprint, started, ended,
    labels, annotations)."""
    labels = dict(incident.labels)
    labels.setdefault("alertname", incident.name)
    if incident.host and "instance" not in labels:
        labels["instance"] = incident.host  # the target label catalogs usually name
    source = incident.source if incident.source in ("alertmanager", "pagerduty") else "generic"
    started = incident.started.timestamp()
    ended = None if incident.resolved is None else max(started, incident.resolved.timestamp())
    annotations = dict(incident.annotations)
    common = (source, incident.name, incident.fingerprint, started, ended, labels, annotations)
    firing = (started, 0, True, *common)
    return [firing] if ended is None else [firing, (ended, 0, False, *common)]


def alert_of(row: tuple[Any, ...], shift: float = 0.0) -> Alert:
    """The Alert of a delivery tuple, its times moved by ``shift`` seconds."""
    _, _, firing, source, name, fingerprint, started, ended, labels, annotations = row
    return Alert(source=source, name=name, status="firing" if firing else "resolved",
                 fingerprint=fingerprint, labels=frozen_map(labels),
                 annotations=frozen_map(annotations), starts_at=_iso(started + shift),
                 ends_at=None if firing or ended is None else _iso(ended + shift))


def _iso(seconds: float) -> str:
    """The alert-time text of POSIX ``seconds``: ISO 8601, milliseconds, UTC."""
    return iso(datetime.fromtimestamp(seconds, UTC))


class TimeOrder:
    """Delivery tuples in, the same tuples out in time order (ties: in arrival order)."""

    def __init__(self, folder: Path, chunk: int = CHUNK) -> None:
        self._folder = folder
        self._chunk = chunk
        self._buffer: list[tuple[Any, ...]] = []
        self._runs: list[Path] = []
        self._seq = 0
        self.count = 0
        self.first: float | None = None  # the earliest delivery time seen

    def add(self, row: tuple[Any, ...]) -> None:
        """Take one delivery tuple (its second element is replaced by an arrival number)."""
        self._seq += 1
        self._buffer.append((row[0], self._seq, *row[2:]))
        self.count += 1
        if self.first is None or row[0] < self.first:
            self.first = row[0]
        if len(self._buffer) >= self._chunk:
            self._spill()

    def _spill(self) -> None:
        """Write the sorted buffer to a new run file."""
        path = self._folder / f"run-{len(self._runs):05d}.bin"
        self._buffer.sort()
        with path.open("wb") as handle:
            for row in self._buffer:
                marshal.dump(row, handle)
        self._runs.append(path)
        self._buffer = []

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        """Every delivery taken, in time order; the run files are removed as they end."""
        if not self._runs:
            self._buffer.sort()
            yield from self._buffer
            return
        if self._buffer:
            self._spill()
        yield from heapq.merge(*(_read_run(path) for path in self._runs))


def _read_run(path: Path) -> Iterator[tuple[Any, ...]]:
    """The tuples of one run file, then the file is gone."""
    handle: BinaryIO
    with path.open("rb") as handle:
        while True:
            try:
                yield marshal.load(handle)  # noqa: S302 - our own file, written just now
            except EOFError:
                break
    path.unlink()
