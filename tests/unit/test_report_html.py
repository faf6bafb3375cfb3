"""remediator.reports.html: one self-contained page, every string escaped, the same bytes each time.

Pages are read back with the standard library's HTML parser, so "escaped" means what a browser's
tokenizer sees: hostile strings come back as text, never as tags or attributes.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from html.parser import HTMLParser

from remediator.reports.doc import Chart, ReportDoc, Table
from remediator.reports.html import CSS, render_html

HOSTILE = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onload='alert(1)",
    "</svg><svg onload=alert(1)>",
    "</style></title></textarea><!-- x -->",
    "<![CDATA[ ]]> &amp; &lt;",
    "javascript:alert(1)",
)
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "strong", "time",
    "main", "section", "ul", "li", "div", "figure", "figcaption", "svg", "desc", "text", "line",
    "path", "circle", "rect", "details", "summary", "table", "caption", "thead", "tbody", "tr",
    "th", "td", "footer",
}
ALLOWED_ATTRS = {
    "lang", "charset", "http-equiv", "content", "name", "class", "id", "datetime", "viewbox",
    "role", "aria-labelledby", "aria-label", "aria-hidden", "x", "y", "x1", "x2", "y1", "y2", "cx",
    "cy", "r", "d", "width", "height", "fill", "stroke", "stroke-width", "stroke-dasharray",
    "text-anchor", "dominant-baseline", "transform", "scope", "colspan",
}


class Page(HTMLParser):
    """A parsed page: its tags with attributes, and its text (entities resolved)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str) -> list[dict[str, str | None]]:
        """The attributes of every ``tag`` element."""
        return [attrs for name, attrs in self.tags if name == tag]


def full_doc(text: str = "plain") -> ReportDoc:
    """A report using every field, with ``text`` in each string a report could carry."""
    return ReportDoc(
        name="noise", title=f"Noise {text}", generated_at=f"2026-11-26T09:00:00Z{text}",
        source=f"history.csv {text}", summary=(f"12 alerts {text}", "second line"),
        tables=(Table(f"Per type {text}", ("alert", f"count {text}", "share"),
                      ((f"DiskSpaceLow {text}", 12, 0.5), ("ServiceDown", 3, None)),
                      notes=(f"because {text}",)),),
        charts=(
            Chart("line", f"Volume {text}", ("2026-11-01", f"2026-11-02 {text}"),
                  {f"DiskSpaceLow {text}": (3.0, 4.0)}, y_label=f"alerts {text}"),
            Chart("heatmap", f"Hours {text}", ("00", "01"), {f"Mon {text}": (1.0, 2.0)}),
            Chart("bar", f"Outcomes {text}", (f"ok {text}", "failed"), {f"runs {text}": (5.0, 1.0)}),
            Chart("stacked", f"Actions {text}", ("d1", "d2"), {f"run {text}": (1.0, 2.0)}),
        ),
    )


def test_the_page_is_one_html5_file_that_names_nothing_outside_itself() -> None:
    """Doctype, charset, inline style and SVG; no URL, script, style attribute or import."""
    page = render_html(full_doc())
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">")
    for needle in ("//", "http:", "https:", "src=", "href=", "url(", "@import", "<script",
                   "style=", "xmlns", "<link", "<img", "@font-face"):
        assert needle not in page, needle
    assert page.count("<svg class=\"chart") == 4


