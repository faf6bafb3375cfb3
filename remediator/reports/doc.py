"""What every report produces: tables, charts and the data behind them. The terminal, --json
and --html renderers all read this one structure, so a report is computed once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ChartKind = Literal["line", "bar", "stacked", "heatmap"]


@dataclass(frozen=True, slots=True)
class Table:
    """Rows under named columns; ``notes`` explain the rows (the reasoning shown per row)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart. ``x`` labels the positions; ``series`` maps a name to one value per label.

    line / bar / stacked: one line, bar group or stack layer per series.
    heatmap: one row per series (e.g. day of week), one cell per x label (e.g. hour of day).
    """

    kind: ChartKind
    title: str
    x: tuple[str, ...]
    series: Mapping[str, tuple[float, ...]]
    y_label: str = ""


@dataclass(frozen=True, slots=True)
class ReportDoc:
    """A whole report: headline lines, tables, charts, and ``data`` (what --json prints)."""

    name: str  # noise | candidates | effectiveness | trends | simulate
    title: str
    generated_at: str  # ISO 8601 UTC
    source: str  # where the history came from (a file, or the store)
    summary: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
