"""A report for the terminal: headline lines, then each table, then the notes that explain
its rows. Rich fits the tables to the width by wrapping headers and cells (never cutting
them); numeric columns align right."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table as RichTable
from rich.text import Text

from .doc import ReportDoc, Table

UNBOUNDED = 1_000_000  # a width to measure a table's natural width in
_NUMERIC_RE = re.compile(
    r"^(?:[-+]?\d[\d.,]*(?:%|x|[smhd]|/\d+)?(?: \d+[smh])?|-|unknown)(?: \(\d+\))?\*?$"
    r"|^(?:\d\dh|Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d+%$")


def cell_text(value: Any) -> str:
    """One cell as text: ``-`` for nothing, floats to two decimals at most."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value).replace("\n", " ")


def table_view(table: Table) -> RenderableType:
    """A table: its title, the rows under their headers, then its notes."""
    parts: list[RenderableType] = [Text(table.title, style="bold"), _Fitted(table)]
    if not table.rows:
        parts.append(Text("(none)"))
    parts += [_indented(note) for note in table.notes]
    return Group(*parts)


class _Fitted:
    """A report table as wide as its cells when that fits the width; else with its numeric
    columns as narrow as their longest word (their headers wrap, numbers stay whole), so
    that the text columns, which wrap between words, give way first."""

    def __init__(self, table: Table) -> None:
        self.columns = [str(c) for c in table.columns]
        self.cells = [[cell_text(v) for v in row] for row in table.rows]
        self.numeric = [bool(self.cells) and all(_numeric(row[i]) for row in self.cells)
                        for i in range(len(self.columns))]

    def grid(self, narrow: bool) -> RichTable:
        """The Rich table, numeric columns narrowed or not."""
        grid = grid_table()
        for i, header in enumerate(self.columns):
            width = (longest_word([header, *(row[i] for row in self.cells)])
                     if narrow and self.numeric[i] else None)
            grid.add_column(header, justify="right" if self.numeric[i] else "left",
                            overflow="fold", width=width)
        for row in self.cells:
            grid.add_row(*(Text(value) for value in row))
        return grid

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = self.grid(narrow=False)
        natural = Measurement.get(console, options.update_width(UNBOUNDED), wide).maximum
        fits = natural <= options.max_width
        yield wide if fits else self.grid(narrow=True)


def grid_table() -> RichTable:
    """A table with a rule under its headers, two blanks between columns, no borders: Rich
    fits it to the width, wrapping cells (between words where it can)."""
    return RichTable(box=box.SIMPLE_HEAD, header_style="bold", padding=(0, 1, 0, 0),
                     pad_edge=False, show_edge=False)


def longest_word(texts: Iterable[str]) -> int:
    """The width of the longest word in ``texts``: a column this wide wraps them between
    words only."""
    return max((cell_len(word) for text in texts for word in text.split()), default=1)


def report_view(doc: ReportDoc) -> RenderableType:
    """The whole report: title, source, headline lines, tables, and the charts' names."""
    parts: list[RenderableType] = [
        Text(doc.title, style="bold"),
        _indented(f"source: {doc.source}  generated: {doc.generated_at}"),
        *(_indented(line) for line in doc.summary),
    ]
    for table in doc.tables:
        parts += [Text(""), table_view(table)]
    if doc.charts:
        parts += [Text(""), Text("charts (in --html): " + "; ".join(c.title for c in doc.charts))]
    return Group(*parts)


def render_text(doc: ReportDoc, width: int = 100) -> str:
    """The whole report as plain text for a terminal ``width`` characters wide."""
    return plain(report_view(doc), width)


def table_text(table: Table, width: int = 100) -> str:
    """One table as plain text ``width`` characters wide."""
    return plain(table_view(table), width)


def plain(renderable: RenderableType, width: int) -> str:
    """What ``renderable`` prints, without colour or trailing blanks, ``width`` wide."""
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, highlight=False, markup=False,
            emoji=False).print(renderable)
    return "".join(line.rstrip() + "\n" for line in out.getvalue().splitlines())


def _indented(text: str) -> RenderableType:
    """A paragraph indented by two: wrapped between words, so paths and names
    (``web-01``, ``/var/log/my-app``) stay whole unless longer than a line."""
    return Padding(Text(text), (0, 0, 0, 2))


def _numeric(text: str) -> bool:
    """Numbers, shares, durations, counts like ``3/4``, ``-`` (none), ``unknown`` and an hour
    or weekday with its share (``04h 7%``) align right and keep their words whole (a count
    in brackets may follow)."""
    return bool(_NUMERIC_RE.match(text))
