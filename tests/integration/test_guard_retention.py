"""`handle` prunes guard state past ``keep_guard_state`` about hourly, from one index lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from remediator.testing import RecordingExecutor

from ..conftest import Project, alertmanager_payload, disk_alert


@pytest.fixture(autouse=True)
def runs(project: Project) -> RecordingExecutor:
    """No playbook runs: pruning is under test."""
    return project.fake_runs()

DAY = 86400


def claim(project: Project, fingerprint: str, age_s: int) -> None:
    """A dedupe claim filed ``age_s`` seconds ago."""
    at = datetime.now(UTC) - timedelta(seconds=age_s)
    store = project.store()
    try:
        with store.guard(at, 3600) as session:
            session.claim(fingerprint, at.isoformat(), "firing", "live", f"rec-{fingerprint}",
                          at)
    finally:
        store.close()


def claims(project: Project) -> list[str]:
    return sorted(row[0] for row in project.query("SELECT fingerprint FROM guard_seen"))


def test_handle_prunes_once_the_oldest_claim_is_an_hour_past_keeping(project: Project) -> None:
    """A claim 30 minutes past keeping waits (no prune per payload); once the oldest is more
    than an hour past, every claim past keeping goes, and the new alert's claim stays."""
    project.configure({"keep_guard_state": 10 * DAY})  # the horizons (2 days + 1 h) are less
    claim(project, "just-past", 10 * DAY + 1800)
    project.handle(alertmanager_payload([{**disk_alert(), "fingerprint": "first"}]))
    assert claims(project) == ["first", "just-past"]
    claim(project, "long-past", 40 * DAY)
    project.handle(alertmanager_payload([{**disk_alert(), "fingerprint": "second"}]))
    assert claims(project) == ["first", "second"]
