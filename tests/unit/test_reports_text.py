"""The terminal rendering of a report: fitted widths, cut cells, aligned numbers."""

from __future__ import annotations

from remediator.reports.doc import Chart, ReportDoc, Table
from remediator.reports.text import ELLIPSIS, cut, render_text, table_text

LONG = "a very long alert title that goes on and on, far beyond any sensible column width"
TABLE = Table(title="Things", columns=("alert type", "volume", "median to resolve", "why"),
              rows=((LONG, 1200, "3h 05m", "because " * 20), ("Short", 7, None, "ok")),
              notes=("volume: " + "occurrences " * 15,))


def test_lines_fit_the_width_and_long_cells_end_in_an_ellipsis() -> None:
    """Every line stays within the width; cut cells end with the ellipsis."""
    for width in (60, 80, 120):
        text = table_text(TABLE, width)
        assert max(len(line) for line in text.splitlines()) <= width
        assert ELLIPSIS in text
    wide = table_text(TABLE, 400)
    assert LONG in wide and ELLIPSIS not in wide


def test_the_column_naming_rows_keeps_its_start() -> None:
    """At 80 columns the alert type keeps at least 24 characters."""
    row = next(line for line in table_text(TABLE, 80).splitlines() if line.startswith("a very"))
    kept = row.split(ELLIPSIS)[0]
    assert len(kept) >= 23 and LONG.startswith(kept)


def test_numbers_align_right_text_left_and_none_is_a_dash() -> None:
    lines = table_text(TABLE, 400).splitlines()
    header, first, second = lines[1], lines[3], lines[4]
    volume_end = header.index("volume") + len("volume")
    assert first[:volume_end].endswith("1200") and second[:volume_end].endswith("   7")
    assert "  -  " in second  # no median: a dash
    assert second.rstrip().endswith("ok")


def test_long_headers_wrap_before_cells_are_cut() -> None:
    """Narrow: 'median to resolve' breaks onto two lines above the rule."""
    lines = table_text(TABLE, 70).splitlines()
    rule = next(n for n, line in enumerate(lines) if set(line.replace(" ", "")) == {"-"})
    assert rule >= 3  # title plus two header lines
    assert "resolve" in lines[rule - 1]


def test_cut_marks_the_cut() -> None:
    assert cut("abcdef", 4) == "abc" + ELLIPSIS
    assert cut("abc", 4) == "abc"


def test_the_whole_report_has_title_summary_tables_and_chart_names() -> None:
    doc = ReportDoc(name="noise", title="Alert noise", generated_at="2026-03-02T00:00:00+00:00",
                    source="x.csv", summary=("3 things",), tables=(TABLE,),
                    charts=(Chart(kind="bar", title="Per type", x=("a",),
                                  series={"n": (1.0,)}),))
    text = render_text(doc, 100)
    assert text.startswith("Alert noise\n  source: x.csv  generated: 2026-03-02T00:00:00")
    assert "  3 things" in text and "Things" in text
    assert text.rstrip().endswith("charts (in --html): Per type")


def test_paths_and_names_in_the_summary_are_never_broken() -> None:
    """A summary line wraps between words, never inside a path or a hyphenated host name, so
    what it names can be copied from the terminal."""
    path = "/tmp/pytest-of-root/popen-gw0/test-text-output-shows-the-tables/history.jsonl"
    doc = ReportDoc(name="simulate", title="Simulation", generated_at="2026-03-02T00:00:00+00:00",
                    source=path, summary=(f"1 incidents from {path}, on web-01 and db-02",))
    lines = render_text(doc, 60).splitlines()
    assert f"    {path}," in lines
    assert any(line.endswith(" web-01 and db-02") for line in lines)
