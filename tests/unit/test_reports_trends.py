"""`report trends`: runs per entry per ISO week and the "more and more often" flag."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from remediator.history import Incident
from remediator.models import Action, Mode, Outcome
from remediator.reports.trends import TrendRules, alert_trends, judge, slope, trends

from .test_reports_records import chain, entry, record

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday in 2026-W10
WINDOW = [f"2026-W{w:02d}" for w in range(2, 10)]  # the 8 complete weeks before it
WEEKLY = {
    "rising": [1, 1, 2, 2, 3, 4, 5, 6],
    "flat": [3, 3, 3, 3, 3, 3, 3, 3],
    "fading": [6, 5, 4, 3, 2, 1, 0, 0],
    "small": [0, 0, 0, 0, 0, 0, 1, 2],  # rises from zero, but too few runs
    "woken": [0, 0, 0, 0, 2, 3, 4, 5],  # rises from zero
}


def tuesday(week: int) -> datetime:
    """Tuesday noon of ISO week ``week`` of 2026."""
    return datetime.fromisocalendar(2026, week, 2).replace(hour=12, tzinfo=UTC)


def history() -> list[dict]:
    records = []
    for name, counts in WEEKLY.items():
        fix = entry(name, f"Alert{name}")
        for week, count in zip(range(2, 10), counts, strict=True):
            for n in range(count):
                at = tuesday(week) + timedelta(minutes=n)
                records.append(record(at, fix, fp=f"{name}{week}{n}", mode=Mode.CHECK,
                                      outcome=Outcome.SUCCEEDED))
    rising = entry("rising", "Alertrising")
    records += [  # this week: 2 runs (shown, not judged), and records that are not runs
        record(tuesday(10), rising, mode=Mode.LIVE, outcome=Outcome.SUCCEEDED),
        record(tuesday(10), rising, mode=Mode.LIVE, outcome=Outcome.FAILED),
        record(tuesday(9), rising, action=Action.SKIP, status="resolved"),
        record(tuesday(9), rising, mode=Mode.LIVE, outcome=Outcome.SUCCEEDED,
               initiated_by="alice", request={"id": "x", "state": "approved", "by": "alice",
                                              "at": "x", "requested_at": "x"}),
    ]
    records.sort(key=lambda r: r["created_at"])
    return chain(records)


def test_runs_are_counted_per_iso_week() -> None:
    """Each entry's counts over the window are its runs per week; the current week apart."""
    doc = trends(iter(history()), now=NOW)
    assert doc.data["window"] == WINDOW
    assert doc.data["current_week"] == "2026-W10"
    got = {e["name"]: e for e in doc.data["entries"]}
    for name, counts in WEEKLY.items():
        assert list(got[name]["weeks"].values()) == counts
    assert got["rising"]["this_week"] == 2
    assert got["rising"]["all_time"] == sum(WEEKLY["rising"]) + 2


def test_rising_entries_are_flagged_with_the_numbers_behind_the_flag() -> None:
    """Slope (least squares, checked against statistics.linear_regression) and last/first
    ratio; only rising and woken pass every threshold."""
    doc = trends(history(), now=NOW)
    got = {e["name"]: e for e in doc.data["entries"]}
    for name, counts in WEEKLY.items():
        fit = statistics.linear_regression(range(8), counts)
        assert got[name]["slope"] == pytest.approx(fit.slope, abs=1e-3)
    assert got["rising"]["ratio"] == pytest.approx(5.5 / 1)
    assert got["woken"]["ratio"] is None and got["woken"]["last_mean"] == 4.5
    assert {n for n, e in got.items() if e["rising"]} == {"rising", "woken"}
    slopes = {n: statistics.linear_regression(range(8), c).slope for n, c in WEEKLY.items()}
    flagged_first = sorted(("rising", "woken"), key=lambda n: -slopes[n])  # steepest first
    assert [e["name"] for e in doc.data["entries"]][:2] == flagged_first
    notes = doc.tables[0].notes
    assert any(n.startswith("rising: 24 in 8 weeks; slope +0.74/week per week") for n in notes)
    assert f"2 rising: {', '.join(flagged_first)} (find the root cause)" in doc.summary[0]


def test_thresholds_are_options() -> None:
    """A higher ratio bar drops 'rising' (5.5x) but not a rise from zero; lower run and slope
    bars let 'small' (3 runs, slope 0.23) in."""
    doc = trends(history(), now=NOW, rules=TrendRules(min_ratio=6))
    assert {e["name"] for e in doc.data["entries"] if e["rising"]} == {"woken"}
    doc = trends(history(), now=NOW, rules=TrendRules(min_runs=3, min_slope=0.2))
    assert {e["name"] for e in doc.data["entries"] if e["rising"]} == {"rising", "woken",
                                                                       "small"}


@pytest.mark.parametrize(("counts", "rising"), [
    ([0, 0, 0, 0, 0, 0, 0, 0], False),
    ([4, 4, 4, 4, 4, 4, 5, 6], False),  # ratio 1.38, slope 0.23: not steep enough
    ([10, 10, 11, 11, 12, 12, 13, 14], False),  # slope 0.56, but only 1.35x the first weeks
    ([1, 2, 3, 4, 5, 6, 7, 8], True),
])
def test_judge_applies_all_three_conditions(counts: list[int], rising: bool) -> None:
    """The flag needs enough runs, a steep enough slope and a high enough ratio."""
    assert judge(counts, TrendRules())["rising"] is rising


def test_slope_of_a_line_is_its_gradient() -> None:
    assert slope([1.0, 3.0, 5.0, 7.0]) == pytest.approx(2.0)
    assert slope([4.0]) == 0.0


def test_alert_history_trends_count_occurrences_per_type() -> None:
    """With incidents, each alert type's occurrences per week are judged the same way."""
    incidents = [Incident(source="pagerduty", name=name, fingerprint=f"{name}{w}{n}",
                          started=tuesday(w) + timedelta(minutes=n))
                 for name, counts in WEEKLY.items()
                 for w, c in zip(range(2, 10), counts, strict=True) for n in range(c)]
    doc = alert_trends(iter(incidents), now=NOW)
    json.dumps(doc.data, allow_nan=False)
    assert doc.data["counted"] == "occurrences"
    assert {e["name"] for e in doc.data["entries"] if e["rising"]} == {"rising", "woken"}
