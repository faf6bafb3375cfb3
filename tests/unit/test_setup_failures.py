"""Runs that stop before touching any host, named in plain words (from event shapes and
ansible's error lines as recorded from ansible-core 2.19)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from remediator.models import HostResult, Outcome, RunnerStatus, TaskResult
from remediator.results import ResultCollector, failure_summary, setup_failure

ERRORS = {  # ansible-playbook's own first lines for each cause
    "missing-role": "[ERROR]: the role 'load_relief' was not found in /r/playbooks/roles:/r/roles"
                    "\nOrigin: /r/playbooks/load_relief.yml:7:7",
    "vault": "[ERROR]: Attempting to decrypt but no vault secrets found",
    "missing-collection": "[ERROR]: couldn't resolve module/action 'acme.ops.drain'. This "
                          "often indicates a misspelling, missing collection, or incorrect "
                          "module path.",
    "syntax": "[ERROR]: YAML parsing failed: Expected a mapping\nOrigin: /r/p.yml:3:1",
}


@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_causes_are_named(kind: str) -> None:
    """A failed run with no host event: its cause from ansible's error output."""
    found = setup_failure(ResultCollector(), RunnerStatus.FAILED, ERRORS[kind], ["web-01"])
    assert found is not None and found[0] == kind
    assert ERRORS[kind].splitlines()[0] in found[1]


def test_unknown_cause_is_still_a_setup_failure() -> None:
    found = setup_failure(ResultCollector(), RunnerStatus.FAILED, "[ERROR]: something new",
                          ["web-01"])
    assert found == ("setup", "the playbook stopped before touching any host: "
                              "[ERROR]: something new")


def test_a_touched_host_or_a_cancelled_run_is_no_setup_failure() -> None:
    collector = ResultCollector()
    collector.feed({"event": "runner_on_failed", "event_data": {
        "host": "web-01", "task": "t", "res": {"msg": "boom"}}})
    assert setup_failure(collector, RunnerStatus.FAILED, ERRORS["vault"], ["web-01"]) is None
    assert setup_failure(ResultCollector(), RunnerStatus.CANCELED, ERRORS["vault"],
                         ["web-01"]) is None


def test_no_hosts_matched_names_target_and_play() -> None:
    """rc 0, no task ran: the target and each play's pattern are named."""
    collector = ResultCollector()
    collector.feed({"event": "playbook_on_play_start",
                    "event_data": {"play": "Restart", "play_pattern": "dbservers"}})
    collector.feed({"event": "playbook_on_no_hosts_matched", "event_data": {}})
    found = setup_failure(collector, RunnerStatus.SUCCESSFUL, None, ["web-01"])
    assert found == ("no-hosts-matched", "no host matched: web-01 is not in the hosts of play "
                     "'Restart' (hosts: dbservers); the playbook ran no task (fix the play's "
                     "hosts: pattern or the entry)")


def test_failure_summary_prefers_the_failing_task() -> None:
    failed = TaskResult(name="Restart nginx", action="ansible.builtin.service",
                        status="failed", changed=False, msg="Unable to start\nservice nginx")
    hosts = {"web-01": HostResult(ok=1, failed=1, tasks=(failed,))}
    assert failure_summary(hosts, Outcome.FAILED, "PLAY RECAP ...\n ^ column 7") == (
        "web-01: task 'Restart nginx' failed: Unable to start service nginx")
    assert failure_summary({}, Outcome.FAILED, "a role the playbook uses is not installed: "
                           "[ERROR]: x\n^ column 7") == (
        "a role the playbook uses is not installed: [ERROR]: x")
    assert failure_summary(hosts, Outcome.SUCCEEDED, None) is None


def test_masking_a_run_folder_never_raises(tmp_path: Path) -> None:
    """A run folder that cannot be rewritten (here a read-only mount, as a full disk would
    refuse the write) is left as it is without an exception: the run is still recorded."""
    from remediator.vault import MASK, VaultScan, redact_tree

    scan = VaultScan(secrets=frozenset({"qtok-secret-value"}))
    writable = tmp_path / "ok"
    writable.mkdir()
    (writable / "stdout").write_text("token=qtok-secret-value\n", encoding="utf-8")
    assert redact_tree(writable, scan) == 1
    assert (writable / "stdout").read_text(encoding="utf-8") == f"token={MASK}\n"
    media = tmp_path / "media"
    media.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(media)], check=True)
    try:
        (media / "stdout").write_text("token=qtok-secret-value\n", encoding="utf-8")
        subprocess.run(["mount", "-o", "remount,ro", str(media)], check=True)
        assert redact_tree(media, scan) == 0
    finally:
        subprocess.run(["umount", "--lazy", str(media)], check=False)
