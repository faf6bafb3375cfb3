"""A simulation's counts as the shared ReportDoc: tables, the per-day chart, JSON data."""

from __future__ import annotations

import json
from collections import Counter

from remediator.history.simulate import Tally
from remediator.history.simulation_report import report


def tally() -> Tally:
    """Counts over three days with a quiet day in between."""
    counts = Tally(incidents=5)
    counts.deliveries.update({"firing": 5, "resolved": 3})
    counts.actions.update({"run": 3, "escalate": 2})
    counts.reasons.update({"stage": Counter({"run": 3}), "throttle-host": Counter({"escalate": 2})})
    counts.examples.update({"stage": "stage observe: check-mode run",
                            "throttle-host": "throttled: 3 runs on this host"})
    counts.entries["disk"] = Counter({"run": 3, "escalate": 2, "check": 3})
    counts.stages["disk"] = "observe"
    counts.modes[("observe", "check")] = 3
    counts.runs[("observe", "check")] = 2
    counts.hosts[("observe", "check")] = 3
    counts.days.update({"2026-03-02": Counter({"run": 2, "runs": 2}),
                        "2026-03-04": Counter({"run": 1, "escalate": 2, "runs": 1})})
    return counts


def test_the_chart_has_one_bar_per_day_quiet_days_included() -> None:
    doc = report(tally(), "h.jsonl")
    (chart,) = doc.charts
    assert chart.kind == "stacked"
    assert chart.x == ("2026-03-02", "2026-03-03", "2026-03-04")
    assert dict(chart.series) == {"run": (2.0, 0.0, 1.0), "pending": (0.0, 0.0, 0.0),
                                  "skip": (0.0, 0.0, 0.0), "escalate": (0.0, 0.0, 2.0)}


def test_tables_and_data_agree() -> None:
    doc = report(tally(), "h.jsonl", skipped=1)
    assert doc.name == "simulate" and doc.source == "h.jsonl"
    tables = {t.title: t for t in doc.tables}
    assert tables["Decisions by action (firing alerts)"].rows == (
        ("run", 3, "60.0%"), ("pending", 0, "0.0%"), ("skip", 0, "0.0%"),
        ("escalate", 2, "40.0%"))
    assert tables["Runs by stage and mode"].rows == (("observe", "check", 3, 2, 3),)
    assert [row[0] for row in tables["Why, by reason code"].rows] == ["stage", "throttle-host"]
    assert tables["By entry"].rows == (("disk", "observe", 3, 0, 0, 2, 3, 0),)
    data = json.loads(json.dumps(doc.data))
    assert data["actions"] == {"run": 3, "pending": 0, "skip": 0, "escalate": 2}
    assert data["skipped_rows"] == 1
    assert "1 bad rows were skipped" in doc.summary
    assert doc.summary[1] == "run 3, pending approval 0, skip 0, escalate 2 (2 playbook runs)"
