"""The audit record's hash chain: seal, verify, canonical JSON and redaction."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remediator import audit
from remediator.audit import GENESIS_HASH, canonical, record_hash, redact, seal, verify_chain
from remediator.errors import ChainError
from remediator.models import (
    Action,
    Alert,
    Decision,
    HostResult,
    Matcher,
    MatchOp,
    Mode,
    Outcome,
    Remediation,
    RunnerStatus,
    RunResult,
    Stage,
    TaskResult,
    frozen_map,
)
from remediator.reasons import Reason

ALERT = Alert(source="alertmanager", name="DiskSpaceLow", status="firing",
              fingerprint="3f2a9c0d11e4b5a6",
              labels=frozen_map({"alertname": "DiskSpaceLow", "instance": "web01:9100",
                                 "mountpoint": "/"}),
              annotations=frozen_map({"summary": "root is 91% full"}))
REMEDIATION = Remediation(name="disk-space-cleanup",
                          matchers=(Matcher("alertname", MatchOp.EQ, "DiskSpaceLow"),),
                          playbook="noop.yml", playbook_path="/srv/playbooks/noop.yml",
                          stage=Stage.OVERSIGHT)
RUN = RunResult(
    ident="run-0001", status=RunnerStatus.SUCCESSFUL, rc=0,
    started_at="2025-01-02T03:04:05Z", finished_at="2025-01-02T03:04:09Z", duration_s=4.25,
    hosts={"web01": HostResult(ok=2, changed=1, tasks=(
        TaskResult("Remove stale files", "ansible.builtin.file", "changed", True,
                   diff={"before": "present", "after": "absent"}),
        TaskResult("Report", "ansible.builtin.debug", "ok", False, msg="freed 4 MiB"),
    ))},
    outcome=Outcome.SUCCEEDED,
)
DECISIONS = (
    Decision(Action.RUN, Reason.STAGE, "stage oversight: live run", Mode.LIVE, Stage.OVERSIGHT,
             Stage.OVERSIGHT, ("web01",), frozen_map({"disk_mountpoint": "/"})),
    Decision(Action.SKIP, Reason.NO_ENTRY, "no catalog entry matches alert 'CpuHigh'", Mode.NONE, None),
    Decision(Action.RUN, Reason.STAGE, "stage observe: check-mode run", Mode.CHECK, Stage.OBSERVE,
             Stage.OVERSIGHT, ("web01",), frozen_map({"disk_mountpoint": "/"}),
             capped_by=Stage.OBSERVE, notes=("stage capped from oversight to observe",)),
    Decision(Action.ESCALATE, Reason.UNKNOWN_HOST, "target 'ghost' is not in the inventory", Mode.NONE,
             Stage.OVERSIGHT, Stage.OVERSIGHT),
    Decision(Action.RUN, Reason.STAGE, "stage oversight: live run", Mode.LIVE, Stage.OVERSIGHT,
             Stage.OVERSIGHT, ("web01",), frozen_map({"disk_mountpoint": "/var",
                                                      "api_token": "s3cr3t-value"})),
)


def record(index: int, decision: Decision) -> dict[str, Any]:
    """An unsealed record for ``decision``, the first and last with a finished run."""
    matched = decision.stage is not None
    run = RUN if index in (0, len(DECISIONS) - 1) else None
    return audit.build(
        record_id=f"rec-{index:04d}", created_at=f"2025-01-02T03:04:{index:02d}Z",
        alert=ALERT, hosts=decision.hosts, remediation=REMEDIATION if matched else None,
        playbook_sha256="ab" * 32 if matched else None,
        catalog_revision={"commit": "0123abcd", "dirty": False} if matched else None,
        decision=decision, initiated_by="automation", run=run,
    )


def chain() -> list[dict[str, Any]]:
    """The five records of DECISIONS sealed into one chain, starting from the genesis hash."""
    sealed: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    for index, decision in enumerate(DECISIONS):
        sealed.append(seal(record(index, decision), prev))
        prev = sealed[-1]["hash"]
    return sealed


def broken_at(records: list[dict[str, Any]]) -> ChainError:
    """The ChainError that verifying ``records`` raises."""
    with pytest.raises(ChainError) as caught:
        verify_chain(records)
    return caught.value


def altered(value: Any) -> Any:
    """A different value of a JSON-compatible kind than ``value``."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, dict):
        return {**value, "injected": True}
    if isinstance(value, list):
        return [*value, "injected"]
    return "was null"


