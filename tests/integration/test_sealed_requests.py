"""Sealed approval requests: `approve` runs exactly what was previewed, or refuses (exit 4)
with a record saying why; `audit verify` names an edited request.

No playbook runs: a RecordingExecutor stands in for ansible-runner and records each plan, so
what is tested is what approve would start. Each test runs on every backend ``--store`` selects.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from remediator import approvals
from remediator.models import Mode
from remediator.testing import RecordingExecutor

from ..conftest import REPO, Project, alertmanager_payload, disk_alert, disk_entry


@pytest.fixture(autouse=True)
def runs(project: Project) -> RecordingExecutor:
    """The plans the project's commands would have run."""
    return project.fake_runs()


def pending_request(project: Project) -> dict[str, Any]:
    """Handle the disk alert under human-initiated; return the pending record."""
    project.write_catalog(disk_entry("human-initiated"))
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    assert record["decision"]["action"] == "pending"
    return record


def edit(project: Project, sql: str) -> None:
    """Change the store behind remediator's back (the requests table has no triggers)."""
    if isinstance(project.location, str):
        import psycopg

        with psycopg.connect(project.location, autocommit=True) as conn:
            conn.execute(sql)
        return
    import sqlite3

    db = sqlite3.connect(project.location)
    try:
        db.execute(sql)
        db.commit()
    finally:
        db.close()


def refused(project: Project, runs: RecordingExecutor, request_id: str, *words: str
            ) -> dict[str, Any]:
    """Approve, expect exit 4 naming ``words``, no live run, and return the refusal record."""
    result = project.cli("approve", request_id, "--by", "mallory", "-q")
    assert result.exit_code == 4, result.output
    for word in words:
        assert word in result.stderr
    assert [plan.mode for plan in runs.plans] == [Mode.CHECK]
    record = list(project.store().records())[-1]
    assert record["decision"]["action"] == "escalate" and record["mode"] == "none"
    assert record["decision"]["reason"].startswith(f"approval refused: request {request_id}")
    assert record["request"]["state"] == "refused" and record["initiated_by"] == "mallory"
    assert f"recorded as {record['id']}" in result.stderr
    return record


def test_a_request_is_sealed_in_its_row_and_on_the_chain(project: Project) -> None:
    """The pending record carries the request's seal (as the record schema describes); the
    row holds the same one."""
    import jsonschema

    record = pending_request(project)
    jsonschema.validate(record, json.loads((REPO / "remediator" / "schema" /
                                            "audit-record-v1.json").read_text()))
    seal = record["request_seal"]
    assert set(seal) == {"seal", "entry_sha256", "expires_at"}
    assert project.store().get_request(record["id"]).seal == seal["seal"]
    assert project.cli("audit", "verify").exit_code == 0


@pytest.mark.parametrize(("column", "value"), [
    ("hosts", '["demo-web-02"]'),
    ("variables", '{"disk_mountpoint": "/etc"}'),
    ("expires_at", "2999-01-01T00:00:00.000+00:00"),
    ("preview", "{}"),
])
def test_an_edited_request_is_refused_recorded_and_named_by_verify(
        project: Project, runs: RecordingExecutor, column: str, value: str) -> None:
    """Editing what approve acts on: approve exits 4, runs nothing and records why; verify
    exits 3 naming the request and the field."""
    request = pending_request(project)
    edit(project, f"UPDATE requests SET {column} = '{value}' WHERE id = '{request['id']}'")
    refused(project, runs, request["id"], "altered after its preview", f"its {column} differs")
    verify = project.cli("audit", "verify")
    assert verify.exit_code == 3
    assert f"request {request['id']}: its {column} differs" in verify.stderr


def test_a_row_whose_seal_was_recomputed_still_fails(project: Project,
                                                    runs: RecordingExecutor) -> None:
    """A tamperer who rewrites the row's seal to fit cannot rewrite the one on the chain."""
    request = pending_request(project)
    edit(project, f"UPDATE requests SET seal = '{'0' * 64}' WHERE id = '{request['id']}'")
    refused(project, runs, request["id"], "its seal differs")
    assert project.cli("audit", "verify").exit_code == 3


def test_a_decided_request_set_back_to_pending_is_refused(project: Project,
                                                          runs: RecordingExecutor) -> None:
    """The row's state is not sealed (it moves on purpose), but the chain holds the decision:
    a denied request whose row is set back to pending cannot be approved."""
    request = pending_request(project)
    assert project.cli("deny", request["id"], "--by", "alice").exit_code == 0
    edit(project, f"UPDATE requests SET state = 'pending', decided_by = NULL, decided_at ="
         f" NULL WHERE id = '{request['id']}'")
    refused(project, runs, request["id"], "it was already denied by alice in record",
            "set back to pending")


def test_a_playbook_changed_after_the_preview_is_refused(project: Project,
                                                        runs: RecordingExecutor) -> None:
    """What would run is not what was previewed: refused and recorded; nothing was altered,
    so verify still passes."""
    request = pending_request(project)
    playbook = project.root / "playbooks" / "disk_space_cleanup.yml"
    playbook.write_text(playbook.read_text() + "\n# changed after the preview\n")
    refused(project, runs, request["id"], "playbook disk_space_cleanup.yml changed since the"
            " preview")
    assert project.cli("audit", "verify").exit_code == 0
    assert project.store().get_request(request["id"]).state == "pending"


