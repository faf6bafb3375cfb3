"""Incident titles written by Alertmanager's PagerDuty integration: parsed, grouped by alert."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from remediator.history import read
from remediator.history.coverage import Coverage, gap_lines
from remediator.history.titles import subject
from remediator.models import Matcher, MatchOp, Remediation, Target
from remediator.reports.candidates import candidates
from remediator.reports.effectiveness import effectiveness
from remediator.reports.noise import noise

DATA = Path(__file__).parent.parent / "data" / "history"
EXPORT = DATA / "pagerduty-alertmanager.csv"
NOW = datetime(2026, 4, 1, tzinfo=UTC)


def test_the_default_subject_gives_name_count_values_and_instance() -> None:
    """``[FIRING:2] HighLoad (web-01:9100 node warning)``: the name, 2, the values in order,
    and the host:port value as the instance."""
    got = subject("[FIRING:2] HighLoad (web-01:9100 node warning)")
    assert got is not None
    assert (got.status, got.firing, got.alertname) == ("firing", 2, "HighLoad")
    assert got.values == ("web-01:9100", "node", "warning")
    assert got.instance == "web-01:9100"


def test_group_values_after_the_name_come_first_and_resolved_has_no_count() -> None:
    """A second group value precedes the parenthesised ones; RESOLVED carries no count."""
    got = subject("[RESOLVED] DiskFull prod ([::1]:9100 /var)")
    assert got is not None
    assert (got.status, got.firing, got.alertname) == ("resolved", None, "DiskFull")
    assert got.values == ("prod", "[::1]:9100", "/var")
    assert got.instance == "[::1]:9100"


def test_no_group_labels_and_a_title_cut_short() -> None:
    """``group_by: []`` writes no group values: the name is the first common value. A title
    PagerDuty cut at 1,024 characters (no closing parenthesis) is read as far as it goes; text
    after a closed parenthesis is not a subject (a custom template)."""
    got = subject("[FIRING:5]  (NodeFilesystemAlmostOutOfSpace /dev/sda1 ext4 web-01:9100 /)")
    assert got is not None
    assert (got.alertname, got.values, got.instance) == (
        "NodeFilesystemAlmostOutOfSpace", ("/dev/sda1", "ext4", "web-01:9100", "/"),
        "web-01:9100")
    cut = subject("[FIRING:1] HighLoad (web-01:9100 node warn")
    assert cut is not None
    assert (cut.alertname, cut.values, cut.instance) == (
        "HighLoad", ("web-01:9100", "node", "warn"), "web-01:9100")
    assert subject("[FIRING:1] HighLoad (web-01:9100) see runbook") is None
    assert subject("[FIRING:1] ") is None


def test_titles_that_are_not_subjects_and_ambiguous_instances() -> None:
    """Plain titles are left alone; two host:port values, or a time, name no instance."""
    assert subject("DiskSpaceLow on web-01") is None
    assert subject("[FIRING:1]  (web-01:9100)") is None  # no group value: no alert name
    two = subject("[FIRING:2] Down (a:9100 b:9100)")
    assert two is not None and two.instance is None
    clock = subject("[FIRING:1] Late (12:30)")
    assert clock is not None and clock.instance is None


def test_the_reader_groups_by_alert_name_and_keeps_the_title() -> None:
    """The recorded export: 381 incidents of 6 alert types (78 distinct titles), each with
    alertname and instance labels and its host."""
    incidents = list(read(EXPORT))
    assert len(incidents) == 381
    assert len({i.annotations["title"] for i in incidents}) == 78
    names = Counter(i.name for i in incidents)
    assert set(names) == {"HighLoad", "NodeFilesystemAlmostOutOfSpace", "InstanceDown",
                          "NodeFilesystemFilesFillingUp", "NodeSystemdServiceFailed",
                          "NodeClockNotSynchronising"}
    first = incidents[0]
    assert first.annotations["title"] == "[FIRING:1] HighLoad (db-01:9100 node warning)"
    assert first.labels["alertname"] == "HighLoad"
    assert first.labels["instance"] == "db-01:9100"
    assert first.host == "db-01"
    assert first.annotations["firing"] == "1"
    assert first.annotations["title_values"] == "db-01:9100 node warning"
    assert all(i.labels["instance"].endswith(":9100") for i in incidents)


def test_report_noise_counts_the_alert_types_not_the_titles() -> None:
    """`report noise` over the export: 6 alert types."""
    doc = noise(read(EXPORT), now=datetime(2026, 4, 1, tzinfo=UTC), source=str(EXPORT))
    assert doc.tables[0].rows and len(doc.tables[0].rows) == 6


def entry(name: str, *matchers: Matcher, target: str = "instance") -> Remediation:
    return Remediation(name=name, matchers=matchers, playbook="p.yml", playbook_path="/p.yml",
                       target=Target(label=target))


def test_coverage_names_the_entries_the_history_cannot_judge() -> None:
    """An entry needing severity cannot judge a HighLoad incident without it; one whose
    alertname differs, or whose matcher holds on a missing label, is not counted."""
    needs = entry("load", Matcher("alertname", MatchOp.EQ, "HighLoad"),
                  Matcher("severity", MatchOp.EQ, "warning"))
    other = entry("disk", Matcher("alertname", MatchOp.EQ, "DiskFull"),
                  Matcher("mountpoint", MatchOp.EQ, "/"))
    lenient = entry("any", Matcher("alertname", MatchOp.EQ, "HighLoad"),
                    Matcher("team", MatchOp.NE, "db"), Matcher("env", MatchOp.EQ, "prod"))
    coverage = Coverage([needs, other, lenient])
    labels = {"alertname": "HighLoad", "instance": "web-01:9100", "env": "dev"}
    coverage.see(labels)
    assert coverage.unmatched(labels) == ("load",)
    assert coverage.unmatched({**labels, "alertname": "Other"}) == ()
    assert coverage.gaps() == [{"entry": "load", "needs": ["severity"],
                                "history_has": ["alertname", "env", "instance"],
                                "incidents": 1}]
    assert gap_lines(coverage.gaps(), "x.csv") == (
        "entry load: it needs label severity; this history (x.csv) has alertname, env, "
        "instance only: 1 incident could not be matched",)


def test_coverage_counts_a_missing_target_label() -> None:
    """An entry that matched but whose target label the alert lacks is counted for it."""
    host = entry("load", Matcher("alertname", MatchOp.EQ, "HighLoad"), target="host")
    coverage = Coverage([host])
    assert coverage.untargeted({"alertname": "HighLoad"}, host)
    assert not coverage.untargeted({"alertname": "HighLoad", "host": "a"}, host)
    assert coverage.gaps()[0]["needs"] == ["host"]


def test_report_candidates_names_the_entries_the_export_cannot_judge() -> None:
    """``report candidates`` over the recorded export: an entry needing severity is named as
    unable to judge the HighLoad incidents (the labels it lacks, the count), in --json and in
    the summary; an entry the titles can judge is not named, and counts its matches."""
    high_load = sum(1 for line in EXPORT.read_text().splitlines() if "] HighLoad " in line)
    needs = entry("load", Matcher("alertname", MatchOp.EQ, "HighLoad"),
                  Matcher("severity", MatchOp.EQ, "warning"))
    judged = entry("any-load", Matcher("alertname", MatchOp.EQ, "HighLoad"),
                   Matcher("instance", MatchOp.RE, ".+"))
    doc = candidates(read(EXPORT), [needs], now=NOW, source="x.csv")
    gaps = doc.data["cannot_judge"]
    assert [(g["entry"], g["needs"], g["incidents"]) for g in gaps] == [
        ("load", ["severity"], high_load)]
    assert any(line.startswith("entry load: it needs label severity; this history (x.csv)")
               for line in doc.summary)
    row = next(c for c in doc.data["candidates"] if c["name"] == "HighLoad")
    assert row["entry"] is None
    doc = candidates(read(EXPORT), [judged], now=NOW, source="x.csv")
    assert doc.data["cannot_judge"] == []
    row = next(c for c in doc.data["candidates"] if c["name"] == "HighLoad")
    assert (row["entry"], row["entry_share"]) == ("any-load", 1.0)


def test_a_label_some_incidents_carry_is_not_a_gap() -> None:
    """The history has the label (one incident carries it, after the others were read): the
    incidents without it are judged as they are, unmatched, not counted as unjudgeable."""
    needs = entry("load", Matcher("alertname", MatchOp.EQ, "HighLoad"),
                  Matcher("severity", MatchOp.EQ, "warning"))
    coverage = Coverage([needs])
    coverage.defer({"alertname": "HighLoad"}, [needs])
    coverage.defer({"alertname": "HighLoad"}, [needs])
    coverage.see({"alertname": "HighLoad", "severity": "critical"})
    coverage.settle()
    assert coverage.gaps() == []
    coverage.defer({"alertname": "HighLoad"}, [needs])
    coverage.settle()  # still known to the history: nothing counted
    assert coverage.gaps() == []


def test_report_effectiveness_names_the_entries_the_before_history_cannot_judge() -> None:
    """``report effectiveness --history`` with the export as "before": the entry needing
    severity has no "before" times, and the report says why instead of showing nothing."""
    high_load = sum(1 for line in EXPORT.read_text().splitlines() if "] HighLoad " in line)
    needs = entry("load", Matcher("alertname", MatchOp.EQ, "HighLoad"),
                  Matcher("severity", MatchOp.EQ, "warning"))
    doc = effectiveness(iter(()), [needs], now=NOW, history=read(EXPORT))
    assert [(g["entry"], g["incidents"]) for g in doc.data["cannot_judge"]] == [
        ("load", high_load)]
    assert any("entry load: it needs label severity" in line for line in doc.summary)
    assert doc.data["entries"][0]["before"]["occurrences"] == 0


def test_a_deferred_incident_counts_towards_the_history_labels() -> None:
    """An incident no entry matched still tells which label names the history has."""
    needs = entry("load", Matcher("alertname", MatchOp.EQ, "HighLoad"),
                  Matcher("severity", MatchOp.EQ, "warning"))
    coverage = Coverage([needs])
    coverage.defer({"alertname": "HighLoad", "env": "dev"}, [needs])
    coverage.settle()
    assert coverage.gaps() == [{"entry": "load", "needs": ["severity"],
                                "history_has": ["alertname", "env"], "incidents": 1}]
