"""The --html report in a real browser: Debian's headless Chromium (`bash scripts/setup-chromium.sh`)
opens a realistic report with hostile labels, and the test checks that it renders, that every chart
shows one visible mark per value, that no request leaves the page, and keeps a screenshot.

The browser (tests/browser.py) is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no port,
no websocket library), so the test reads the live DOM, the layout boxes of the SVG marks and every
network event. "No request leaves the machine" is checked three ways, each shown to work by a
probe page that does make requests: (1) the DevTools network log of the report holds exactly one
request, the report file itself; (2) Chromium's only way out is a proxy on a loopback port that
records every connection (``--proxy-server``, ``--proxy-bypass-list=<-loopback>``), and host names
resolve to nothing (``--host-resolver-rules``): the recorder sees no connection but Chromium's own
(``BROWSER_OWN``, made whatever page is open); (3) a copy of
the report with an injected ``<img src=http://...>`` is blocked by the page's own
Content-Security-Policy before any connection is tried.

The screenshot is kept at ``tests/artifacts/report-html.png`` (git-ignored; set
``REMEDIATOR_TEST_ARTIFACTS`` to put it elsewhere, e.g. a CI artifact folder).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from remediator.reports.doc import Chart, ReportDoc, Table
from remediator.reports.html import render_html
from tests.browser import SCREEN_WIDTH, Recorder, launch
from tests.conftest import REPO

pytestmark = pytest.mark.browser
ARTIFACTS = Path(os.environ.get("REMEDIATOR_TEST_ARTIFACTS") or REPO / "tests" / "artifacts")
HOSTILE = (
    "<script>alert(1)</script>",
    '"><img src="http://remediator-probe.invalid/leak.png" onerror="alert(1)">',
    "</svg><svg onload=alert(1)>",
    "</table></style></title><!-- -->",
    "' onmouseover='alert(1)",
    "javascript:alert(1)",
    "{{ lookup('pipe','id') }} & ünïcødé ✓ Ωμέγα Привет",
)


def realistic_doc() -> ReportDoc:
    """An effectiveness-style report with all four chart kinds, an empty chart and hostile text."""
    rng = random.Random(7)
    days = tuple(f"2026-10-{d:02d}" for d in range(29, 32)) + tuple(
        f"2026-11-{d:02d}" for d in range(1, 26))
    weekdays = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    volume = {
        "DiskSpaceLow": tuple(float(rng.randint(5, 40)) for _ in days),
        "ServiceDown": tuple(math.nan if i in (9, 10) else float(rng.randint(0, 12))
                             for i in range(len(days))),
        HOSTILE[0]: tuple(float(rng.randint(0, 3)) for _ in days),
    }
    heat = {day: tuple(float(rng.randint(0, 6) + (25 if 8 <= h <= 10 and day not in ("Sat", "Sun")
                                                  else 0)) for h in range(24))
            for day in weekdays}
    per_day = {action: tuple(float(rng.randint(lo, hi)) for _ in range(14))
               for action, lo, hi in (("run", 8, 30), ("throttled", 0, 6), ("escalated", 0, 3),
                                      (HOSTILE[2], 0, 2))}
    entries = ("disk-space-cleanup", "restart-nginx", HOSTILE[1])
    return ReportDoc(
        name="effectiveness", title=f"Automation effectiveness {HOSTILE[3]}",
        generated_at="2026-11-26T09:00:00Z", source=f"history.csv {HOSTILE[4]}",
        summary=("1234 alerts, 812 resolved without a person (66%)",
                 f"31.5 person-hours of toil saved; worst entry: {HOSTILE[0]}"),
        charts=(
            Chart("line", "Alerts per day", days, volume, y_label="alerts"),
            Chart("heatmap", "When alerts fire: hour of day by day of week",
                  tuple(f"{h:02d}" for h in range(24)), heat, y_label="alerts"),
            Chart("bar", "Median time to resolve, before and after automation", entries,
                  {"before": (42.0, 18.5, 7.0), "after": (3.0, 2.5, 0.0)}, y_label="minutes"),
            Chart("bar", "Runs by outcome", ("succeeded", "failed", "timeout", "blocked"),
                  {"runs": (812.0, 23.0, 4.0, 51.0)}, y_label="runs"),
            Chart("stacked", "Runs per day by action", days[-14:], per_day, y_label="runs"),
            Chart("line", f"Re-fires after a fix {HOSTILE[5]}", (), {}),
        ),
        tables=(
            Table("Per entry", ("entry", "runs", "resolved without a person", "median before (min)",
                                "toil saved (h)"),
                  (("disk-space-cleanup", 812, "94%", 42.0, 31.5),
                   ("restart-nginx", 51, "80%", 18.5, 4.25),
                   (HOSTILE[1], 3, None, 7.0, 0.1)),
                  notes=(f"disk-space-cleanup: 812 runs × 2.3 min {HOSTILE[6]}", HOSTILE[3])),
            Table(HOSTILE[2], (HOSTILE[0], "n"), ((HOSTILE[5], 1), (HOSTILE[6], 2))),
        ),
    )


def expected_marks(chart: Chart) -> dict[str, int]:
    """How many visible marks of each kind ``chart`` should show, counted from its data."""
    finite = [[isinstance(v, float) and math.isfinite(v) for v in values[:len(chart.x)]]
              for values in chart.series.values()]
    count = sum(map(sum, finite))
    if chart.kind == "line":
        joined = sum(any(a and b for a, b in itertools.pairwise(f)) for f in finite)
        return {"points": count, "lines": joined}
    if chart.kind == "bar":
        return {"bars": count}
    if chart.kind == "stacked":
        nonzero = sum(1 for values in chart.series.values() for v in values[:len(chart.x)]
                      if math.isfinite(v) and v != 0)
        return {"segments": nonzero}
    return {"cells": count, "missing": len(chart.x) * len(chart.series) - count}


# What the page shows, read from the live DOM and the SVG layout boxes (getBBox, getTotalLength).
DOM_FACTS = """(() => {
  const figures = [...document.querySelectorAll('figure')].map(f => {
    const svg = f.querySelector('svg.chart');
    const vb = svg ? svg.viewBox.baseVal : null;
    const inside = b => b.x >= -0.5 && b.y >= -0.5 && b.x + b.width <= vb.width + 0.5
      && b.y + b.height <= vb.height + 0.5;
    const box = el => { const b = el.getBBox(); return b.width > 0 && b.height > 0 && inside(b); };
    const stroke = el => el.getTotalLength() > 0 && inside(el.getBBox());
    const count = (sel, ok) => svg ? [...svg.querySelectorAll(sel)].filter(ok).length : 0;
    return {caption: f.querySelector('figcaption').textContent,
      nodata: f.querySelector('.nodata') !== null,
      shown: svg ? [svg.getBoundingClientRect().width, svg.getBoundingClientRect().height] : null,
      lines: count('path.mark.line', stroke), points: count('circle.mark.point', box),
      bars: count('rect.mark.bar', box), segments: count('rect.mark.segment', box),
      cells: count('rect.mark.cell', box), missing: count('rect.missing', box),
      titles: svg ? [...svg.querySelectorAll('.mark > title')].map(t => t.textContent) : [],
      legend: [...f.querySelectorAll('.legend li')].map(li => li.textContent)};
  });
  const tables = [...document.querySelectorAll('[id^="table-"] table')].map(t => ({
    caption: t.caption.textContent,
    columns: [...t.tHead.rows[0].cells].map(c => c.textContent),
    rows: [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent))}));
  const attrs = [...document.querySelectorAll('*')].flatMap(el => [...el.attributes]
    .filter(a => /^on|^(src|href|style|xlink:href)$/.test(a.name)).map(a => el.tagName + ' ' + a.name));
  return {title: document.title, h1: document.querySelector('h1').textContent,
    meta: document.querySelector('.meta').textContent, figures, tables,
    summary: [...document.querySelectorAll('.summary li')].map(li => li.textContent),
    notes: [...document.querySelectorAll('.notes li')].map(li => li.textContent),
    active: [...document.querySelectorAll('script, img, link, iframe, object, embed, form, base, '
      + 'body style, meta[http-equiv="refresh"]')].map(el => el.tagName),
    attrs, styled: getComputedStyle(document.querySelector('table')).borderCollapse,
    height: document.documentElement.scrollHeight};
})()"""


@dataclass
class Visit:
    """What one browser session saw: the report, the probes, the recorder, the screenshot."""

    doc: ReportDoc
    report: Path
    facts: dict[str, Any]
    report_events: list[dict[str, Any]]
    report_connections: list[str]
    csp_events: list[dict[str, Any]]
    csp_connections: list[str]
    probe_events: list[dict[str, Any]]
    probe_connections: list[str]
    screenshot: Path


@pytest.fixture(scope="module")
def visit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Visit]:
    """Render the report, open it (and the probes) in one Chromium, take the screenshot."""
    started = time.monotonic()
    workdir = tmp_path_factory.mktemp("report-html")
    doc = realistic_doc()
    page = render_html(doc)
    report = workdir / "report.html"
    report.write_text(page, encoding="utf-8")
    injected = workdir / "injected.html"  # as if escaping had failed: CSP must still block it
    injected.write_text(page.replace("<main>", '<main><img src="http://remediator-probe.invalid'
                                     '/csp.png">', 1), encoding="utf-8")
    probe = workdir / "probe.html"  # no CSP: its requests must show up in both instruments
    probe.write_text('<!DOCTYPE html><title>probe</title><img src="http://remediator-probe.invalid'
                     '/leak.png">', encoding="utf-8")
    phases: dict[str, float] = {}  # seconds per step, kept with the screenshot

    def lap(name: str) -> None:
        phases[name] = round(time.monotonic() - started - sum(phases.values()), 3)

    recorder = Recorder()
    browser = launch(workdir, recorder.port)
    lap("start")
    try:
        report_events = browser.load(report)
        lap("load report")
        facts = browser.evaluate(DOM_FACTS)
        png = browser.screenshot(SCREEN_WIDTH, facts["height"])
        lap("read DOM, screenshot")
        report_connections = recorder.connections()
        csp_events = browser.load(injected)
        csp_connections = recorder.connections()
        lap("load injected copy")
        probe_events = browser.load(probe)
        deadline = time.monotonic() + 5
        while not recorder.connections() and time.monotonic() < deadline:
            time.sleep(0.02)
        probe_connections = recorder.connections()
        lap("load probe, its connection")
    finally:
        browser.close()
        lap("close")
        recorder.sock.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "report-html.png"
    screenshot.write_bytes(png)
    (ARTIFACTS / "report-html.html").write_text(page, encoding="utf-8")
    (ARTIFACTS / "report-html-timings.json").write_text(json.dumps(phases, indent=2) + "\n")
    yield Visit(doc, report, facts, report_events, report_connections, csp_events,
                csp_connections, probe_events, probe_connections, screenshot)


def requests(events: list[dict[str, Any]]) -> list[str]:
    """The URLs of the requests in ``events``."""
    return [e["params"]["request"]["url"] for e in events
            if e.get("method") == "Network.requestWillBeSent"]


# --- the tests ------------------------------------------------------------------------------------

def test_the_report_renders_text_and_tables_with_hostile_strings_as_plain_text(visit: Visit) -> None:
    """Title, summary, tables and notes show every hostile string as text; nothing became markup."""
    facts, doc = visit.facts, visit.doc
    assert facts["title"] == facts["h1"] == doc.title
    assert doc.source in facts["meta"] and doc.generated_at in facts["meta"]
    assert facts["summary"] == list(doc.summary)
    assert facts["notes"] == list(doc.tables[0].notes)
    assert [t["caption"] for t in facts["tables"]] == [t.title for t in doc.tables]
    assert facts["tables"][1]["columns"] == list(doc.tables[1].columns)
    assert [row[0] for row in facts["tables"][0]["rows"]] == [r[0] for r in doc.tables[0].rows]
    assert facts["tables"][1]["rows"] == [[HOSTILE[5], "1"], [HOSTILE[6], "2"]]
    assert facts["active"] == [] and facts["attrs"] == []
    assert facts["styled"] == "collapse"  # the stylesheet applied: its CSP hash is right


def test_every_chart_shows_one_visible_mark_per_value(visit: Visit) -> None:
    """Each chart is laid out and has as many non-empty marks, inside its box, as data values."""
    figures = visit.facts["figures"]
    assert [f["caption"] for f in figures] == [c.title for c in visit.doc.charts]
    for chart, seen in zip(visit.doc.charts, figures, strict=True):
        if not chart.x:
            assert seen["nodata"] and seen["shown"] is None, chart.title
            continue
        assert not seen["nodata"], chart.title
        width, height = seen["shown"]
        assert width > 400 and height > 100, chart.title
        for kind, count in expected_marks(chart).items():
            assert seen[kind] == count, (chart.title, kind)
        if chart.kind != "heatmap":
            assert seen["legend"] == list(chart.series), chart.title
    assert any(t.startswith(f"{HOSTILE[0]} · 2026-10-29: ") for t in figures[0]["titles"])


def test_no_request_leaves_the_page(visit: Visit) -> None:
    """The report's only request is the file itself; no error, no CSP issue, no connection."""
    assert requests(visit.report_events) == [visit.report.as_uri()]
    problems = [e["params"] for e in visit.report_events if e.get("method") in (
        "Network.loadingFailed", "Log.entryAdded", "Audits.issueAdded")]
    assert problems == []
    assert visit.report_connections == []


