"""remediator.reports.svg: one mark per value, gaps for missing values, finite coordinates inside
the canvas whatever the numbers, round ticks, and escaped text."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import pytest

from remediator.reports.doc import Chart
from remediator.reports.svg import (
    HEAT,
    MISSING,
    PALETTE,
    Drawing,
    draw,
    escape,
    fmt_tick,
    fmt_value,
    heat_colour,
    ticks,
)

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


class Marks(HTMLParser):
    """The elements of one SVG: tag, attributes, and the text of each ``<title>``."""

    def __init__(self, svg: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.titles: list[str] = []  # of <title> and <desc>
        self._open = ""
        self.feed(svg)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._open = tag

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        self._open = ""

    def handle_data(self, data: str) -> None:
        if self._open in ("title", "desc"):
            self.titles.append(data)

    def of(self, cls: str) -> list[dict[str, str]]:
        """The attributes of every element whose class list holds all words of ``cls``."""
        want = set(cls.split())
        return [a for _, a in self.elements if want <= set(a.get("class", "").split())]

    def canvas(self) -> tuple[float, float]:
        """The SVG's viewBox width and height."""
        _, _, width, height = map(float, self.elements[0][1]["viewbox"].split())
        return width, height


def drawn(kind: str, x: tuple[str, ...], series: dict[str, tuple[float, ...]],
          y_label: str = "") -> tuple[Drawing, Marks]:
    """The drawing of a chart, and its marks parsed."""
    drawing = draw(Chart(kind, "t", x, series, y_label), "chart-1")  # type: ignore[arg-type]
    return drawing, Marks(drawing.svg)


def assert_inside(marks: Marks) -> None:
    """Every coordinate in the SVG is a finite number within its canvas."""
    width, height = marks.canvas()
    for tag, attrs in marks.elements[1:]:
        for name in ("x", "x1", "x2", "cx", "y", "y1", "y2", "cy", "width", "height", "d"):
            if name not in attrs or tag == "svg":
                continue
            numbers = [float(n) for n in NUMBER.findall(attrs[name])]
            assert numbers and all(math.isfinite(n) for n in numbers), (tag, name, attrs)
            vertical = name in ("y", "y1", "y2", "cy", "height")
            limit = height if vertical else width
            if name == "d":
                xs, ys = numbers[0::2], numbers[1::2]
                assert all(0 <= v <= width for v in xs) and all(0 <= v <= height for v in ys)
            else:
                assert all(-0.01 <= v <= limit + 0.01 for v in numbers), (tag, name, attrs)


def test_a_line_has_a_point_per_value_and_breaks_at_missing_ones() -> None:
    """Points for finite values; the path restarts (M) after a gap; a lone value is a point."""
    nan = math.nan
    _, marks = drawn("line", ("a", "b", "c", "d", "e"),
                     {"one": (1.0, 2.0, nan, 4.0, 5.0), "two": (nan, 3.0, nan, nan, nan)})
    assert len(marks.of("mark point")) == 5
    (path,) = marks.of("mark line")  # "two" has no two adjacent values: no path
    assert path["d"].count("M") == 2 and path["d"].count("L") == 2
    assert path["stroke"] == PALETTE[0]
    assert "one · d: 4" in marks.titles and "two · b: 3" in marks.titles
    assert_inside(marks)


def test_bars_are_one_per_value_from_the_zero_line() -> None:
    """Grouped bars: up for positive, down for negative, a 1-px bar for zero, none for NaN."""
    _, marks = drawn("bar", ("a", "b"), {"before": (10.0, -5.0), "after": (0.0, math.nan)})
    bars = marks.of("mark bar")
    assert len(bars) == 3
    (zero,) = [a for _, a in marks.elements if "zero" in a.get("class", "").split()]
    base = float(zero["y1"])
    up, flat, down = bars  # label by label, series by series
    assert float(up["y"]) + float(up["height"]) == pytest.approx(base)
    assert float(down["y"]) == pytest.approx(base)
    assert float(flat["height"]) == 1.0 and float(flat["y"]) + 1.0 == pytest.approx(base)
    assert [b["fill"] for b in bars] == [PALETTE[0], PALETTE[1], PALETTE[0]]
    assert float(up["height"]) == pytest.approx(2 * float(down["height"]), rel=0.02)
    assert_inside(marks)


def test_stacks_put_positive_values_up_and_negative_down() -> None:
    """A segment per non-zero value; each stack's top is its positive total."""
    _, marks = drawn("stacked", ("d1", "d2"),
                     {"run": (3.0, 2.0), "throttled": (1.0, 0.0), "refund": (-2.0, math.nan)})
    segments = marks.of("mark segment")
    assert len(segments) == 4
    run, throttled, refund, run2 = segments
    assert float(throttled["y"]) + float(throttled["height"]) == pytest.approx(float(run["y"]))
    assert float(refund["y"]) == pytest.approx(float(run["y"]) + float(run["height"]))
    assert float(run2["height"]) == pytest.approx(float(run["height"]) * 2 / 3, rel=0.02)
    assert_inside(marks)


def test_a_heat_map_has_a_cell_per_value_coloured_low_to_high() -> None:
    """Cells for values, grey for missing, the lowest and highest at the scale's two ends."""
    drawing, marks = drawn("heatmap", ("00", "01", "02"),
                           {"Mon": (0.0, 5.0, 10.0), "Tue": (math.nan, 2.0)})
    cells = marks.of("mark cell")
    assert len(cells) == 4 and len(marks.of("missing")) == 2
    assert [c["fill"] for c in cells[:3]] == [HEAT[0], heat_colour(0.5), HEAT[-1]]
    assert all(m["fill"] == MISSING for m in marks.of("missing"))
    assert [k.label for k in drawing.legend] == ["0", "2", "5", "8", "10"]  # counts: whole
    assert any("2 values for 3 labels" in note for note in drawing.notes)
    assert_inside(marks)


