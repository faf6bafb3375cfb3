"""`remediator report ...` through the real CLI: on history files the tests write (answers
worked out here), and on a store filled by real playbook runs."""

from __future__ import annotations

import csv
import json
import random
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from remediator import config as config_mod
from remediator.models import Mode
from remediator.testing import FakeClock, alert, engine_for

from ..conftest import Project, alertmanager_payload

NAMES = ("DiskSpaceLow", "ServiceDown", "HighLatency", "CertExpiry")


@dataclass
class Row:
    """One incident as the test writes it into a PagerDuty export."""

    ident: str
    title: str
    service: str
    created: datetime
    minutes: int | None
    acked: bool
    host: str

    def csv(self) -> list[str]:
        resolved = "" if self.minutes is None else \
            (self.created + timedelta(minutes=self.minutes)).isoformat()
        return [self.ident, self.title, self.service, "high", "resolved" if resolved else
                "triggered", self.created.isoformat(), resolved,
                "Alice" if self.acked else "", self.host, "team-x"]


def pagerduty_export(path: Path, count: int, seed: int = 3) -> list[Row]:
    """Write ``count`` incidents as a PagerDuty CSV export; the rows, for the answers."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    rows = [Row(str(n), rng.choices(NAMES, weights=(6, 3, 2, 1))[0],
                rng.choice(("web", "storage")), start + timedelta(minutes=rng.randrange(40_000)),
                None if rng.random() < 0.05 else rng.choice((2, 4, 9, 25, 60, 180)),
                rng.random() < 0.6, f"web-{rng.randrange(5):02d}") for n in range(count)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "title", "service_name", "urgency", "status", "created_on",
                      "resolved_on", "acknowledged_by_user_names", "host", "team"])
        out.writerows(row.csv() for row in rows)
    return rows


def run_json(project: Project, *args: str) -> Any:
    """A report's --json output (exit 0 asserted, stdout nothing but JSON)."""
    result = project.cli("report", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_noise_from_a_pagerduty_export_matches_the_rows(project: Project, tmp_path: Path
                                                         ) -> None:
    """Volumes, ranks, medians, no-person and quick shares equal what the rows say."""
    path = tmp_path / "incidents.csv"
    rows = pagerduty_export(path, 400)
    data = run_json(project, "noise", "--history", str(path), "--quick", "5")
    volumes = {n: sum(1 for r in rows if r.title == n) for n in NAMES}
    assert [t["name"] for t in data["types"]] == sorted(volumes, key=lambda n: (-volumes[n], n))
    for got in data["types"]:
        mine = [r for r in rows if r.title == got["name"]]
        done = [r for r in mine if r.minutes is not None]
        assert got["volume"] == len(mine)
        assert got["open"] == len(mine) - len(done)
        assert got["median_resolve_s"] == statistics.median(r.minutes for r in done) * 60
        assert got["quick_share"] == pytest.approx(
            sum(1 for r in done if r.minutes <= 5) / len(done), abs=1e-4)
        assert got["no_human_share"] == pytest.approx(
            sum(1 for r in done if not r.acked) / len(done), abs=1e-4)
        assert got["by_hour"] == [sum(1 for r in mine if r.created.hour == h)
                                  for h in range(24)]


def test_candidates_from_a_history_file_rank_by_toil(project: Project, tmp_path: Path) -> None:
    """Ranks follow the test's own toil x simplicity; the project's catalog entry for
    DiskSpaceLow is a signal shown in its reasoning."""
    path = tmp_path / "incidents.csv"
    rows = pagerduty_export(path, 300, seed=8)
    data = run_json(project, "candidates", "--history", str(path))
    expected = {}
    for name in NAMES:
        mine = [r for r in rows if r.title == name]
        acted = [r.minutes * 60 for r in mine if r.acked and r.minutes is not None]
        toil = sum(1 for r in mine if r.acked) * statistics.median(acted) / 3600
        signals = 1 + (name == "DiskSpaceLow")  # every row names a host; one catalog entry
        expected[name] = round(toil * (0.5 + 0.125 * signals), 2)
    ranked = [c["name"] for c in data["candidates"]]
    assert ranked == sorted(NAMES, key=lambda n: -expected[n])
    for got in data["candidates"]:
        assert got["score"] == pytest.approx(expected[got["name"]], abs=0.011)
    disk = next(c for c in data["candidates"] if c["name"] == "DiskSpaceLow")
    assert "catalog entry disk-space-cleanup (observe) matches 100%" in disk["why"]


def test_flapping_in_an_alertmanager_log(project: Project, tmp_path: Path) -> None:
    """One alert firing and resolving every 10 minutes flaps; one every 2 hours does not."""
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    lines = []
    for fingerprint, every, times in (("flappy", 10, 6), ("calm", 120, 3)):
        for n in range(times):
            began = start + timedelta(minutes=every * n)
            item = {"labels": {"alertname": "Disk", "instance": f"{fingerprint}:9100"},
                    "fingerprint": fingerprint, "startsAt": began.isoformat()}
            lines.append((began, alertmanager_payload([item])))
            resolved = alertmanager_payload([{**item, "status": "resolved"}])
            resolved["alerts"][0]["endsAt"] = (began + timedelta(minutes=3)).isoformat()
            lines.append((began + timedelta(minutes=3), resolved))
    path = tmp_path / "webhooks.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for _, p in sorted(lines, key=lambda x: x[0])))
    (disk,) = run_json(project, "noise", "--history", str(path))["types"]
    assert disk["volume"] == 9
    assert disk["flapping"] == {"occurrences": 4, "share": round(4 / 9, 4), "alerts": 1}
    assert disk["median_resolve_s"] == 180


def test_text_html_and_progress(project: Project, tmp_path: Path) -> None:
    """The text table goes to stdout, progress to stderr, the HTML file is written; --json
    with --html keeps stdout pure JSON; -q silences stderr."""
    path = tmp_path / "big.csv"
    pagerduty_export(path, 60_000, seed=1)
    html = tmp_path / "noise.html"
    result = project.cli("report", "noise", "--history", str(path), "--html", str(html))
    assert result.exit_code == 0, result.output
    assert "Alert types by volume" in result.stdout and "DiskSpaceLow" in result.stdout
    assert "50,000 rows read" in result.stderr and "50,000" not in result.stdout
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    quiet = project.cli("report", "noise", "--history", str(path), "--json", "-q",
                        "--html", str(tmp_path / "again.html"))
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert json.loads(quiet.stdout)["total"] == 60_000


@pytest.mark.parametrize(("args", "named"), [
    (["noise", "--quick", "0"], "--quick"),
    (["noise", "--flap-count", "1"], "--flap-count"),
    (["noise", "--tz", "Mars/Olympus"], "--tz"),
    (["noise", "--since", "yesterday"], "--since"),
    (["noise", "--history", "no-such.csv"], "--history"),
    (["trends", "--weeks", "2"], "--weeks"),
    (["trends", "--min-ratio", "0.5"], "--min-ratio"),
    (["candidates", "--format", "xml"], "--format"),
    (["noise", "--format", "pagerduty"], "--format"),
    (["effectiveness", "--format", "alertmanager"], "--format"),
])
def test_bad_option_values_exit_2_naming_the_option(project: Project, args: list[str],
                                                    named: str) -> None:
    result = project.cli("report", *args)
    assert result.exit_code == 2
    assert named in result.output


def test_bad_inputs_name_what_is_wrong(project: Project, tmp_path: Path) -> None:
    """A CSV missing required columns exits 2 naming them."""
    bad = tmp_path / "bad.csv"
    bad.write_text("id,urgency\n1,high\n")
    result = project.cli("report", "noise", "--history", str(bad))
    assert result.exit_code == 2
    assert str(bad) in result.stderr and "title" in result.stderr and "created" in result.stderr


@pytest.mark.sqlite_only
def test_without_a_store_file_reports_exit_5_and_create_none(project: Project) -> None:
    """No store file: exit 5 naming it, and no file made (a server is reached or not)."""
    for report in ("effectiveness", "trends", "noise"):
        result = project.cli("report", report)
        assert result.exit_code == 5, report
        assert "no audit store" in result.stderr
    assert not project.has_store()


# -- a store filled by real runs ----------------------------------------------------------------


def echo_entry(out: Path, stage: str, **extra: Any) -> dict[str, Any]:
    """The fast echo playbook as an entry matching ``Echo`` alerts."""
    return {"name": "echo", "match": {"alertname": "Echo"}, "playbook": "echo_vars.yml",
            "stage": stage, "vars": {"note": "labels.note"},
            "static_vars": {"out_dir": str(out)}, **extra}


def echo(fingerprint: str, started: datetime, status: str = "firing") -> dict[str, Any]:
    return {"labels": {"alertname": "Echo", "instance": "demo-web-01", "note": "same"},
            "fingerprint": fingerprint, "startsAt": started.isoformat(), "status": status}


@pytest.fixture
def filled(project: Project, tmp_path: Path) -> dict[str, datetime]:
    """Two Echo alerts checked at observe and resolved; then, at oversight, two fixed live
    (one run), one of them still firing after its fix, both resolved: through `handle`, the
    runs a RecordingExecutor's. Returns their starts."""
    runs = project.fake_runs()
    out = tmp_path / "out"
    project.configure({"refire_settle": 0})
    project.write_catalog(echo_entry(out, "observe"))
    now = datetime.now(UTC)
    starts = {"b1": now - timedelta(minutes=40), "b2": now - timedelta(minutes=30),
              "a1": now - timedelta(minutes=10), "a2": now - timedelta(minutes=6)}
    before = [echo(fp, starts[fp]) for fp in ("b1", "b2")]
    checks = project.handle(alertmanager_payload(before))
    assert [r["mode"] for r in checks] == ["check", "check"]
    project.handle(alertmanager_payload([{**a, "status": "resolved"} for a in before]))
    project.write_catalog(echo_entry(out, "oversight", toil_minutes=12))
    after = [echo(fp, starts[fp]) for fp in ("a1", "a2")]
    fixes = project.handle(alertmanager_payload(after))
    assert [(r["mode"], r["outcome"]) for r in fixes] == [("live", "succeeded")] * 2
    assert [(p.mode, len(p.hosts)) for p in runs.plans] == [(Mode.CHECK, 1), (Mode.LIVE, 1)]
    (refire,) = project.handle(alertmanager_payload(after[:1]))
    assert refire["decision"]["reason"].startswith("still firing")
    project.handle(alertmanager_payload([{**a, "status": "resolved"} for a in after]))
    return starts


def test_effectiveness_on_a_store_filled_by_the_commands(project: Project,
                                                      filled: dict[str, datetime]) -> None:
    """Runs by stage, the fix that held, the re-fire, times to resolve before and after."""
    (echo_row,) = run_json(project, "effectiveness")["entries"]
    assert {(r["stage"], r["mode"], r["outcome"]): r["runs"] for r in echo_row["runs"]} == {
        ("observe", "check", "succeeded"): 2, ("oversight", "live", "succeeded"): 2}
    assert (echo_row["automated_fixes"], echo_row["refires"], echo_row["fixes_held"]) == (2, 1, 1)
    assert echo_row["resolved_without_person"] == 1
    assert echo_row["person_hours_saved"] == pytest.approx(12 / 60, abs=0.01)
    assert echo_row["automation_since"] == filled["a1"].isoformat(timespec="seconds")
    now = datetime.now(UTC)
    expected_before = statistics.median((now - filled[f]).total_seconds() for f in ("b1", "b2"))
    expected_after = statistics.median((now - filled[f]).total_seconds() for f in ("a1", "a2"))
    assert echo_row["before"]["occurrences"] == echo_row["after"]["occurrences"] == 2
    assert echo_row["before"]["median_resolve_s"] == pytest.approx(expected_before, abs=90)
    assert echo_row["after"]["median_resolve_s"] == pytest.approx(expected_after, abs=90)
    html = project.root / "effectiveness.html"
    shown = project.cli("report", "effectiveness", "--html", str(html))
    assert "toil saved: 0.2 person-hours" in shown.stdout
    assert "Median time to resolve, before vs after automation" in html.read_text()
    later = run_json(project, "effectiveness", "--since", "2099-01-01")["entries"]
    assert later[0]["live_runs"] == 0


def test_noise_candidates_and_trends_read_the_store_by_default(
        project: Project, filled: dict[str, datetime]) -> None:
    """Without --history the reports read the audit store the runs filled."""
    (noise_row,) = run_json(project, "noise")["types"]
    assert (noise_row["name"], noise_row["volume"], noise_row["open"]) == ("Echo", 4, 0)
    (candidate,) = run_json(project, "candidates")["candidates"]
    assert candidate["signals"]["catalog entry"] is True
    (trend,) = run_json(project, "trends")["entries"]
    assert (trend["name"], trend["this_week"], trend["total"]) == ("echo", 4, 0)


def test_trends_over_weeks_of_records(project: Project, tmp_path: Path) -> None:
    """Weeks of history cannot be waited for: the engine runs on a FakeClock (with the
    RecordingExecutor) into the real store, then the CLI judges the weeks before today."""
    project.write_catalog(
        echo_entry(tmp_path / "out", "observe", guardrails={"throttle": {"per_host": 99,
                                                                         "per_entry": 99}}),
        {**echo_entry(tmp_path / "out", "observe"), "name": "steady",
         "match": {"alertname": "Steady"}})
    today = datetime.now(UTC)
    monday = (today - timedelta(days=today.weekday())).replace(hour=0, minute=0, second=0,
                                                               microsecond=0)
    clock = FakeClock(now=monday - timedelta(weeks=8) + timedelta(days=1, hours=9))
    engine = engine_for(config_mod.load(project.config), clock=clock)
    rising, steady = [1, 1, 2, 2, 3, 4, 5, 6], [2] * 8
    for week in range(8):
        for name, counts in (("Echo", rising), ("Steady", steady)):
            for n in range(counts[week]):
                engine.handle([alert(name, "demo-web-01", labels={"note": f"{week}.{n}"},
                                     starts_at=clock.now.isoformat())])
                clock.advance(600)
        clock.now = monday - timedelta(weeks=7 - week) + timedelta(days=1, hours=9)
    engine.store.close()
    data = run_json(project, "trends")
    got = {e["name"]: e for e in data["entries"]}
    assert list(got["echo"]["weeks"].values()) == rising
    assert list(got["steady"]["weeks"].values()) == steady
    assert (got["echo"]["rising"], got["steady"]["rising"]) == (True, False)
    assert got["echo"]["slope"] == pytest.approx(
        statistics.linear_regression(range(8), rising).slope, abs=1e-3)
    html = tmp_path / "trends.html"
    text = project.cli("report", "trends", "--html", str(html)).stdout
    assert "RISING" in text and "echo: 24 in 8 weeks" in text
    assert "<svg" in html.read_text() and "Runs per week" in html.read_text()
