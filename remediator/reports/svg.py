"""Charts as inline SVG drawn in Python: no script, no network, the same bytes for the same chart.

Every string that reaches the markup goes through :func:`escape`: chart titles, series names and
labels come from alerts, which are untrusted. Marks carry ``class="mark ..."`` and a ``<title>``
with their value, so a reader can hover for numbers and a test can count them:

- line: one ``path.mark.line`` per series with two adjacent values, one ``circle.mark.point``
  per value;
- bar: one ``rect.mark.bar`` per value (a zero is a 1-px bar on the baseline, not a gap);
- stacked: one ``rect.mark.segment`` per non-zero value, positives up from zero, negatives down;
- heatmap: one ``rect.mark.cell`` per value; a missing value is a grey ``rect.missing``.

A missing value (a short series, NaN, infinity, not a number) is drawn as nothing, and a note
says so.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from .doc import Chart

WIDTH = 600
HEIGHT = 280
LEFT, RIGHT, TOP, BOTTOM = 56.0, 12.0, 12.0, 40.0
HEAT_LEFT, HEAT_ROW = 96.0, 22.0
CHAR_PX = 6.6  # average width of an 11-px sans-serif character, for fitting labels
# Okabe & Ito's colour-blind-safe palette; their yellow is left out (too faint on white).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
DASHES = ("", "6 3", "2 3")  # lines cycle through the colours, then through these dashes
# ColorBrewer YlGnBu: sequential and colour-blind-safe; light is low, dark is high.
HEAT = ("#ffffd9", "#edf8b1", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8",
        "#253494", "#081d58")
MISSING = "#e4e4e4"
LIMIT = 1e300  # drawn no further out, so sums and spans stay finite; titles keep the value
UNITS = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
KIND_WORDS = {"line": "Line chart", "bar": "Bar chart", "stacked": "Stacked bar chart",
              "heatmap": "Heat map"}


def escape(text: object) -> str:
    """``text`` safe as HTML or SVG text and attribute value: ``& < > " '`` escaped, and
    characters a document may not hold (controls, lone surrogates) replaced by U+FFFD."""
    return html.escape(_INVALID.sub("\ufffd", str(text)), quote=True)


@dataclass(frozen=True, slots=True)
class Series:
    """One named series, one value per x label; None is no value."""

    name: str
    values: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class Key:
    """One legend entry: a label and how its mark looks."""

    label: str
    colour: str
    shape: Literal["line", "box"] = "box"
    dash: str = ""


@dataclass(frozen=True, slots=True)
class Drawing:
    """A chart drawn: the ``<svg>`` (empty when there is no data), its legend and notes."""

    svg: str
    legend: tuple[Key, ...]
    notes: tuple[str, ...]


def number(value: object) -> float | None:
    """``value`` as a finite float, or None (missing, NaN, infinite, not a number)."""
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def fmt_value(value: float | None) -> str:
    """A value for people: whole numbers without a fraction, others to 6 significant digits."""
    if value is None:
        return "–"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def prepare(chart: Chart) -> tuple[tuple[Series, ...], tuple[str, ...]]:
    """The chart's series aligned to its x labels, and notes on what cannot be drawn."""
    n = len(chart.x)
    series: list[Series] = []
    notes: list[str] = []
    for name, raw in chart.series.items():
        if len(raw) != n:
            notes.append(f"Series “{name}” has {len(raw)} values for {n} labels: "
                         "values past the last label are not shown; missing ones are gaps.")
        values = tuple(number(raw[i]) if i < len(raw) else None for i in range(n))
        bad = sum(1 for v in raw[:n] if number(v) is None)
        if bad:
            notes.append(f"Series “{name}”: {bad} value(s) are not finite numbers "
                         "and are not drawn.")
        series.append(Series(str(name), values))
    return tuple(series), tuple(notes)


