"""History readers: PagerDuty exports, Alertmanager webhook logs, store records -> Incidents."""

from __future__ import annotations

import csv
import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from remediator.errors import InputError, StoreError, UsageError
from remediator.history import Incident, between, detect_format, read
from remediator.history import store as store_reader

DATA = Path(__file__).resolve().parents[1] / "data" / "history"


def utc(text: str) -> datetime:
    """An aware UTC datetime from a short ISO text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def by_id(incidents: list[Incident]) -> dict[str, Incident]:
    return {i.fingerprint: i for i in incidents}


# -- PagerDuty exports --

def test_pagerduty_advanced_export_known_answers() -> None:
    """The advanced-report columns: times with offsets in UTC, seconds_to_resolve when
    resolved_on is empty, who acted, a quoted multi-line description, unknown columns ignored."""
    got = by_id(list(read(DATA / "pagerduty-advanced.csv")))
    assert list(got) == ["PABC001", "PABC002", "PABC003", "PABC004"]
    first, second, third, fourth = got.values()
    assert (first.name, first.started, first.resolved) == (
        "DiskSpaceLow", utc("2026-01-05T10:00"), utc("2026-01-05T10:20"))
    assert first.human is False  # assigned (on call) and auto-resolved: nobody acted
    assert (second.started, second.resolved) == (utc("2026-01-05T16:00"),
                                                  utc("2026-01-05T16:10"))
    assert second.human is True  # acknowledged by Bob
    assert third.resolved is None and third.human is False
    assert fourth.name == 'Disk low\non web-01, "really"'
    assert fourth.human is True  # resolved by Cy
    assert first.source == "pagerduty" and first.service == "Web" and first.host is None
    assert dict(first.labels) == {"alertname": "DiskSpaceLow", "service": "Web",
                                  "service_id": "PSVC1", "urgency": "high",
                                  "incident_number": "101", "escalation_policy": "Ops"}
    assert "team" not in first.labels


def test_pagerduty_ui_headers_and_host_column() -> None:
    """'Incident ID', 'Created On' ... match case-insensitively; '... UTC' times; the host
    column fills host; with only an assignee column, an assignee counts as a person."""
    q1, q2 = read(DATA / "pagerduty-ui.csv")
    assert (q1.fingerprint, q1.started, q1.resolved, q1.host) == (
        "Q1", utc("2026-01-07T10:00"), utc("2026-01-07T10:30"), "web-01")
    assert q1.labels["host"] == "web-01"
    assert (q1.human, q2.human) == (True, False)
    assert q2.resolved is None and q2.host == "web-02"


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_missing_required_columns_are_named(tmp_path: Path) -> None:
    """A header without title and creation time: one error naming both, and the header."""
    path = write_csv(tmp_path / "x.csv", [["id", "service_name", "urgency"], ["P1", "Web", "h"]])
    with pytest.raises(InputError) as caught:
        list(read(path))
    message = str(caught.value)
    assert message.startswith(f"{path}:1: missing required columns:")
    assert "title (or description)" in message and "created (or created_on" in message
    assert "id (or" not in message
    assert "the header has: id, service_name, urgency" in message


def test_bad_time_names_file_line_and_column(tmp_path: Path) -> None:
    """A bad created time names file:line:column and the column, after a multi-line row."""
    path = write_csv(tmp_path / "x.csv", [
        ["id", "title", "created_on"],
        ["P1", "two\nlines", "2026-01-05T10:00:00Z"],
        ["P2", "Disk", "yesterday"],
    ])
    with pytest.raises(InputError) as caught:
        list(read(path))
    assert str(caught.value).startswith(f"{path}:4:3 (column 'created_on'): 'yesterday' is "
                                        "not a time")


def test_time_without_offset_is_refused(tmp_path: Path) -> None:
    """A time with no UTC offset would shift every hour: an error, not a guess."""
    path = write_csv(tmp_path / "x.csv", [["id", "title", "created"],
                                          ["P1", "Disk", "2026-01-05 10:00:00"]])
    with pytest.raises(InputError, match="has no UTC offset"):
        list(read(path))


def test_bad_rows_can_be_skipped_and_counted(tmp_path: Path) -> None:
    """With on_bad, a bad row is reported and skipped; the others are read."""
    path = write_csv(tmp_path / "x.csv", [["id", "title", "created"],
                                          ["P1", "Disk", "2026-01-05T10:00:00Z"],
                                          ["", "Disk", "2026-01-05T10:00:00Z"],
                                          ["P3", "Disk", "2026-01-05T11:00:00Z"]])
    bad: list[InputError] = []
    got = list(read(path, on_bad=bad.append))
    assert [i.fingerprint for i in got] == ["P1", "P3"]
    assert [str(e) for e in bad] == [f"{path}:3: the incident has no id"]


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("")
    with pytest.raises(InputError, match="empty file"):
        list(read(path))


# -- Alertmanager webhook logs --

def test_alertmanager_log_pairs_firing_and_resolved() -> None:
    """Re-deliveries collapse; resolved = endsAt; a resolution never seen firing still counts;
    the same fingerprint with a new startsAt is a new occurrence; still-open ones come last."""
    got = list(read(DATA / "alertmanager.jsonl"))
    assert [(i.fingerprint, i.started, i.resolved) for i in got] == [
        ("a1", utc("2026-01-05T10:00"), utc("2026-01-05T10:10")),
        ("b1", utc("2026-01-05T10:01"), utc("2026-01-05T10:30")),
        ("d1", utc("2026-01-05T09:00"), utc("2026-01-05T10:05")),
        ("c1", utc("2026-01-05T10:20"), None),
        ("a1", utc("2026-01-05T11:00"), None),
    ]
    first = got[0]
    assert (first.source, first.name, first.host, first.service) == (
        "alertmanager", "DiskSpaceLow", "web-01", "web")
    assert first.human is None and first.automated is None


def test_alertmanager_bad_line_names_file_and_line(tmp_path: Path) -> None:
    """Broken JSON, and a payload that is not an Alertmanager webhook, each name file:line;
    with on_bad both are skipped and the good line is read."""
    good = (DATA / "alertmanager.jsonl").read_text().splitlines()[0]
    path = tmp_path / "log.jsonl"
    path.write_text(good + "\n{not json\n" + json.dumps({"version": "4", "alerts": [{}]})
                    + "\n")
    with pytest.raises(InputError) as caught:
        list(read(path))
    assert str(caught.value).startswith(f"{path}:2:2: not valid JSON")
    bad: list[InputError] = []
    got = list(read(path, on_bad=bad.append))
    assert sorted(i.fingerprint for i in got) == ["a1", "b1"]
    assert [e.where for e in bad] == [f"{path}:2:2", f"{path}:3"]
    assert "alerts[0]" in str(bad[1])


# -- format detection and selection --

def test_format_detection(tmp_path: Path) -> None:
    """.csv is PagerDuty, .jsonl/.ndjson and a leading '{' are Alertmanager, else ask."""
    assert detect_format(Path("x.CSV")) == "pagerduty"
    assert detect_format(Path("x.ndjson")) == "alertmanager"
    log = tmp_path / "webhooks.log"
    log.write_text("\n  {\"version\": \"4\"}\n")
    assert detect_format(log) == "alertmanager"
    other = tmp_path / "export.txt"
    other.write_text("id,title\n")
    with pytest.raises(InputError, match="--format"):
        detect_format(other)
    other.write_text("Incident ID,Title,Created On\nQ9,Disk,2026-01-05T10:00:00Z\n")
    assert [i.fingerprint for i in read(other, "pagerduty")] == ["Q9"]  # named: no guess


def test_no_file_and_no_store_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        read(None)
    with pytest.raises(UsageError, match="unknown history format"):
        read(DATA / "pagerduty-ui.csv", "splunk")


def test_between_filters_on_start() -> None:
    got = list(between(read(DATA / "alertmanager.jsonl"), utc("2026-01-05T10:00"),
                       utc("2026-01-05T11:00")))
    assert [i.fingerprint for i in got] == ["a1", "b1", "c1"]


def test_progress_is_called_every_50000_rows(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    write_rows(path, 100_001)
    seen: list[int] = []
    assert sum(1 for _ in read(path, progress=seen.append)) == 100_001
    assert seen == [50_000, 100_000]


# -- bounded memory --

def write_rows(path: Path, count: int) -> None:
    """A PagerDuty export of ``count`` rows, each a new incident resolved an hour later."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "title", "created_on", "resolved_on", "host"])
        for n in range(count):
            hour = n % 24
            out.writerow([f"P{n}", f"Alert{n % 7}", f"2026-01-05T{hour:02d}:00:00Z",
                          f"2026-01-05T{hour:02d}:59:00Z", f"host-{n % 500}"])