def test_an_entry_changed_after_the_preview_is_refused(project: Project,
                                                      runs: RecordingExecutor) -> None:
    """A reviewed change to what the entry runs (its static_vars) also needs a new preview."""
    request = pending_request(project)
    project.write_catalog(disk_entry("human-initiated", static_vars={"disk_threshold_pct": 5}))
    refused(project, runs, request["id"], "catalog entry disk-space-cleanup changed")


def test_an_unrelated_catalog_change_does_not_block_approval(project: Project,
                                                            runs: RecordingExecutor) -> None:
    """Another entry added, this one's description and stage guardrails edited: what runs
    is as previewed, so approve runs it."""
    request = pending_request(project)
    other = {**disk_entry("observe"), "name": "other", "match": {"alertname": "Other"}}
    project.write_catalog(disk_entry("human-initiated", description="reworded"), other)
    result = project.cli("approve", request["id"], "--by", "alice", "--json", "-q",
                         "--reason", "only the description moved")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["mode"] == "live"
    assert record["request"]["reason"] == "only the description moved"
    assert [plan.mode for plan in runs.plans] == [Mode.CHECK, Mode.LIVE]


def unsealed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Open requests as remediator did before requests were sealed."""
    sealed = approvals.Approvals.sealed_request

    def legacy(self: Any, draft: dict[str, Any], *args: Any) -> Any:
        return replace(sealed(self, dict(draft), *args), seal=None)

    monkeypatch.setattr(approvals.Approvals, "sealed_request", legacy)


def test_a_request_from_before_sealing_is_approvable_as_recorded(
        project: Project, runs: RecordingExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a seal, a request is checked against its pending record on the chain."""
    unsealed(monkeypatch)
    request = pending_request(project)
    assert "request_seal" not in request
    assert project.store().get_request(request["id"]).seal is None
    assert project.cli("audit", "verify").exit_code == 0
    result = project.cli("approve", request["id"], "--by", "alice", "-q")
    assert result.exit_code == 0, result.output
    assert [plan.mode for plan in runs.plans] == [Mode.CHECK, Mode.LIVE]


def test_an_edited_request_from_before_sealing_is_refused(
        project: Project, runs: RecordingExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its hosts differ from its pending record: refused, recorded, named by verify."""
    unsealed(monkeypatch)
    request = pending_request(project)
    edit(project, f"UPDATE requests SET hosts = '[\"demo-web-02\"]' WHERE id = '{request['id']}'")
    refused(project, runs, request["id"], "its hosts differs")
    assert project.cli("audit", "verify").exit_code == 3


@pytest.mark.parametrize("verb", ["approve", "deny"])
def test_verify_names_a_decided_request_whose_row_was_set_back(
        project: Project, runs: RecordingExecutor, verb: str) -> None:
    """The chain holds the approval (its run) or the denial: a row set back to pending, or
    to the other decision, is named by verify (exit 3), with the record that decided it."""
    request = pending_request(project)
    done = project.cli(verb, request["id"], "--by", "alice", "--json")
    assert done.exit_code == 0, done.output
    decided = json.loads(done.stdout)["id"]
    assert project.cli("audit", "verify").exit_code == 0
    state = "approved" if verb == "approve" else "denied"
    for back in ("pending", "denied" if verb == "approve" else "approved"):
        edit(project, f"UPDATE requests SET state = '{back}' WHERE id = '{request['id']}'")
        verify = project.cli("audit", "verify")
        assert verify.exit_code == 3, verify.output
        assert f"request {request['id']}: its row says {back}, record {decided} {state} it" \
            in verify.stderr


def test_verify_names_a_request_linked_to_another_run(project: Project,
                                                     runs: RecordingExecutor) -> None:
    """An approved request's row pointing at a record other than its run is named."""
    request = pending_request(project)
    ran = json.loads(project.cli("approve", request["id"], "--by", "alice", "--json").stdout)
    edit(project, f"UPDATE requests SET result_record = '{request['id']}'"
         f" WHERE id = '{request['id']}'")
    verify = project.cli("audit", "verify")
    assert verify.exit_code == 3
    assert (f"its row links run {request['id']}, the chain's run of it is {ran['id']}"
            in verify.stderr)


def test_an_approved_run_whose_link_was_lost_is_shown_and_linked_again(
        project: Project, runs: RecordingExecutor) -> None:
    """The approver died after the run's record, before linking it to the request: verify
    passes (no decision contradicts the chain), and approving again shows that run at once
    (no second run, no waiting out the run's timeout) and links it."""
    request = pending_request(project)
    ran = json.loads(project.cli("approve", request["id"], "--by", "alice", "--json").stdout)
    edit(project, f"UPDATE requests SET result_record = NULL WHERE id = '{request['id']}'")
    assert project.cli("audit", "verify").exit_code == 0
    again = project.cli("approve", request["id"], "--by", "bob", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["id"] == ran["id"]
    assert "request already approved; its run is record" in again.stderr
    assert project.store().get_request(request["id"]).result_record == ran["id"]
    assert [plan.mode for plan in runs.plans] == [Mode.CHECK, Mode.LIVE]