def draw(chart: Chart, ident: str) -> Drawing:
    """The chart as an accessible ``<svg>`` whose ids start with ``ident``; no data, no svg."""
    series, notes = prepare(chart)
    if chart.kind not in KIND_WORDS:
        return Drawing("", (), (*notes, f"Unknown chart kind “{chart.kind}”: not drawn."))
    if not any(v is not None for s in series for v in s.values):
        return Drawing("", (), notes)
    if chart.kind == "heatmap":
        body, height, legend = _heatmap(chart.x, series)
    else:
        body, height = _xy(chart, series)
        shape: Literal["line", "box"] = "line" if chart.kind == "line" else "box"
        legend = tuple(Key(s.name, _colour(k), shape, _dash(k) if shape == "line" else "")
                       for k, s in enumerate(series))
    desc = (f"{KIND_WORDS[chart.kind]}: {len(series)} series over {len(chart.x)} labels"
            + (f"; values in {chart.y_label}" if chart.y_label else "") + ".")
    svg = (f'<svg class="chart {chart.kind}" viewBox="0 0 {WIDTH} {_n(height)}" role="img" '
           f'aria-labelledby="{ident}-title {ident}-desc">'
           f'<title id="{ident}-title">{escape(chart.title)}</title>'
           f'<desc id="{ident}-desc">{escape(desc)}</desc>{body}</svg>')
    return Drawing(svg, legend, notes)


# --- scales and labels ---------------------------------------------------------------------------

