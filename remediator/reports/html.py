"""A report as one self-contained, offline HTML5 file (``--html FILE``).

Nothing is loaded from anywhere: styles are inline, charts are inline SVG drawn in Python
(:mod:`.svg`), and there is no script. The page's Content-Security-Policy says so to the browser:
``default-src 'none'`` forbids every fetch (images, fonts, frames, scripts, connections), and only
the page's own stylesheet, named by its hash, may apply. So even a string that escaped escaping
could neither run nor phone home. Every string from the report is escaped; the same document
gives the same bytes, so two reports can be diffed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from .doc import Chart, ReportDoc, Table
from .svg import Drawing, Key, draw, escape, fmt_value, number

CSS = """\
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif;
  color: #1a1a1a; background: #fff; max-width: 1180px; margin: 0 auto; padding: 16px 24px 40px; }
h1 { font-size: 1.5em; margin: 0.2em 0; }
h2 { font-size: 1.2em; margin: 1.6em 0 0.6em; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
.meta { color: #555; margin: 0; }
.summary li { margin: 2px 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 20px; }
figure { margin: 0; padding: 12px; border: 1px solid #ddd; border-radius: 6px; min-width: 0; }
figcaption { font-weight: 600; margin-bottom: 6px; overflow-wrap: anywhere; }
svg.chart { display: block; width: 100%; height: auto; }
svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: #333; }
svg .grid { stroke: #e8e8e8; }
svg .zero, svg .axis { stroke: #888; }
svg .line { stroke-width: 2; stroke-linejoin: round; }
svg .cell, svg .missing { stroke: #fff; stroke-width: 1; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; list-style: none; padding: 0;
  margin: 6px 0 0; font-size: 12px; }
.legend li { overflow-wrap: anywhere; }
.swatch { vertical-align: middle; margin-right: 4px; }
.swatch rect { stroke: #999; stroke-width: 0.5; }
.nodata { color: #666; font-style: italic; text-align: center; padding: 28px 0;
  border: 1px dashed #ccc; }
.note { color: #8a4b00; font-size: 12px; margin: 4px 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; min-width: 24em; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top;
  max-width: 40em; overflow-wrap: anywhere; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafafa; }
.notes { color: #444; font-size: 13px; }
details { margin-top: 6px; font-size: 12px; }
summary { cursor: pointer; color: #0b5394; }
footer { margin-top: 32px; color: #777; font-size: 12px; }
@media print { details { display: none; } }
"""
CSP = ("default-src 'none'; "
       f"style-src 'sha256-{base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()}'; "
       "base-uri 'none'; form-action 'none'")


def render_html(doc: ReportDoc) -> str:
    """The report as one HTML5 page: summary, charts (inline SVG), then tables with notes."""
    body: list[str] = []
    if doc.summary:
        items = "".join(f"<li>{escape(line)}</li>" for line in doc.summary)
        body.append(f'<section class="summary"><h2>Summary</h2><ul>{items}</ul></section>')
    if doc.charts:
        figures = "\n".join(figure(chart, f"chart-{i}") for i, chart in enumerate(doc.charts, 1))
        body.append(f'<section><h2>Charts</h2><div class="charts">\n{figures}\n</div></section>')
    if doc.tables:
        tables = "\n".join(table_html(t, f"table-{i}") for i, t in enumerate(doc.tables, 1))
        body.append(f"<section><h2>Tables</h2>\n{tables}\n</section>")
    if not body:
        body.append('<p class="nodata">This report has nothing to show.</p>')
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(doc.title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{escape(doc.title)}</h1>{_meta(doc)}</header>",
        "<main>", *body, "</main>",
        "<footer>Made by remediator. This file is self-contained: it has no scripts, and its "
        "Content-Security-Policy forbids the browser to load anything.</footer>",
        "</body>",
        "</html>",
        "",
    ])


def _meta(doc: ReportDoc) -> str:
    """The line under the title: which report, when, from what."""
    return (f'<p class="meta">Report <strong>{escape(doc.name)}</strong> · generated '
            f'<time datetime="{escape(doc.generated_at)}">{escape(doc.generated_at)}</time>'
            f" · source {escape(doc.source)}</p>")


# --- tables ---------------------------------------------------------------------------------------

def cell(value: Any) -> tuple[str, bool]:
    """A table value as escaped text, and whether it is a number (numbers align right)."""
    if value is None:
        return "", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, int | float):
        return escape(fmt_value(number(value)) if isinstance(value, float) else value), True
    if isinstance(value, list | tuple):
        return escape(", ".join(str(v) for v in value)), False
    return escape(value), False


def _tr(values: Sequence[Any], width: int) -> str:
    """One body row, padded with empty cells to ``width``."""
    cells = [cell(v) for v in values] + [("", False)] * (width - len(values))
    return "<tr>" + "".join(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>"
                            for text, numeric in cells) + "</tr>"


def _table(caption: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
           ident: str = "") -> str:
    """A captioned table; an empty one says so."""
    rows = list(rows)
    width = max([len(columns), *(len(r) for r in rows)]) or 1
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in columns)
    body = "\n".join(_tr(r, width) for r in rows) or \
        f'<tr><td colspan="{width}" class="empty">No rows.</td></tr>'
    id_attr = f' id="{ident}"' if ident else ""
    return (f'<div class="table-wrap"{id_attr}><table><caption>{escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>")


def table_html(table: Table, ident: str) -> str:
    """One report table and the notes under it."""
    notes = "".join(f"<li>{escape(note)}</li>" for note in table.notes)
    return _table(table.title, table.columns, table.rows, ident) + (
        f'<ul class="notes">{notes}</ul>' if notes else "")


# --- charts ---------------------------------------------------------------------------------------

def figure(chart: Chart, ident: str) -> str:
    """One chart as a figure: caption, the SVG (or a "no data" note), legend, notes, its data."""
    drawing = draw(chart, ident)
    notes = "".join(f'<p class="note">{escape(note)}</p>' for note in drawing.notes)
    kind = escape(chart.kind)
    if not drawing.svg:
        return (f'<figure class="{kind} empty" id="{ident}"><figcaption>'
                f'{escape(chart.title)}</figcaption><p class="nodata">No data for this chart.'
                f"</p>{notes}</figure>")
    return (f'<figure class="{kind}" id="{ident}"><figcaption>{escape(chart.title)}'
            f"</figcaption>\n{drawing.svg}\n{_legend(chart, drawing)}{notes}"
            f"<details><summary>Data</summary>{_chart_data(chart)}</details></figure>")


def _swatch(key: Key) -> str:
    """A small picture of a legend entry's mark."""
    if key.shape == "line":
        dash = f' stroke-dasharray="{key.dash}"' if key.dash else ""
        mark = (f'<line x1="0" y1="6" x2="22" y2="6" stroke="{key.colour}" stroke-width="2"'
                f"{dash}/>")
    else:
        mark = f'<rect x="5" y="0" width="12" height="12" fill="{key.colour}"/>'
    return (f'<svg class="swatch" width="22" height="12" viewBox="0 0 22 12" aria-hidden="true">'
            f"{mark}</svg>")


def _legend(chart: Chart, drawing: Drawing) -> str:
    """The legend: series names, or for a heat map the colours of values from low to high."""
    items = "".join(f"<li>{_swatch(key)}{escape(key.label)}</li>" for key in drawing.legend)
    if chart.kind != "heatmap":
        return f'<ul class="legend" aria-label="Legend">{items}</ul>'
    name = escape(chart.y_label or "value")
    return (f'<ul class="legend" aria-label="Colour scale, low to high">'
            f"<li>{name}, low to high:</li>{items}</ul>")


def _chart_data(chart: Chart) -> str:
    """The numbers behind a chart as a table: a row per label, or per series for a heat map."""
    names = list(chart.series)

    def value(name: str, i: int) -> str:
        values = chart.series[name]
        return fmt_value(number(values[i])) if i < len(values) else fmt_value(None)

    if chart.kind == "heatmap":
        rows = [[name, *(value(name, i) for i in range(len(chart.x)))] for name in names]
        return _table(f"Data: {chart.title}", ["", *chart.x], rows)
    rows = [[label, *(value(name, i) for name in names)] for i, label in enumerate(chart.x)]
    return _table(f"Data: {chart.title}", ["", *names], rows)