def test_valid_chain_verifies_and_returns_its_head() -> None:
    """An untouched chain verifies; the answer is its length and the last record's hash."""
    records = chain()
    assert verify_chain(records) == (len(DECISIONS), records[-1]["hash"])


def test_empty_chain_verifies_to_the_genesis_hash() -> None:
    """No records is a valid chain whose head is the genesis hash."""
    assert verify_chain([]) == (0, GENESIS_HASH)


def test_chain_links_each_record_to_the_one_before() -> None:
    """The first record points at the genesis hash, each next one at its predecessor's hash."""
    records = chain()
    assert records[0]["prev_hash"] == GENESIS_HASH
    for before, after in itertools.pairwise(records):
        assert after["prev_hash"] == before["hash"]
    assert len({r["hash"] for r in records}) == len(records)


def test_sealed_record_has_every_documented_field() -> None:
    """A built and sealed record carries each field the design lists, at schema version 1."""
    for sealed in chain():
        assert set(audit.REQUIRED_FIELDS) <= set(sealed)
        assert sealed["schema_version"] == 1
        assert sealed["hash"] == record_hash(sealed)


def test_seal_does_not_change_its_input() -> None:
    """seal returns a new record and leaves the one passed in unsealed."""
    unsealed = record(1, DECISIONS[1])
    sealed = seal(unsealed, GENESIS_HASH)
    assert "hash" not in unsealed
    assert "prev_hash" not in unsealed
    assert sealed is not unsealed


def test_seal_ignores_a_stale_hash() -> None:
    """Sealing a record that already has a hash replaces it with the right one."""
    stale = {**record(1, DECISIONS[1]), "hash": "f" * 64}
    sealed = seal(stale, GENESIS_HASH)
    assert sealed["hash"] == record_hash({k: v for k, v in sealed.items() if k != "hash"})
    assert sealed["hash"] != "f" * 64


FIELDS = sorted(chain()[0])


@pytest.mark.parametrize("index", range(len(DECISIONS)))
@pytest.mark.parametrize("field", FIELDS)
def test_altering_any_field_names_that_record(index: int, field: str) -> None:
    """Changing one top-level field of record k makes verify fail naming record k."""
    records = chain()
    records[index][field] = altered(records[index][field])
    error = broken_at(records)
    assert error.record_id == records[index]["id"]
    assert error.exit_code == 3
    assert str(error).startswith(f"record {records[index]['id']}: ")


NESTED: dict[str, Callable[[dict[str, Any]], None]] = {
    "alert.labels.instance": lambda r: r["alert"]["labels"].update(instance="web02:9100"),
    "alert.hosts": lambda r: r["alert"]["hosts"].append("web02"),
    "decision.action": lambda r: r["decision"].update(action="skip"),
    "decision.variables": lambda r: r["decision"]["variables"].update(disk_mountpoint="/etc"),
    "hosts.web01.changed": lambda r: r["hosts"]["web01"].update(changed=0),
    "hosts.web01.tasks[0].diff.after": lambda r: r["hosts"]["web01"]["tasks"][0]["diff"].update(
        after="present"),
    "runner.rc": lambda r: r["runner"].update(rc=2),
    "remediation.catalog_revision.dirty": lambda r: r["remediation"]["catalog_revision"].update(
        dirty=True),
}


@pytest.mark.parametrize("index", [0, len(DECISIONS) - 1])
@pytest.mark.parametrize("change", sorted(NESTED))
def test_altering_a_nested_field_names_that_record(index: int, change: str) -> None:
    """Changing a value deep inside record k (a label, a task diff) names record k."""
    records = [copy.deepcopy(r) for r in chain()]  # one copy each: no shared nested values
    NESTED[change](records[index])
    error = broken_at(records)
    assert error.record_id == f"rec-{index:04d}"
    assert "altered" in str(error)


