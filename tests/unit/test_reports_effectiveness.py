"""`report effectiveness` over a record history whose answers are worked out by hand."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from remediator.history import Incident
from remediator.models import Action, Mode, Outcome, Stage
from remediator.reasons import Reason
from remediator.reports.effectiveness import effectiveness
from remediator.reports.text import render_text

from .test_reports_records import chain, entry, record

NOW = datetime(2026, 3, 2, tzinfo=UTC)
DAY0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
DISK = entry("disk", "DiskSpaceLow", Stage.OVERSIGHT, toil_minutes=15)
SVC = entry("svc", "ServiceDown", Stage.HUMAN_INITIATED)
REFIRE = "still firing 300s after the fix run1: the fix did not hold, a person must look"


def occurrence(day: int, minutes: float, fp: str, *runs: dict[str, Any]) -> list[dict]:
    """The firing record (with its runs), then the resolved record ``minutes`` later."""
    start = DAY0 + timedelta(days=day)
    end = start + timedelta(minutes=minutes)
    firing = runs or ({"action": Action.RUN, "mode": Mode.CHECK, "outcome": Outcome.SUCCEEDED,
                       "stage": Stage.OBSERVE},)
    out = [record(start + timedelta(seconds=5 * n), DISK if fp.startswith("d") else SVC,
                  fp=fp, starts=start, **run) for n, run in enumerate(firing)]
    out.append(record(end, DISK if fp.startswith("d") else SVC, fp=fp, starts=start,
                      status="resolved", action=Action.SKIP))
    return out


LIVE_OK = {"action": Action.RUN, "mode": Mode.LIVE, "outcome": Outcome.SUCCEEDED}
BEFORE = [30, 40, 50, 60]  # minutes to resolve at stage observe
AFTER = [5, 7, 50, 20]  # with automation: ok, ok, re-fired, failed


def history() -> list[dict[str, Any]]:
    records = [
        # before the entry existed: no remediation, yet a DiskSpaceLow that took 90 minutes
        record(DAY0 - timedelta(days=3), None, alertname="DiskSpaceLow", fp="d-old",
               action=Action.SKIP),
        record(DAY0 - timedelta(days=3) + timedelta(minutes=90), None,
               alertname="DiskSpaceLow", fp="d-old", starts=DAY0 - timedelta(days=3),
               status="resolved", action=Action.SKIP),
    ]
    for n, minutes in enumerate(BEFORE):
        records += occurrence(n, minutes, f"d{n}")
    records += occurrence(10, AFTER[0], "d10", LIVE_OK)
    records += occurrence(11, AFTER[1], "d11", LIVE_OK)
    records += occurrence(12, AFTER[2], "d12", LIVE_OK,
                          {"action": Action.ESCALATE, "mode": Mode.NONE, "reason": REFIRE,
                           "code": Reason.REFIRE})
    records += occurrence(13, AFTER[3], "d13", {**LIVE_OK, "outcome": Outcome.FAILED})
    approved = {"id": "p1", "state": "approved", "by": "alice", "at": "x", "requested_at": "x"}
    records += occurrence(2, 25, "s1",
                          {"action": Action.PENDING, "mode": Mode.CHECK,
                           "outcome": Outcome.SUCCEEDED},
                          {**LIVE_OK, "initiated_by": "alice", "request": approved})
    records.sort(key=lambda r: r["created_at"])
    return chain(records)


def rows(doc: Any) -> dict[str, dict[str, Any]]:
    return {e["entry"]: e for e in doc.data["entries"]}


def test_runs_fixes_refires_and_toil_per_entry() -> None:
    """disk: 4 checks then 4 automated live runs (3 ok, 1 re-fired, 1 failed); svc: one
    preview and its approved run, which a person started."""
    got = rows(effectiveness(iter(history()), [DISK, SVC], now=NOW))
    disk, svc = got["disk"], got["svc"]
    assert (disk["check_runs"], disk["live_runs"], disk["live_succeeded"]) == (4, 4, 3)
    assert (disk["automated_fixes"], disk["refires"], disk["fixes_held"]) == (3, 1, 2)
    assert disk["resolved_without_person"] == 2  # d10, d11: d12 re-fired, d13 failed
    assert disk["person_hours_saved"] == pytest.approx(2 * 15 / 60)
    assert disk["escalations"] == 1
    assert {(r["stage"], r["mode"], r["outcome"]): r["runs"] for r in disk["runs"]} == {
        ("observe", "check", "succeeded"): 4, ("oversight", "live", "succeeded"): 3,
        ("oversight", "live", "failed"): 1}
    assert (svc["live_runs"], svc["automated_fixes"], svc["resolved_without_person"]) == (1, 0, 0)
    assert svc["person_hours_saved"] is None and svc["toil_minutes"] is None


def test_time_to_resolve_before_and_after_the_first_automated_run() -> None:
    """Before: the four observed occurrences and the one from before the entry existed;
    after: the four since the first automated live run."""
    doc = effectiveness(history(), [DISK, SVC], now=NOW)
    disk = rows(doc)["disk"]
    assert disk["automation_since"] == (DAY0 + timedelta(days=10)).isoformat()
    assert disk["before"]["occurrences"] == 5
    assert disk["before"]["median_resolve_s"] == statistics.median([*BEFORE, 90]) * 60
    assert disk["after"]["occurrences"] == 4
    assert disk["after"]["median_resolve_s"] == statistics.median(AFTER) * 60
    change = (statistics.median(AFTER) - statistics.median([*BEFORE, 90])) / \
        statistics.median([*BEFORE, 90])
    assert disk["resolve_change"] == pytest.approx(change, abs=1e-4)
    svc = rows(doc)["svc"]
    assert (svc["before"]["median_resolve_s"], svc["after"]["occurrences"]) == (25 * 60, 0)


def test_a_history_file_replaces_the_before_times() -> None:
    """With a pre-automation history, 'before' is its matching incidents that started before
    the automation did: here 100 and 120 minutes (a later one and another type are left out)."""
    def made(name: str, day: int, minutes: int) -> Incident:
        start = DAY0 + timedelta(days=day)
        return Incident(source="pagerduty", name=name, fingerprint=f"{name}{day}",
                        started=start, resolved=start + timedelta(minutes=minutes))

    before = [made("DiskSpaceLow", -20, 100), made("DiskSpaceLow", -10, 120),
              made("DiskSpaceLow", 15, 999), made("Other", -5, 1)]
    disk = rows(effectiveness(history(), [DISK, SVC], now=NOW, history=iter(before)))["disk"]
    assert disk["before"] == {"median_resolve_s": 110 * 60, "occurrences": 2,
                              "from": "history"}
    assert disk["after"]["occurrences"] == 4


def test_the_text_report_and_json_show_the_numbers() -> None:
    """The table row for disk carries the counts; the summary the saved hours."""
    doc = effectiveness(history(), [DISK, SVC], now=NOW)
    json.dumps(doc.data, allow_nan=False)
    row = next(r for r in doc.tables[0].rows if r[0] == "disk")
    assert row[1:6] == ("oversight", "3/4", 2, 1, 2)
    assert row[-2:] == ("15", "0.5")
    text = render_text(doc)
    assert "toil saved: 0.5 person-hours (unknown for svc: no toil_minutes)" in text
    assert [c.kind for c in doc.charts] == ["bar", "stacked"]


def test_entries_that_only_the_records_know_are_kept() -> None:
    """An entry removed from the catalog still shows its runs, marked as such."""
    doc = effectiveness(history(), [SVC], now=NOW)
    assert rows(doc)["disk"]["in_catalog"] is False
    assert any(r[0] == "disk (not in catalog)" for r in doc.tables[0].rows)


def test_rewording_a_reason_changes_no_count() -> None:
    """Re-fires and escalations are counted by reason code: every reason reworded gives the
    same numbers, and so do the same records written before codes (prose only)."""
    def rewritten(reword: bool, drop_code: bool) -> list[dict[str, Any]]:
        out = []
        for item in history():
            body = {k: v for k, v in item.items() if k not in ("hash", "prev_hash")}
            decision = dict(body["decision"])
            if reword:
                decision["reason"] = "reworded for people"
            if drop_code:
                decision.pop("code")
            body["decision"] = decision
            out.append(body)
        return chain(out)

    baseline = rows(effectiveness(iter(history()), [DISK, SVC], now=NOW))
    reworded = rows(effectiveness(iter(rewritten(True, False)), [DISK, SVC], now=NOW))
    old = rows(effectiveness(iter(rewritten(False, True)), [DISK, SVC], now=NOW))
    assert baseline["disk"]["refires"] == 1
    assert baseline["disk"]["escalation_codes"] == {"refire": 1}
    assert reworded == baseline == old