def test_reading_streams_with_bounded_memory(tmp_path: Path) -> None:
    """60,000 rows read with a Python heap peak far below what holding them would take
    (each Incident is about 1 KiB: 60 MiB)."""
    path = tmp_path / "big.csv"
    write_rows(path, 60_000)
    tracemalloc.start()
    try:
        count = sum(1 for _ in read(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 60_000
    assert peak < 2 * 2**20, peak


# -- the store's records --

def record(rid: str, status: str = "firing", *, fingerprint: str = "f1",
           starts_at: str | None = "2026-01-05T10:00:00Z", created: str = "2026-01-05T10:00:01Z",
           **extra: Any) -> dict[str, Any]:
    """A minimal audit record for an alert delivery."""
    return {"id": rid, "created_at": created, "initiated_by": "automation", "mode": "check",
            "outcome": "succeeded", "hosts": {"web-01": {}},
            "alert": {"source": "alertmanager", "name": "DiskSpaceLow", "status": status,
                      "fingerprint": fingerprint, "starts_at": starts_at,
                      "labels": {"alertname": "DiskSpaceLow", "instance": "web-01:9100"},
                      "annotations": {}, "hosts": ["web-01"]}, **extra}


def test_store_records_become_one_incident_per_occurrence() -> None:
    """Firing, an approved live fix and the resolved delivery: one Incident, a person acted,
    automation fixed it; a manual run (no alert) is no occurrence; an open one comes last."""
    records = [
        record("r1"),
        {"id": "m1", "created_at": "2026-01-05T10:01:00Z", "alert": None,
         "initiated_by": "bob", "mode": "live", "outcome": "succeeded"},
        record("r2", fingerprint="f2", starts_at=None, created="2026-01-05T10:02:00Z"),
        record("r3", initiated_by="ann", mode="live", request={"id": "r1"},
               created="2026-01-05T10:05:00Z"),
        record("r4", "resolved", created="2026-01-05T10:20:00Z"),
        record("r5", "resolved", created="2026-01-05T10:21:00Z"),  # a late re-delivery
    ]
    first, second = store_reader.incidents(iter(records))
    assert (first.fingerprint, first.started, first.resolved) == (
        "f1", utc("2026-01-05T10:00"), utc("2026-01-05T10:20"))
    assert (first.human, first.automated, first.host, first.source) == (
        True, True, "web-01", "store")
    assert (second.fingerprint, second.started, second.resolved) == (
        "f2", utc("2026-01-05T10:02"), None)  # no starts_at: the first record's time
    assert (second.human, second.automated) == (False, False)


def test_store_check_runs_are_not_automated_fixes() -> None:
    got = list(store_reader.incidents(iter([record("r1"), record("r2", "resolved")])))
    assert [(i.human, i.automated) for i in got] == [(False, False)]


def test_reading_a_missing_store_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no audit store"):
        list(read(None, store=tmp_path / "nope.db"))