def test_the_csp_forbids_every_fetch_and_admits_only_the_pages_own_stylesheet() -> None:
    """default-src 'none', no inline script or style but the one stylesheet, named by its hash."""
    parsed = Page(render_html(full_doc()))
    metas = [m for m in parsed.find("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    assert len(metas) == 1
    assert parsed.tags[:3] == [("html", {"lang": "en"}), ("head", {}), ("meta", {"charset": "utf-8"})]
    assert parsed.tags[3][1] is metas[0]  # before anything the policy governs
    policy = dict(d.strip().split(" ", 1) for d in str(metas[0]["content"]).split(";"))
    digest = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
    assert policy == {"default-src": "'none'", "style-src": f"'sha256-{digest}'",
                      "base-uri": "'none'", "form-action": "'none'"}
    styles = re.findall(r"<style>(.*?)</style>", render_html(full_doc()), re.DOTALL)
    assert styles == [CSS]  # the hash is of exactly what the page holds


def test_hostile_strings_come_back_as_text_and_never_as_markup() -> None:
    """Every field with every hostile string: only known tags and attributes, the text intact."""
    for hostile in HOSTILE:
        page = render_html(full_doc(hostile))
        parsed = Page(page)
        assert {tag for tag, _ in parsed.tags} <= ALLOWED_TAGS, hostile
        assert {a for _, attrs in parsed.tags for a in attrs} <= ALLOWED_ATTRS, hostile
        text = "".join(parsed.text)
        for shown in (f"Noise {hostile}", f"12 alerts {hostile}", f"because {hostile}",
                      f"DiskSpaceLow {hostile}", f"Per type {hostile}", f"Volume {hostile}"):
            assert shown in text, (hostile, shown)
        assert parsed.find("time")[0]["datetime"] == f"2026-11-26T09:00:00Z{hostile}"
        if re.search("[<>&\"']", hostile):
            assert hostile not in page, hostile  # it holds a character that must be escaped


def test_characters_a_document_cannot_hold_are_replaced() -> None:
    """NUL, escape sequences and lone surrogates become U+FFFD; the page encodes as UTF-8."""
    page = render_html(full_doc("a\x00b\x1b[31mc\ud800d\x7f"))
    page.encode("utf-8")
    assert "a\ufffdb\ufffd[31mc\ufffdd\ufffd" in page
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", page)


def test_the_same_report_gives_the_same_bytes() -> None:
    """Rendering is deterministic: twice the same doc, or an equal one built again."""
    assert render_html(full_doc()) == render_html(full_doc()) == render_html(full_doc("plain"))


def test_table_cells_are_formatted_and_numbers_align_right() -> None:
    """None is empty, booleans are yes/no, floats are short, short rows are padded."""
    doc = ReportDoc("candidates", "t", "2026-11-26T09:00:00Z", "store", tables=(
        Table("ranked", ("a", "b", "c", "d"),
              ((None, True, 1 / 3, 12), ("x", False, 2.0, ["web-01", "web-02"]), ("short",))),))
    page = render_html(doc)
    assert ('<tr><td></td><td>yes</td><td class="num">0.333333</td><td class="num">12</td></tr>'
            in page)
    assert '<tr><td>x</td><td>no</td><td class="num">2</td><td>web-01, web-02</td></tr>' in page
    assert "<tr><td>short</td><td></td><td></td><td></td></tr>" in page
    assert "<caption>ranked</caption>" in page


def test_an_empty_table_and_an_empty_report_say_so() -> None:
    """A table without rows shows "No rows."; a report with nothing says that too."""
    doc = ReportDoc("trends", "t", "now", "store", tables=(Table("rising", ("entry",), ()),))
    assert '<td colspan="1" class="empty">No rows.</td>' in render_html(doc)
    assert "This report has nothing to show." in render_html(ReportDoc("trends", "t", "now", "s"))


def test_each_chart_is_a_figure_with_caption_legend_and_its_data() -> None:
    """A figure per chart, in order, with its SVG, a legend and a table of the numbers."""
    doc = full_doc()
    page = render_html(doc)
    parsed = Page(page)
    assert [f["id"] for f in parsed.find("figure")] == ["chart-1", "chart-2", "chart-3", "chart-4"]
    assert page.count('<ul class="legend"') == 4 and page.count("<summary>Data</summary>") == 4
    assert "<caption>Data: Volume plain</caption>" in page
    assert "<td>2026-11-02 plain</td><td>4</td>" in page  # line data: a row per label
    assert "<td>Mon plain</td><td>1</td><td>2</td>" in page  # heat map data: a row per series


def test_a_chart_without_data_is_a_note_not_a_broken_chart() -> None:
    """No labels, no series, or only NaN: a "no data" note and no SVG."""
    charts = (Chart("line", "none", (), {}), Chart("bar", "no series", ("a",), {}),
              Chart("heatmap", "nan", ("00",), {"Mon": (math.nan,)}),
              Chart('pie" onload="x', "unknown kind", ("a",), {"s": (1.0,)}))  # type: ignore[arg-type]
    page = render_html(ReportDoc("noise", "t", "now", "s", charts=charts))
    assert page.count("No data for this chart.") == 4
    assert "<svg class=\"chart" not in page
    assert "1 value(s) are not finite numbers" in page
    assert 'class="pie&quot; onload=&quot;x empty"' in page
    assert "Unknown chart kind “pie&quot; onload=&quot;x”: not drawn." in page
