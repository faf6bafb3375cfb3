"""The terminal rendering of a report: tables fitted to the width by wrapping, never cut;
numbers aligned right and kept whole."""

from __future__ import annotations

from remediator.reports.doc import Chart, ReportDoc, Table
from remediator.reports.text import render_text, table_text

LONG = "a very long alert title that goes on and on, far beyond any sensible column width"
TABLE = Table(title="Things", columns=("alert type", "volume", "median to resolve", "why"),
              rows=((LONG, 1200, "3h 05m", "because " * 20), ("Short", 7, None, "ok")),
              notes=("volume: " + "occurrences " * 15,))


def words(text: str) -> list[str]:
    return text.split()


def test_lines_fit_the_width_and_nothing_is_cut() -> None:
    """Every line stays within the width; every word of every cell and header is there."""
    for width in (60, 80, 120):
        text = table_text(TABLE, width)
        assert max(len(line) for line in text.splitlines()) <= width
        assert "…" not in text
        assert " ".join(words(LONG)) in " ".join(words(text)) or set(words(LONG)) <= set(
            words(text))
        for header in TABLE.columns:
            assert set(header.split()) <= set(words(text))
    wide = table_text(TABLE, 400)
    assert LONG in wide


def test_numbers_align_right_text_left_and_none_is_a_dash() -> None:
    lines = table_text(TABLE, 400).splitlines()
    header, first, second = lines[1], lines[3], lines[4]
    volume_end = header.index("volume") + len("volume")
    assert first[:volume_end].endswith("1200") and second[:volume_end].endswith("   7")
    assert "  -  " in second  # no median: a dash
    assert second.rstrip().endswith("ok")


def test_long_headers_wrap_and_numbers_stay_whole() -> None:
    """Narrow: 'median to resolve' breaks between its words above the rule; 1200 and 3h 05m
    keep their digits together."""
    lines = table_text(TABLE, 50).splitlines()
    rule = next(n for n, line in enumerate(lines) if set(line.strip()) == {"─"})
    assert rule >= 3  # title plus two header lines
    assert "resolve" in lines[rule - 1]
    assert "1200" in lines[rule + 1] and "3h" in "".join(lines[rule + 1:])
    assert "05m" in "".join(lines[rule + 1:])


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
    """A summary line wraps between words, never inside a path or a hyphenated host name that
    fits on a line, so what it names can be copied from the terminal."""
    path = "/tmp/pytest-of-root/popen-gw0/text-output/history.jsonl"
    doc = ReportDoc(name="simulate", title="Simulation", generated_at="2026-03-02T00:00:00+00:00",
                    source=path, summary=(f"1 incidents from {path}, on web-01 and db-02",))
    lines = render_text(doc, 60).splitlines()
    assert max(len(line) for line in lines) <= 60
    assert any(f"{path}," in line for line in lines)
    assert any(line.endswith(" web-01 and db-02") or "web-01 and db-02" in line
               for line in lines)