def test_an_injected_request_is_blocked_by_the_pages_csp(visit: Visit) -> None:
    """Markup slipped into the report (as if escaping failed) is stopped before it connects."""
    blocked = [e["params"].get("blockedReason") for e in visit.csp_events
               if e.get("method") == "Network.loadingFailed"]
    assert "http://remediator-probe.invalid/csp.png" in requests(visit.csp_events)
    assert blocked == ["csp"]
    assert visit.csp_connections == []


def test_the_instruments_see_a_request_when_a_page_makes_one(visit: Visit) -> None:
    """The probe page (no CSP) shows up in the DevTools log and at the recorder: the checks above
    are not blind."""
    assert "http://remediator-probe.invalid/leak.png" in requests(visit.probe_events)
    assert "GET http://remediator-probe.invalid/leak.png HTTP/1.1" in visit.probe_connections


def test_the_screenshot_is_kept_and_shows_the_charts(visit: Visit) -> None:
    """The PNG has the page's size and is not blank: many colours, the palette's among them."""
    width, height, pixels = read_png(visit.screenshot.read_bytes())
    assert (width, height) == (SCREEN_WIDTH, visit.facts["height"])
    colours = distinct_colours(width, pixels)
    assert len(colours) > 50
    for hex_colour in ("#0072b2", "#e69f00", "#009e73", "#081d58", "#ffffff"):
        assert bytes.fromhex(hex_colour[1:]) in colours, hex_colour


