"""`remediator stages` from a store filled by the real commands (handle, approve); the runs are
a RecordingExecutor's: the track record is under test, not the playbook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediator.models import Outcome
from remediator.testing import RecordingExecutor

from ..conftest import Project, alertmanager_payload


@pytest.fixture(autouse=True)
def runs(project: Project) -> RecordingExecutor:
    """What the commands run: recorded plans, each host succeeding unless scripted."""
    return project.fake_runs()


def echo_entry(out: Path, stage: str) -> dict:
    """The fast echo playbook as an entry at ``stage``."""
    return {"name": "echo", "match": {"alertname": "Echo"}, "playbook": "echo_vars.yml",
            "stage": stage, "vars": {"note": "labels.note"}, "static_vars": {"out_dir": str(out)},
            "guardrails": {"throttle": {"per_host": 20}}}


def fire(project: Project, n: int) -> list[dict]:
    """Handle ``n`` new, distinct Echo alerts in one payload."""
    first = len(list(project.store().records())) if project.has_store() else 0
    alerts = [{"labels": {"alertname": "Echo", "instance": "demo-web-01", "note": f"n{i}"},
               "fingerprint": f"echo-{i}"} for i in range(first, first + n)]
    return project.handle(alertmanager_payload(alerts))


def stages(project: Project) -> dict:
    """`stages --json` for the single entry."""
    result = project.cli("stages", "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    return row


def stage_line(project: Project) -> int:
    """The catalog line holding the entry's stage key."""
    lines = (project.root / "remediations.yml").read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if text.strip().startswith("stage:"))


def test_observe_entry_with_enough_good_checks_is_ready_to_promote(project: Project,
                                                                    tmp_path: Path) -> None:
    """Five successful check runs make an observe entry ready for human-initiated."""
    project.write_catalog(echo_entry(tmp_path / "out", "observe"))
    fire(project, 4)
    row = stages(project)
    assert row["recommendation"] == "hold"
    assert "needs 1 more successful check runs" in row["evidence"]
    fire(project, 1)
    row = stages(project)
    assert (row["recommendation"], row["to"]) == ("promote", "human-initiated")
    assert row["track_record"]["checks"] == 5
    catalog = project.root / "remediations.yml"
    assert row["edit"] == (f"{catalog}:{stage_line(project)}: in entry 'echo' change "
                           "'stage: observe' to 'stage: human-initiated'")
    text = project.cli("stages").stdout
    assert "recommendation: promote to human-initiated" in text
    assert "the change to commit:" in text


def test_approved_runs_verify_check_predictions(project: Project, tmp_path: Path) -> None:
    """A preview followed by its approved live run counts as a prediction that held."""
    project.write_catalog(echo_entry(tmp_path / "out", "human-initiated"))
    (pending,) = fire(project, 1)
    approved = project.cli("approve", pending["id"], "--by", "alice", "-q")
    assert approved.exit_code == 0, approved.output
    row = stages(project)
    track = row["track_record"]
    assert (track["checks"], track["live_runs"], track["live_successes"]) == (1, 1, 1)
    assert (track["predictions_held"], track["predictions_missed"]) == (1, 0)
    assert row["recommendation"] == "hold"
    assert "needs 4 more successful approved runs" in row["evidence"]


def test_repeated_live_failures_recommend_demotion(project: Project,
                                                  runs: RecordingExecutor) -> None:
    """Two failed live runs in a row recommend moving an oversight entry back down."""
    runs.outcomes["demo-web-01"] = Outcome.FAILED
    project.write_catalog({"name": "flaky", "match": {"alertname": "Echo"},
                           "playbook": "fail.yml", "stage": "oversight"})
    fire(project, 2)
    result = project.cli("stages", "--json")
    (row,) = json.loads(result.stdout)
    assert (row["recommendation"], row["to"]) == ("demote", "human-initiated")
    assert row["track_record"]["live_failures"] == 2
    assert row["track_record"]["last_failure"]["outcome"] == "failed"
    assert row["edit"].endswith("change 'stage: oversight' to 'stage: human-initiated'")
