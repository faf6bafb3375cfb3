"""A report for the terminal: headline lines, then each table with its columns fitted to the
width (long cells cut with an ellipsis), then the notes that explain the rows."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import Any

from .doc import ReportDoc, Table

ELLIPSIS = "…"
MIN_COLUMN = 6  # a column is never cut below this many characters (or its own width)
FIRST_COLUMN = 24  # ... the column naming the rows never below this many
GAP = "  "
_NUMERIC_RE = re.compile(
    r"^[-+]?\d[\d.,]*(?:%|x|[smhd]|/\d+)?(?: \d+[smh])?(?: \(\d+\))?\*?$|^-\*?$")


def cell_text(value: Any) -> str:
    """One cell as text: ``-`` for nothing, floats to two decimals at most."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value).replace("\n", " ")


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= width else text[:max(0, width - 1)] + ELLIPSIS


def fit(widths: Sequence[int], floors: Sequence[int], total: int) -> list[int]:
    """Column widths within ``total`` characters (gaps included): the widest column gives way
    first, none below its floor."""
    result = list(widths)
    room = total - len(GAP) * (len(result) - 1)
    while sum(result) > room:
        widest = max(range(len(result)), key=lambda i: (result[i] - floors[i], result[i]))
        if result[widest] <= floors[widest]:
            break  # cannot shrink any further: the line will be longer than asked
        result[widest] -= 1
    return result


def table_text(table: Table, width: int = 100) -> str:
    """A table: title, header, one line per row; numeric columns aligned right.

    Too wide for ``width``: headers wrap at spaces first, then the widest cells are cut; the
    first text column (what the row is about) keeps up to FIRST_COLUMN characters.
    """
    header = [str(c) for c in table.columns]
    cells = [[cell_text(v) for v in row] for row in table.rows]
    data = [max([0] + [len(r[i]) for r in cells]) for i in range(len(header))]
    natural = [max(d, len(h)) for d, h in zip(data, header, strict=True)]
    right = [bool(cells) and all(_numeric(r[i]) for r in cells) for i in range(len(header))]
    key = right.index(False) if False in right else 0  # the column that names the row
    hard = [min(n, FIRST_COLUMN if i == key else MIN_COLUMN) for i, n in enumerate(natural)]
    words = [max(len(w) for w in h.split()) if h.strip() else 0 for h in header]
    soft = [max(d, w, f) for d, w, f in zip(data, words, hard, strict=True)]
    widths = fit(fit(natural, soft, width), hard, width)

    def line(values: list[str]) -> str:
        """One line of cells, each fitted to its column."""
        parts = [cut(v, w).rjust(w) if r else cut(v, w).ljust(w)
                 for v, w, r in zip(values, widths, right, strict=True)]
        return GAP.join(parts).rstrip()

    wrapped = [textwrap.wrap(h, w, break_long_words=False) or [""]
               for h, w in zip(header, widths, strict=True)]
    depth = max(len(w) for w in wrapped)
    heads = [[""] * (depth - len(w)) + w for w in wrapped]  # headers sit on the rule
    out = [table.title, *(line([h[i] for h in heads]) for i in range(depth)),
           GAP.join("-" * w for w in widths)]
    out += [line(r) for r in cells] or ["(none)"]
    for note in table.notes:
        out += _wrap(note, width)
    return "\n".join(out)


def _wrap(text: str, width: int) -> list[str]:
    """An indented paragraph; paths and names (``web-01``, ``/var/log/my-app``) stay whole, on
    a line of their own when longer than the width, so they can be copied."""
    return textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="    ",
                         break_long_words=False, break_on_hyphens=False)


def _numeric(text: str) -> bool:
    """Numbers, shares, durations, counts like ``3/4`` and ``-`` (none) align right."""
    return bool(_NUMERIC_RE.match(text))


def render_text(doc: ReportDoc, width: int = 100) -> str:
    """The whole report for a terminal ``width`` characters wide."""
    out = [doc.title, f"  source: {doc.source}  generated: {doc.generated_at}"]
    for line in doc.summary:
        out += _wrap(line, width)
    for table in doc.tables:
        out += ["", table_text(table, width)]
    if doc.charts:
        out += ["", "charts (in --html): " + "; ".join(c.title for c in doc.charts)]
    return "\n".join(out) + "\n"