def test_scales_of_counts_have_no_fractions() -> None:
    """Whole-number data get whole ticks and legend values; fractional data keep fractions."""
    assert ticks(0, 2, whole=True) == (0.0, 1.0, 2.0)
    assert ticks(0, 2) == (0.0, 0.5, 1.0, 1.5, 2.0)
    counts, _ = drawn("heatmap", ("00", "01"), {"Mon": (0.0, 1.0)})
    shares, _ = drawn("heatmap", ("00", "01"), {"Mon": (0.0, 0.5)})
    assert [k.label for k in counts.legend] == ["0", "1"]
    assert [k.label for k in shares.legend] == ["0", "0.125", "0.25", "0.375", "0.5"]
    bars, _ = drawn("bar", ("a", "b"), {"n": (1.0, 2.0)})
    assert re.findall(r'class="tick y"[^>]*>([^<]*)<', bars.svg) == ["0", "1", "2"]


def test_a_heat_map_of_equal_values_is_one_middle_colour() -> None:
    """No spread, no division by zero: every cell takes the scale's middle."""
    drawing, marks = drawn("heatmap", ("00", "01"), {"Mon": (4.0, 4.0)})
    assert {c["fill"] for c in marks.of("mark cell")} == {heat_colour(0.5)}
    assert [k.label for k in drawing.legend] == ["4"]


@pytest.mark.parametrize("kind", ["line", "bar", "stacked", "heatmap"])
def test_huge_negative_zero_and_infinite_values_stay_on_the_canvas(kind: str) -> None:
    """Any float, even 1e308, -1e308 or inf, gives finite coordinates inside the canvas."""
    values = (1e308, -1e308, 0.0, math.inf, -math.inf, 5e-324, 3e12)
    drawing, marks = drawn(kind, tuple("abcdefg"), {"s": values, "t": tuple(reversed(values))})
    assert drawing.svg and not re.search(r"\b(nan|inf)", drawing.svg, re.IGNORECASE)
    assert_inside(marks)


def test_no_data_draws_nothing() -> None:
    """No labels, no series, or no finite value: no SVG (the page shows a note instead)."""
    for chart in (Chart("line", "t", (), {}), Chart("bar", "t", ("a",), {}),
                  Chart("stacked", "t", ("a", "b"), {"s": (math.nan, math.inf)}),
                  Chart("heatmap", "t", ("a",), {"s": ()})):
        assert draw(chart, "chart-1").svg == "", chart


def test_the_svg_is_labelled_for_assistive_technology() -> None:
    """role=img, labelled by its own title and description, which name the kind and unit."""
    _, marks = drawn("bar", ("a",), {"runs": (3.0,)}, y_label="runs")
    svg = marks.elements[0][1]
    assert svg["role"] == "img" and svg["aria-labelledby"] == "chart-1-title chart-1-desc"
    ids = {a.get("id") for _, a in marks.elements}
    assert {"chart-1-title", "chart-1-desc"} <= ids
    assert "Bar chart: 1 series over 1 labels; values in runs." in marks.titles


def test_labels_are_escaped_and_long_ones_shortened_with_the_full_text_as_title() -> None:
    """A hostile x label stays text; a long one is cut with an ellipsis on the axis."""
    label = '</text></svg><script>alert(1)</script>"' + "x" * 40
    drawing, marks = drawn("bar", (label, "b", "c"), {"<b>s</b>": (1.0, 2.0, 3.0)})
    assert "<script>" not in drawing.svg and "</svg><" not in drawing.svg[:-6]
    assert label in marks.titles and "<b>s</b> · " + label + ": 1" in marks.titles
    assert any(t.endswith("…") for t in re.findall(r">([^<>]+)</text>", drawing.svg))


def test_ticks_are_round_and_cover_zero() -> None:
    """1, 2 or 5 times a power of ten; the range always includes zero."""
    assert ticks(0, 812) == (0.0, 200.0, 400.0, 600.0, 800.0, 1000.0)
    assert ticks(-3, 5) == (-4.0, -2.0, 0.0, 2.0, 4.0, 6.0)
    assert ticks(10, 40)[0] == 0.0
    assert ticks(0, 0) == (0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0)


@pytest.mark.parametrize(("value", "step", "text"), [
    (0.0, 200.0, "0"), (1500.0, 500.0, "1.5k"), (1000.0, 500.0, "1k"), (800.0, 200.0, "800"),
    (2e12, 1e12, "2T"), (-4e12, 2e12, "-4T"), (0.6000000000000001, 0.2, "0.6"),
    (0.25, 0.05, "0.25"), (1e22, 1e22, "1e+22"), (3e-12, 1e-12, "3e-12"),
])
def test_tick_labels_are_short(value: float, step: float, text: str) -> None:
    """Thousands as k, M, G, T…; no float noise; exponent form at the extremes."""
    assert fmt_tick(value, step) == text


def test_values_and_text_are_formatted_for_people() -> None:
    """Whole numbers without a fraction; others to 6 digits; missing is a dash; text escaped."""
    assert [fmt_value(v) for v in (3.0, 1 / 3, 1e20, -2.5, None)] == \
        ["3", "0.333333", "1e+20", "-2.5", "–"]
    assert escape("<a href=\"x\">'&'</a>\x00\ud800") == \
        "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;\ufffd\ufffd"
