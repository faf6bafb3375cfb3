"""remediator started from inside an ansible-runner job (as in AWX) still runs its playbooks."""

from __future__ import annotations

import pytest

from remediator.executor.local import _outer_runner_undone

from ..conftest import Project, alertmanager_payload, disk_alert


@pytest.mark.ansible
def test_a_run_inside_a_runner_job_succeeds(project: Project, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    """The enclosing runner's callback settings do not break our run (they did: rc 250)."""
    monkeypatch.setenv("ANSIBLE_STDOUT_CALLBACK", "awx_display")
    monkeypatch.delenv("ORIGINAL_STDOUT_CALLBACK", raising=False)
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    assert (record["runner"]["status"], record["outcome"]) == ("successful", "succeeded")


def test_the_replaced_callback_is_restored() -> None:
    """Only runner's own callback is undone, back to what it replaced (else Ansible's default)."""
    assert _outer_runner_undone({}) == {}
    assert _outer_runner_undone({"ANSIBLE_STDOUT_CALLBACK": "yaml"}) == {}
    assert _outer_runner_undone({"ANSIBLE_STDOUT_CALLBACK": "awx_display"}) == {
        "ANSIBLE_STDOUT_CALLBACK": "default"}
    assert _outer_runner_undone({"ANSIBLE_STDOUT_CALLBACK": "awx_display",
                                 "ORIGINAL_STDOUT_CALLBACK": "yaml"}) == {
        "ANSIBLE_STDOUT_CALLBACK": "yaml"}