# --- reading a PNG with the standard library ------------------------------------------------------

def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows (RGB, 8 bits) of a non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, colour_type, interlace) in ((8, 2, 0), (8, 6, 0))
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    assert len(raw) == height * (stride + 1)
    rows: list[bytes] = []
    prior = bytes(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        prior = unfilter(kind, line, prior, bpp)
        rows.append(prior if bpp == 3 else bytes(b for i, b in enumerate(prior) if i % 4 != 3))
    return width, height, rows


def unfilter(kind: int, line: bytes, prior: bytes, bpp: int) -> bytes:
    """One PNG row with its filter undone (filters 0-4); Up, the common one, in big-int arithmetic."""
    if kind == 0:
        return line
    if kind == 2:  # bytewise (a + b) mod 256 without carries between bytes
        n, low, high = len(line), int.from_bytes(b"\x7f" * len(line)), int.from_bytes(b"\x80" * len(line))
        a, b = int.from_bytes(line), int.from_bytes(prior)
        return (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(n)
    out = bytearray(line)
    for i in range(len(out)):
        left = out[i - bpp] if i >= bpp else 0
        up, corner = prior[i], prior[i - bpp] if i >= bpp else 0
        if kind == 1:
            out[i] = (out[i] + left) & 255
        elif kind == 3:
            out[i] = (out[i] + (left + up) // 2) & 255
        else:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            out[i] = (out[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
    return bytes(out)


def distinct_colours(width: int, rows: list[bytes]) -> set[bytes]:
    """The distinct RGB colours in the image."""
    colours: set[bytes] = set()
    for row in rows:
        colours.update(row[i:i + 3] for i in range(0, width * 3, 3))
    return colours