def test_resealing_an_altered_record_is_caught_at_the_next() -> None:
    """Re-hashing a forged record breaks the link to the record after it."""
    records = chain()
    forged = {**records[1], "initiated_by": "mallory"}
    records[1] = seal(forged, records[1]["prev_hash"])
    error = broken_at(records)
    assert error.record_id == "rec-0002"
    assert "prev_hash does not match" in str(error)


@pytest.mark.parametrize("index", range(len(DECISIONS) - 1))
def test_removing_a_record_names_the_one_after_it(index: int) -> None:
    """Deleting record k is reported at record k+1, whose prev_hash no longer fits."""
    records = chain()
    del records[index]
    error = broken_at(records)
    assert error.record_id == f"rec-{index + 1:04d}"
    assert "prev_hash does not match" in str(error)


@pytest.mark.parametrize("index", range(len(DECISIONS) - 1))
def test_swapping_two_records_is_caught(index: int) -> None:
    """Exchanging records k and k+1 is caught at position k."""
    records = chain()
    records[index], records[index + 1] = records[index + 1], records[index]
    error = broken_at(records)
    assert error.record_id == f"rec-{index + 1:04d}"


def test_inserting_a_record_is_caught() -> None:
    """A record slipped into the middle of the chain does not fit."""
    records = chain()
    intruder = seal(record(9, DECISIONS[1]) | {"id": "rec-9999"}, records[1]["hash"])
    records.insert(2, intruder)
    error = broken_at(records)
    assert error.record_id == "rec-0002"


def test_canonical_json_is_independent_of_key_order() -> None:
    """Two records with the same content in different key orders hash the same."""
    original = chain()[0]
    reordered = json.loads(json.dumps(original, sort_keys=True))
    reversed_keys = {k: reordered[k] for k in reversed(list(reordered))}
    reversed_keys["alert"] = {k: original["alert"][k] for k in reversed(list(original["alert"]))}
    assert list(reversed_keys) != list(original)
    assert canonical(reversed_keys) == canonical(original)
    assert record_hash(reversed_keys) == original["hash"]


def test_canonical_json_is_compact_sorted_utf8_without_hash() -> None:
    """Canonical JSON sorts keys at every level, has no spaces, keeps UTF-8 and drops ``hash``."""
    body = {"hash": "ignored", "b": 1, "a": {"d": [1, 2], "c": "café"}}
    assert canonical(body) == '{"a":{"c":"café","d":[1,2]},"b":1}'.encode()


def test_canonical_json_refuses_nan() -> None:
    """A NaN (not valid JSON) cannot be hashed into the chain."""
    with pytest.raises(ValueError):
        canonical({"duration_s": float("nan")})


def test_chain_survives_a_json_round_trip(tmp_path: Path) -> None:
    """Records written to and read back from JSON still verify."""
    records = chain()
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    loaded = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert verify_chain(loaded) == (len(records), records[-1]["hash"])


# redaction


@pytest.mark.parametrize("name", ["password", "db_pass", "api_token", "client_secret",
                                  "ssh_key", "Credentials", "AUTH_HEADER", "vault_passphrase"])
def test_redact_hides_secret_looking_names(name: str) -> None:
    """A variable whose name looks secret has its value replaced by a marker."""
    assert redact({name: "hunter2"}) == {name: "<redacted>"}


@pytest.mark.parametrize("name", ["disk_mountpoint", "service", "alert_name", "threshold_pct"])
def test_redact_keeps_ordinary_names(name: str) -> None:
    """Ordinary variable names keep their values."""
    assert redact({name: "/var"}) == {name: "/var"}


def test_built_record_never_holds_a_secret_value() -> None:
    """A decision variable named like a secret is redacted in the record and its hash input."""
    sealed = chain()[-1]
    assert sealed["decision"]["variables"] == {"api_token": "<redacted>",
                                               "disk_mountpoint": "/var"}
    assert b"s3cr3t-value" not in canonical(sealed)
