"""The CLI around the pipeline: catalog validate and list, run's input checks, timeouts."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from remediator.models import Mode

from ..conftest import Project, alertmanager_payload, disk_alert, disk_entry


@pytest.mark.ansible
def test_validate_passes_on_a_good_catalog(project: Project) -> None:
    """A good catalog validates with exit 0 and counts its entries and playbooks."""
    result = project.cli("catalog", "validate")
    assert result.exit_code == 0, result.output
    assert "catalog OK: 1 entries, 1 playbooks syntax-checked" in result.stdout


def line_of(project: Project, text: str) -> tuple[Path, int]:
    """The catalog file and the number of its first line holding ``text``."""
    catalog = project.root / "remediations.yml"
    return catalog, next(n for n, line in enumerate(catalog.read_text().splitlines(), 1)
                         if text in line)


@pytest.mark.ansible
def test_validate_runs_the_syntax_check_and_names_entry_and_key(project: Project) -> None:
    """A playbook with a syntax error fails validation naming file, line, entry and key."""
    project.write_catalog(disk_entry(), {"name": "broken", "match": {"alertname": "B"},
                                         "playbook": "broken_syntax.yml"})
    result = project.cli("catalog", "validate")
    assert result.exit_code == 2
    catalog, line = line_of(project, "name: broken")
    assert f"{catalog}:{line}: entry 'broken': key 'playbook': broken_syntax.yml: syntax " \
           "check failed" in result.stderr


@pytest.mark.ansible
def test_validate_json_report(project: Project) -> None:
    """--json prints the report as one JSON object on stdout, problems included."""
    project.write_catalog({"name": "broken", "match": {"alertname": "B"},
                           "playbook": "broken_syntax.yml"})
    result = project.cli("catalog", "validate", "--json")
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert len(report["problems"]) == 1


def test_validate_reports_every_catalog_problem(project: Project) -> None:
    """A broken catalog lists each problem on stderr and exits 2."""
    project.write_catalog({"name": "a", "match": {}, "playbook": "../x.yml", "stage": "yolo"})
    result = project.cli("catalog", "validate")
    assert result.exit_code == 2
    assert "key 'stage'" in result.stderr
    assert "key 'playbook'" in result.stderr
    assert "key 'match'" in result.stderr


def test_validate_names_a_regex_re2_refuses(project: Project) -> None:
    """A backreference (which needs backtracking) is refused at its line, with RE2's reason."""
    project.write_catalog(disk_entry(match={"alertname": "DiskSpaceLow",
                                            "matchers": ['instance=~"(web)-\\1"']}))
    result = project.cli("catalog", "validate")
    assert result.exit_code == 2
    catalog, line = line_of(project, "instance=~")
    assert f"{catalog}:{line}: entry 'disk-space-cleanup': key 'matchers': not a regular " \
           "expression RE2 accepts (invalid escape sequence: \\1)" in result.stderr


def test_catalog_list_shows_the_effective_stage(project: Project) -> None:
    """catalog list --json shows each entry's stage and the stage after the ceiling."""
    project.write_catalog(disk_entry("fallback"))
    rows = json.loads(project.cli("--max-stage", "human-initiated", "catalog", "list",
                                  "--json").stdout)
    assert rows[0]["stage"] == "fallback"
    assert rows[0]["effective_stage"] == "human-initiated"


@pytest.mark.parametrize(("args", "message"), [
    (["run", "nope", "--limit", "demo-web-01"], "no catalog entry 'nope'"),
    (["run", "disk-space-cleanup", "--limit", "web-77"], "host 'web-77' is not in the inventory"),
    (["run", "disk-space-cleanup", "--limit", "demo-web-01", "--var", "x=1"],
     "has no variable x"),
    (["run", "disk-space-cleanup", "--limit", "demo-web-01"], "needs --var for disk_mountpoint"),
    (["run", "disk-space-cleanup", "--limit", "demo-web-01", "--var", "novalue"],
     "expected KEY=VALUE"),
    (["run", "disk-space-cleanup", "--limit", "demo-web-01", "--var", "disk_mountpoint=/",
      "--var", "disk_threshold_pct=1"],
     "--var disk_threshold_pct would override the catalog's static_vars"),
])
def test_run_rejects_bad_input_with_exit_2(project: Project, args: list[str], message: str
                                           ) -> None:
    """Unknown entries, hosts and variables are exit 2 with a message naming them."""
    result = project.cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_manual_check_run_records_the_person(project: Project) -> None:
    """`run --check` previews the fix in check mode and records who started it."""
    runs = project.fake_runs()
    result = project.cli("run", "disk-space-cleanup", "--limit", "demo-web-01", "--var",
                         "disk_mountpoint=/", "--by", "carol", "--json", "-q")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)  # run --json: an array, as handle's
    assert (record["initiated_by"], record["mode"], record["alert"]) == ("carol", "check", None)
    assert record["decision"]["variables"] == {"disk_mountpoint": "/"}
    (plan,) = runs.plans
    assert (plan.mode, plan.hosts, dict(plan.untrusted_vars)) == (
        Mode.CHECK, ("demo-web-01",), {"disk_mountpoint": "/"})


