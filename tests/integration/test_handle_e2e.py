"""The example alert through `remediator handle`: real ansible-runner runs in check and live
mode, and the CLI's decisions around them (those with a RecordingExecutor, where no playbook
needs to run)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest

from remediator.audit import REQUIRED_FIELDS
from remediator.models import Mode

from ..conftest import PAYLOADS, Project, alertmanager_payload, disk_alert, disk_entry

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "remediator" / "schema" /
                     "audit-record-v1.json").read_text())
STALE = {"var/cache/app/render-0001.bin", "var/cache/app/thumbs/thumb-0003.bin"}
FRESH = {"var/cache/app/fresh-0001.bin", "var/lib/app/data.bin"}


def valid(record: dict) -> dict:
    """Assert ``record`` has every documented field and fits the JSON schema; return it."""
    assert set(REQUIRED_FIELDS) <= set(record)
    jsonschema.validate(record, SCHEMA)
    return record


@pytest.mark.ansible
def test_observe_runs_check_mode_changes_nothing_and_records_the_diff(project: Project) -> None:
    """An observe entry runs --check --diff: the sandbox is untouched, the record lists each file."""
    before = project.snapshot()
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    assert project.snapshot() == before
    valid(record)
    assert (record["stage"], record["mode"], record["decision"]["action"]) == (
        "observe", "check", "run")
    assert record["outcome"] == "succeeded"
    assert record["alert"]["hosts"] == ["demo-web-01"]
    host = record["hosts"]["demo-web-01"]
    removal = next(t for t in host["tasks"] if t["action"] == "ansible.builtin.file")
    assert removal["changed"] is True
    paths = {d["after"]["path"] for d in removal["diff"]}
    assert {str(project.sandbox / p) for p in STALE} <= paths
    assert not {str(project.sandbox / p) for p in FRESH} & paths
    assert all(d["after"]["state"] == "absent" for d in removal["diff"])
    assert record["runner"]["ident"] == record["id"]
    assert (project.runs / record["id"] / "artifacts" / record["id"] / "job_events").is_dir()


@pytest.mark.ansible
def test_live_stages_make_the_change(project: Project) -> None:
    """A live stage runs live: stale cache files go, fresh and non-cache files stay."""
    project.write_catalog(disk_entry("oversight"))
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    valid(record)
    assert (record["stage"], record["mode"], record["outcome"]) == (
        "oversight", "live", "succeeded")
    after = project.snapshot()
    assert not STALE & set(after)
    assert set(after) >= FRESH
    assert record["hosts"]["demo-web-01"]["changed"] >= 1


@pytest.mark.parametrize("stage", ["observe", "human-initiated", "oversight", "fallback"])
def test_each_stage_runs_in_its_mode(project: Project, stage: str) -> None:
    """observe runs check mode; human-initiated previews in check mode and is pending; oversight
    and fallback run live. Each record fits the schema."""
    runs = project.fake_runs()
    project.write_catalog(disk_entry(stage))
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    valid(record)
    mode, action = {"observe": ("check", "run"), "human-initiated": ("check", "pending")}.get(
        stage, ("live", "run"))
    assert (record["stage"], record["mode"], record["decision"]["action"]) == (
        stage, mode, action)
    assert [(p.mode, p.hosts) for p in runs.plans] == [(Mode(mode), ("demo-web-01",))]
    assert record["hosts"]["demo-web-01"]["changed"] == 1  # the run's result is recorded


def test_a_backtracking_bomb_matcher_does_not_stall_handle(project: Project) -> None:
    """A matcher ``(a+)+$`` and a 41-character label (over a minute under Python's re): handle
    decides at once, the next entry matching."""
    runs = project.fake_runs()
    project.write_catalog(disk_entry(name="bomb", match={
        "alertname": "DiskSpaceLow", "matchers": ['fstype=~"(a+)+$"']}), disk_entry())
    started = time.monotonic()
    (record,) = project.handle(alertmanager_payload([disk_alert(fstype="a" * 40 + "!")]))
    assert time.monotonic() - started < 10
    assert record["remediation"]["name"] == "disk-space-cleanup"
    assert len(runs.plans) == 1


def test_max_stage_caps_a_live_entry_and_says_so(project: Project) -> None:
    """--max-stage observe turns an oversight entry into a check run and records the ceiling."""
    runs = project.fake_runs()
    project.write_catalog(disk_entry("oversight"))
    result = project.cli("--max-stage", "observe", "handle", "--json", "-",
                         stdin=json.dumps(alertmanager_payload([disk_alert()])))
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert [p.mode for p in runs.plans] == [Mode.CHECK]
    assert (record["stage"], record["mode"]) == ("observe", "check")
    assert record["remediation"]["configured_stage"] == "oversight"
    assert record["decision"]["max_stage"] == "observe"
    assert "capped from oversight to observe" in record["decision"]["notes"][0]


def test_max_stage_env_var_is_the_same_brake(project: Project) -> None:
    """REMEDIATOR_MAX_STAGE caps like --max-stage does."""
    runs = project.fake_runs()
    project.write_catalog(disk_entry("fallback"))
    result = project.cli("handle", "--json", "-", env={"REMEDIATOR_MAX_STAGE": "human-initiated"},
                         stdin=json.dumps(alertmanager_payload([disk_alert()])))
    (record,) = json.loads(result.stdout)
    assert (record["stage"], record["decision"]["action"]) == ("human-initiated", "pending")
    assert [p.mode for p in runs.plans] == [Mode.CHECK]


def test_resolved_alert_never_runs(project: Project) -> None:
    """A resolved alert is recorded as skip and no playbook runs."""
    project.write_catalog(disk_entry("fallback"))
    before = project.snapshot()
    (record,) = project.handle(alertmanager_payload([disk_alert(status="resolved")]))
    valid(record)
    assert (record["decision"]["action"], record["mode"], record["outcome"]) == (
        "skip", "none", "not-run")
    assert "resolved" in record["decision"]["reason"]
    assert record["runner"] is None
    assert project.snapshot() == before
    assert not project.runs.exists() or not any(project.runs.iterdir())


def test_unmatched_and_unknown_hosts_are_recorded_with_reasons(project: Project) -> None:
    """No matching entry is a skip; a target outside the inventory is an escalate; both recorded."""
    payload = alertmanager_payload([
        {"labels": {"alertname": "SomethingElse", "instance": "demo-web-01:9100"}},
        disk_alert("db-99"),
    ])
    unmatched, unknown = project.handle(payload)
    valid(unmatched)
    valid(unknown)
    assert unmatched["remediation"] is None
    assert unmatched["decision"]["action"] == "skip"
    assert "no catalog entry matches" in unmatched["decision"]["reason"]
    assert unknown["decision"]["action"] == "escalate"
    assert "'db-99' is not in the inventory" in unknown["decision"]["reason"]
    assert project.store().verify()[0] == 2


def test_target_found_by_ansible_host_address(project: Project) -> None:
    """An instance label holding a host's ansible_host address resolves to that host's name."""
    runs = project.fake_runs()
    project.write_catalog(disk_entry(
        "observe", vars={"disk_mountpoint": "labels.mountpoint"},
        static_vars={"disk_threshold_pct": 101}))
    (record,) = project.handle(alertmanager_payload([disk_alert("10.99.0.2")]))
    assert record["alert"]["hosts"] == ["demo-web-02"]
    assert [p.hosts for p in runs.plans] == [("demo-web-02",)]


@pytest.mark.ansible
def test_failed_fix_is_data_and_fail_on_escalate_exits_1(project: Project) -> None:
    """A playbook that fails is exit 0 with outcome failed; --fail-on-escalate makes it exit 1."""
    project.write_catalog(disk_entry("oversight", static_vars={"cleanup_min_share_pct": 99},
                                     guardrails={"cooldown": 0}))
    payload = json.dumps(alertmanager_payload([disk_alert()]))
    result = project.cli("handle", "--json", "-", stdin=payload)
    again_payload = json.dumps(alertmanager_payload([{**disk_alert(), "fingerprint": "fp-2"}]))
    assert result.exit_code == 0
    (record,) = json.loads(result.stdout)
    valid(record)
    assert record["outcome"] == "failed"
    failed = [t for t in record["hosts"]["demo-web-01"]["tasks"] if t["status"] == "failed"]
    assert failed and "not the culprit" in failed[0]["msg"]
    again = project.cli("handle", "--fail-on-escalate", "-q", "-", stdin=again_payload)
    assert again.exit_code == 1
    assert "outcome:  failed" in again.stdout


def test_malformed_payload_is_exit_2_and_records_nothing(project: Project) -> None:
    """A payload that fits no source exits 2 naming what was expected; the store stays empty."""
    result = project.cli("handle", str(PAYLOADS / "unknown-shape.json"))
    assert result.exit_code == 2
    assert "unknown-shape.json" in result.stderr
    assert "alertmanager" in result.stderr and "generic" in result.stderr
    bad_json = project.cli("handle", str(PAYLOADS / "not-json.txt"))
    assert bad_json.exit_code == 2
    assert "not-json.txt:5:" in bad_json.stderr
    assert not project.has_store() or project.store().verify()[0] == 0


@pytest.mark.ansible
def test_human_output_progress_on_stderr_and_clean_json_on_stdout(project: Project) -> None:
    """Progress lines go to stderr; with --json stdout is exactly one JSON document."""
    result = project.cli("handle", "--json", "-",
                         stdin=json.dumps(alertmanager_payload([disk_alert()])))
    assert "[demo-web-01]" in result.stderr
    assert "[demo-web-01]" not in result.stdout
    assert isinstance(json.loads(result.stdout), list)


def test_audit_list_show_verify_after_handle(project: Project) -> None:
    """The CLI lists, shows (by id prefix) and verifies the records handle wrote."""
    project.fake_runs().task = "Remove the stale files"
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    listed = json.loads(project.cli("audit", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [record["id"]]
    shown = json.loads(project.cli("audit", "show", record["id"][:12], "--json").stdout)
    assert shown == record
    text = project.cli("audit", "show", record["id"]).stdout
    assert "Remove the stale files" in text
    verified = project.cli("audit", "verify")
    assert verified.exit_code == 0
    assert f"1 records\nhead {record['hash']}" in verified.stdout
    missing = project.cli("audit", "show", "ffffffff")
    assert missing.exit_code == 6