def _n(value: float) -> str:
    """A coordinate, to one decimal."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _clamp(value: float) -> float:
    """``value`` held within ±LIMIT."""
    return max(-LIMIT, min(LIMIT, value))


def _colour(k: int) -> str:
    """The colour of the k-th series."""
    return PALETTE[k % len(PALETTE)]


def _dash(k: int) -> str:
    """The dash pattern of the k-th line: solid until the colours run out."""
    return DASHES[(k // len(PALETTE)) % len(DASHES)]


def nice_step(raw: float) -> float:
    """The 1, 2 or 5 times a power of ten at or above ``raw`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 5.0):
        if raw <= factor * power:
            return factor * power
    return 10.0 * power


def ticks(lo: float, hi: float, count: int = 5, *, whole: bool = False) -> tuple[float, ...]:
    """Round tick values covering [min(lo, 0), max(hi, 0)], about ``count`` intervals; with
    ``whole`` (counts), no step below 1."""
    lo, hi = min(0.0, _clamp(lo)), max(0.0, _clamp(hi))
    if lo == hi:
        hi = 1.0
    step = nice_step((hi - lo) / count) if (hi - lo) / count > 0 else hi - lo
    if whole:
        step = max(step, 1.0)
    first, last = math.floor(lo / step), math.ceil(hi / step)
    return tuple((i * step) or 0.0 for i in range(first, last + 1))


def fmt_tick(value: float, step: float) -> str:
    """A tick label: 1.5k, 20M, 0.25; as precise as the tick step needs and no more."""
    if value == 0:
        return "0"
    if abs(value) >= 1e21 or step < 1e-9:
        return f"{value:.3g}"
    size, suffix = next(((s, u) for s, u in UNITS if abs(value) >= s), (1.0, ""))
    decimals = min(9, max(0, -math.floor(math.log10(step / size) + 1e-9)))
    text = f"{value / size:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + suffix


def short(label: str, chars: int) -> str:
    """``label`` cut to ``chars`` characters, with an ellipsis when cut."""
    return label if len(label) <= chars else label[:max(1, chars - 1)] + "…"


def _label_every(labels: Sequence[str], band: float) -> int:
    """Show every k-th x label, so that shown labels (up to 10 characters) do not overlap."""
    want = min(10, max((len(s) for s in labels), default=1)) * CHAR_PX + 8
    return max(1, math.ceil(want / band)) if band > 0 else 1


def _x_labels(labels: Sequence[str], left: float, band: float, y: float) -> Iterator[str]:
    """The x-axis labels under the plot, thinned to fit, each with its full text as a title."""
    every = _label_every(labels, band)
    chars = max(3, int(band * every / CHAR_PX) - 1)
    for i in range(0, len(labels), every):
        x = left + (i + 0.5) * band
        yield (f'<text class="tick x" x="{_n(x)}" y="{_n(y)}" text-anchor="middle">'
               f'<title>{escape(labels[i])}</title>{escape(short(labels[i], chars))}</text>')


def _y_axis(scale: Callable[[float], float], marks: tuple[float, ...], left: float,
            right: float, y_label: str, top: float, bottom: float) -> Iterator[str]:
    """Grid lines with tick labels, the zero line, and the rotated y-axis label."""
    step = marks[1] - marks[0]
    for value in marks:
        y = _n(scale(value))
        grid = "zero" if value == 0 else "grid"
        yield f'<line class="{grid}" x1="{_n(left)}" x2="{_n(right)}" y1="{y}" y2="{y}"/>'
        yield (f'<text class="tick y" x="{_n(left - 6)}" y="{y}" text-anchor="end" '
               f'dominant-baseline="middle">{fmt_tick(value, step)}</text>')
    if y_label:
        middle = _n((top + bottom) / 2)
        yield (f'<text class="axis-label" transform="translate(14 {middle}) rotate(-90)" '
               f'text-anchor="middle">{escape(short(y_label, 40))}</text>')


# --- line, bar, stacked ---------------------------------------------------------------------------

def _xy(chart: Chart, series: tuple[Series, ...]) -> tuple[str, float]:
    """The body of a line, grouped-bar or stacked-bar chart, and its height."""
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    lo, hi = _extent(series, stacked=chart.kind == "stacked")
    marks = ticks(lo, hi, whole=_whole(series))
    low, high = marks[0], marks[-1]

    def scale(value: float) -> float:
        return bottom - (_clamp(value) - low) / (high - low) * (bottom - top)

    band = (right - left) / len(chart.x)
    parts = list(_y_axis(scale, marks, left, right, chart.y_label, top, bottom))
    draw_marks = {"line": _lines, "bar": _bars, "stacked": _stacks}[chart.kind]
    parts += draw_marks(chart.x, series, left, band, scale)
    parts += _x_labels(chart.x, left, band, bottom + 16)
    parts.append(f'<line class="axis" x1="{_n(left)}" x2="{_n(left)}" y1="{_n(top)}" '
                 f'y2="{_n(bottom)}"/>')
    return "".join(parts), float(HEIGHT)


def _whole(series: tuple[Series, ...]) -> bool:
    """Whether every value is a whole number (counts), so scales need no fractions."""
    return all(v.is_integer() for s in series for v in s.values if v is not None)


def _extent(series: tuple[Series, ...], *, stacked: bool) -> tuple[float, float]:
    """The lowest and highest value to show: of the values, or of the stack totals."""
    if not stacked:
        values = [_clamp(v) for s in series for v in s.values if v is not None]
        return min(values), max(values)
    n = len(series[0].values)
    ups = [sum(_clamp(v) for s in series if (v := s.values[i]) is not None and v > 0)
           for i in range(n)]
    downs = [sum(_clamp(v) for s in series if (v := s.values[i]) is not None and v < 0)
             for i in range(n)]
    return min(downs), max(ups)


def _mark_title(series: str, label: str, value: float) -> str:
    """The tooltip of one mark: series, label and value."""
    return f"<title>{escape(series)} · {escape(label)}: {fmt_value(value)}</title>"


def _lines(labels: Sequence[str], series: tuple[Series, ...], left: float, band: float,
           scale: Callable[[float], float]) -> Iterator[str]:
    """One path per series (broken at missing values) and a point per value."""
    for k, s in enumerate(series):
        points = [(i, left + (i + 0.5) * band, scale(v), v) for i, v in enumerate(s.values)
                  if v is not None]
        path: list[str] = []
        segments = 0
        for j, (i, x, y, _) in enumerate(points):
            joined = j > 0 and points[j - 1][0] == i - 1
            segments += joined
            path.append(f"{'L' if joined else 'M'}{_n(x)} {_n(y)}")
        dash = f' stroke-dasharray="{_dash(k)}"' if _dash(k) else ""
        if segments:
            yield (f'<path class="mark line" d="{" ".join(path)}" fill="none" '
                   f'stroke="{_colour(k)}"{dash}/>')
        for i, x, y, value in points:
            yield (f'<circle class="mark point" cx="{_n(x)}" cy="{_n(y)}" r="2.5" '
                   f'fill="{_colour(k)}">{_mark_title(s.name, labels[i], value)}</circle>')


def _rect(cls: str, x: float, y: float, width: float, height: float, fill: str,
          title: str) -> str:
    """One rectangle mark with its tooltip."""
    return (f'<rect class="{cls}" x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" '
            f'height="{_n(height)}" fill="{fill}">{title}</rect>')


def _bars(labels: Sequence[str], series: tuple[Series, ...], left: float, band: float,
          scale: Callable[[float], float]) -> Iterator[str]:
    """Grouped bars from the zero line: one group per label, one bar per series."""
    width = band * 0.8 / len(series)
    gap = 1.0 if width > 3 else 0.0
    base = scale(0)
    for i, label in enumerate(labels):
        for k, s in enumerate(series):
            value = s.values[i]
            if value is None:
                continue
            y0, y1 = sorted((scale(value), base))
            if y1 - y0 < 1:
                y0, y1 = (base - 1, base) if value >= 0 else (base, base + 1)
            x = left + i * band + band * 0.1 + k * width
            yield _rect("mark bar", x, y0, max(0.5, width - gap), y1 - y0, _colour(k),
                        _mark_title(s.name, label, value))


def _stacks(labels: Sequence[str], series: tuple[Series, ...], left: float, band: float,
            scale: Callable[[float], float]) -> Iterator[str]:
    """One stack per label: positive values up from zero, negative ones down from it."""
    for i, label in enumerate(labels):
        up = down = 0.0
        for k, s in enumerate(series):
            value = s.values[i]
            if value is None or value == 0:
                continue
            if value > 0:
                y0, y1, up = scale(up + _clamp(value)), scale(up), up + _clamp(value)
            else:
                y0, y1, down = scale(down), scale(down + _clamp(value)), down + _clamp(value)
            yield _rect("mark segment", left + i * band + band * 0.15, y0, band * 0.7,
                        max(0.5, y1 - y0), _colour(k), _mark_title(s.name, label, value))


# --- heat map -------------------------------------------------------------------------------------

def heat_colour(fraction: float) -> str:
    """The colour at ``fraction`` (0..1) of the way along the YlGnBu scale."""
    position = max(0.0, min(1.0, fraction)) * (len(HEAT) - 1)
    i = min(int(position), len(HEAT) - 2)
    t = position - i
    a, b = HEAT[i], HEAT[i + 1]
    rgb = (round(int(a[j:j + 2], 16) * (1 - t) + int(b[j:j + 2], 16) * t) for j in (1, 3, 5))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _heatmap(labels: Sequence[str],
             series: tuple[Series, ...]) -> tuple[str, float, tuple[Key, ...]]:
    """A grid with one row per series and one cell per label, its height, and its colour key."""
    values = [_clamp(v) for s in series for v in s.values if v is not None]
    lo, hi = min(values), max(values)
    span = hi - lo

    def fraction(value: float) -> float:
        return (_clamp(value) - lo) / span if span else 0.5

    left, top = HEAT_LEFT, TOP
    cell = (WIDTH - RIGHT - left) / len(labels)
    parts: list[str] = []
    for r, s in enumerate(series):
        y = top + r * HEAT_ROW
        parts.append(f'<text class="tick row" x="{_n(left - 6)}" y="{_n(y + HEAT_ROW / 2)}" '
                     f'text-anchor="end" dominant-baseline="middle"><title>{escape(s.name)}'
                     f'</title>{escape(short(s.name, 14))}</text>')
        for c, value in enumerate(s.values):
            x = left + c * cell
            if value is None:
                title = f"<title>{escape(s.name)} · {escape(labels[c])}: no value</title>"
                parts.append(_rect("missing", x, y, cell, HEAT_ROW, MISSING, title))
            else:
                parts.append(_rect("mark cell", x, y, cell, HEAT_ROW,
                                   heat_colour(fraction(value)),
                                   _mark_title(s.name, labels[c], value)))
    bottom = top + len(series) * HEAT_ROW
    parts += _x_labels(labels, left, cell, bottom + 16)
    return "".join(parts), bottom + 28, _heat_legend(lo, hi, whole=_whole(series))


def _heat_legend(lo: float, hi: float, *, whole: bool) -> tuple[Key, ...]:
    """Five colour swatches from ``lo`` to ``hi``; whole numbers only when the data are counts."""
    if lo == hi:
        return (Key(fmt_value(lo), heat_colour(0.5)),)
    values = [lo + f * (hi - lo) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    if whole:
        values = sorted({float(round(v)) for v in values})
    return tuple(Key(fmt_value(v), heat_colour((v - lo) / (hi - lo))) for v in values)