def test_manual_live_run_is_refused_under_an_observe_ceiling(project: Project) -> None:
    """During a change freeze (--max-stage observe) a person's live run is refused, exit 4."""
    result = project.cli("--max-stage", "observe", "run", "disk-space-cleanup", "--limit",
                         "demo-web-01", "--live", "--var", "disk_mountpoint=/")
    assert result.exit_code == 4
    assert "change freeze" in result.stderr


@pytest.mark.ansible
def test_timeout_is_recorded_as_a_failed_run(project: Project) -> None:
    """A run over its timeout ends with runner status timeout and outcome failed."""
    project.write_catalog({"name": "slow", "match": {"alertname": "Slow"},
                           "playbook": "sleep.yml", "stage": "oversight", "timeout": 3})
    alert = {"labels": {"alertname": "Slow", "instance": "demo-web-01"}}
    (record,) = project.handle(alertmanager_payload([alert]))
    assert record["runner"]["status"] == "timeout"
    assert record["outcome"] == "failed"
    assert record["duration_s"] < 20


@pytest.mark.ansible
def test_a_run_that_cannot_start_is_recorded_with_the_reason(project: Project) -> None:
    """A playbook deleted after the catalog loaded: the run fails before any task, and the
    record is still written, as failed, with ansible's complaint."""
    from remediator.config import load
    from remediator.engine import open_engine
    from remediator.sources import normalize

    engine = open_engine(load(project.config))
    (project.root / "playbooks" / "disk_space_cleanup.yml").unlink()
    (record,) = engine.handle(normalize(alertmanager_payload([disk_alert()])))
    assert record["outcome"] == "failed"
    assert record["runner"]["rc"] != 0
    assert "disk_space_cleanup.yml" in record["runner"]["error"]
    assert project.store().verify()[0] == 1


@pytest.mark.ansible
def test_validate_checks_notification_channels(project: Project) -> None:
    """An entry naming an unknown channel, and a channel whose secret is unset, are problems."""
    project.configure({"notifications": {"channels": {
        "pd": {"type": "pagerduty", "routing_key_env": "REMEDIATOR_TEST_UNSET_KEY"}}}})
    project.write_catalog(disk_entry(notify=["nope"]))
    result = project.cli("catalog", "validate")
    assert result.exit_code == 2
    assert "entry 'disk-space-cleanup': key 'notify': no channel 'nope'" in result.stderr
    assert "REMEDIATOR_TEST_UNSET_KEY" in result.stderr


@pytest.mark.sqlite_only
def test_a_store_on_read_only_media_can_be_listed_shown_and_verified(
        project: Project, tmp_path: Path) -> None:
    """An audit copy on a read-only file system (a real read-only tmpfs mount): list, show
    and verify work; a command that must write says it cannot, and writes nothing."""
    project.fake_runs()
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    media = tmp_path / "media"
    media.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(media)], check=True)
    try:
        db = sqlite3.connect(project.store_path)  # an audit copy: checkpointed first
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        shutil.copy(project.store_path, media / "audit.db")
        subprocess.run(["mount", "-o", "remount,ro", str(media)], check=True)
        project.use_store(media / "audit.db")
        listed = project.cli("audit", "list", "--json")
        assert listed.exit_code == 0, listed.output
        assert [r["id"] for r in json.loads(listed.stdout)] == [record["id"]]
        shown = project.cli("audit", "show", record["id"], "--json")
        assert shown.exit_code == 0 and json.loads(shown.stdout)["id"] == record["id"]
        verified = project.cli("audit", "verify")
        assert verified.exit_code == 0, verified.output
        assert "audit chain OK: 1 records" in verified.output
        refused = project.cli("handle", "-", stdin=json.dumps(
            alertmanager_payload([disk_alert(mountpoint="/data")])))
        assert refused.exit_code != 0
        assert "readonly" in refused.output or "read-only" in refused.output
        assert sorted(p.name for p in media.iterdir()) == ["audit.db"]
    finally:  # lazily: the CLI ran in this process, and its store may still be open
        subprocess.run(["umount", "--lazy", str(media)], check=False)


@pytest.mark.postgresql
@pytest.mark.sqlite_only  # its own database: once is enough
def test_each_command_gives_its_store_back_whatever_it_ends_with(project: Project,
                                                                 pg_url: str) -> None:
    """Commands run in one process (a library user, these tests) leave no PostgreSQL pool
    open behind them, also when they fail: a pool left behind keeps its reconnect backoff
    after an outage, and the next command would wait it out instead of connecting."""
    from remediator.store import postgres

    project.use_store(pg_url)
    project.write_catalog(disk_entry("oversight"))
    project.fake_runs()
    payload = json.dumps(alertmanager_payload([disk_alert()]))
    commands: list[tuple[list[str], int]] = [
        (["handle", "-"], 0), (["audit", "list"], 0), (["audit", "show", "0" * 26], 6),
        (["audit", "verify"], 0), (["breaker", "status"], 0), (["stages"], 0),
        (["report", "effectiveness"], 0), (["pending"], 0),
        (["run", "disk-space-cleanup", "--limit", "nowhere", "--live"], 2)]
    for args, code in commands:
        result = project.cli(*args, stdin=payload if args[-1] == "-" else None)
        assert result.exit_code == code, (args, result.output)
        assert [url for url in postgres._POOLS if url.startswith(pg_url)] == [], args
