"""The audit record (schema_version 1): built from a decision and its run, then hash-chained."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

from .errors import ChainError
from .models import Alert, Decision, Outcome, Remediation, RunResult
from .record import (
    AlertPart,
    AuditRecord,
    Draft,
    RemediationPart,
    RunnerPart,
    Truncated,
    entry_name,
    stored,
)
from .results import failure_summary

SCHEMA_VERSION = 1
GENESIS_HASH = "0" * 64
REQUIRED_FIELDS = (
    "id", "schema_version", "created_at", "alert", "remediation", "stage", "mode", "decision",
    "initiated_by", "started_at", "finished_at", "duration_s", "runner", "outcome", "hosts",
    "notifications", "prev_hash", "hash",
)


REDACTED = "<redacted>"  # a recorded variable's value when its name looks secret
_SECRET_RE = re.compile(r"pass|secret|token|key|credential|auth", re.IGNORECASE)


def redact(variables: Mapping[str, Any]) -> dict[str, Any]:
    """The variables as recorded: values of secret-looking names replaced by a marker."""
    return {k: REDACTED if _SECRET_RE.search(k) else v for k, v in sorted(variables.items())}


def canonical(record: Mapping[str, Any]) -> bytes:
    """The canonical JSON of ``record`` without its ``hash``: sorted keys, no spaces, UTF-8."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def record_hash(record: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of the record without ``hash``."""
    return hashlib.sha256(canonical(record)).hexdigest()


def seal(record: Draft | Mapping[str, Any], prev_hash: str) -> AuditRecord:
    """A copy of ``record`` chained to ``prev_hash`` with its own ``hash`` set."""
    sealed = dict(record)
    sealed["prev_hash"] = prev_hash
    sealed.pop("hash", None)
    sealed["hash"] = record_hash(sealed)
    return stored(sealed)


def verify_chain(records: Iterable[Mapping[str, Any]]) -> tuple[int, str]:
    """Walk the chain in order; raise ChainError naming the first record that does not fit."""
    prev = GENESIS_HASH
    count = 0
    for record in records:
        prev = check_link(record, prev)
        count += 1
    return count, prev


def check_link(record: Mapping[str, Any], prev: str) -> str:
    """The record's hash, after checking it follows ``prev`` and its content fits its hash;
    else a ChainError naming it."""
    rid = str(record.get("id"))
    if record.get("prev_hash") != prev:
        raise ChainError(f"record {rid}: prev_hash does not match the record before it "
                         "(a record was removed, reordered or inserted)", record_id=rid)
    if record_hash(record) != record.get("hash"):
        raise ChainError(f"record {rid}: content does not match its hash (it was altered)",
                         record_id=rid)
    return str(record["hash"])


def build(
    *,
    record_id: str,
    created_at: str,
    alert: Alert | None,
    hosts: Iterable[str],
    remediation: Remediation | None,
    playbook_sha256: str | None,
    catalog_revision: Mapping[str, Any] | None,
    decision: Decision,
    initiated_by: str,
    run: RunResult | None,
    extra: Mapping[str, Any] | None = None,
) -> Draft:
    """An unsealed audit record with every documented field, ready for ``store.append``;
    ``extra`` adds the optional ones (``batch``, ``request``)."""
    record: Draft = {
        "id": record_id,
        "schema_version": SCHEMA_VERSION,
        "created_at": created_at,
        "alert": None if alert is None else cast(AlertPart, {**alert.as_dict(),
                                                             "hosts": list(hosts)}),
        "remediation": None if remediation is None else _remediation(
            remediation, playbook_sha256, catalog_revision),
        "stage": None if decision.stage is None else str(decision.stage),
        "mode": str(decision.mode),
        "decision": {
            "action": str(decision.action),
            "code": str(decision.code),
            "reason": decision.reason,
            "notes": list(decision.notes),
            "max_stage": None if decision.capped_by is None else str(decision.capped_by),
            "variables": redact(decision.variables),
        },
        "initiated_by": initiated_by,
        "started_at": run.started_at if run else None,
        "finished_at": run.finished_at if run else None,
        "duration_s": run.duration_s if run else None,
        "runner": None if run is None else _runner(run),
        "outcome": str(run.outcome if run else Outcome.NOT_RUN),
        "hosts": {} if run is None else {h: r.as_dict() for h, r in run.hosts.items()},
        "notifications": [],
    }
    truncated = truncation(run)
    if truncated is not None:
        record["truncated"] = truncated
    cast(dict[str, Any], record).update(extra or {})
    return record


def truncation(run: RunResult | None) -> Truncated | None:
    """The record's ``truncated`` when the run's task lists are bounded, else None: how many
    tasks are listed and omitted, and where every event is kept."""
    if run is None:
        return None
    omitted = sum(sum(h.omitted.values()) for h in run.hosts.values())
    if not omitted:
        return None
    return {
        "tasks_listed": sum(len(h.tasks) for h in run.hosts.values()),
        "tasks_omitted": omitted,
        "job_events": _events_at(run),
    }


def _events_at(run: RunResult) -> str | None:
    """Where every event of the run is kept: ansible-runner's job_events folder, or the AWX
    job's job_events endpoint."""
    if not run.artifacts:
        return None
    base = run.artifacts.rstrip("/")
    return f"{base}/job_events/" if run.job is not None else f"{base}/job_events"


def _remediation(remediation: Remediation, playbook_sha256: str | None,
                 catalog_revision: Mapping[str, Any] | None) -> RemediationPart:
    """The record's ``remediation``: the entry, what it runs, and at which revision."""
    result: RemediationPart = {
        "name": remediation.name,
        "playbook": remediation.playbook,
        "playbook_sha256": playbook_sha256,
        "catalog_revision": cast(Any, dict(catalog_revision or {})),
        "configured_stage": str(remediation.stage),
    }
    if remediation.job_template is not None:  # runs on AWX: "playbook" is empty
        result["job_template"] = remediation.job_template
    if remediation.collection is not None:  # an FQCN playbook: the collection that holds it
        result["collection"] = {"name": remediation.collection.name,
                                "version": remediation.collection.version}
        if remediation.collection.sha256 is not None:
            result["collection"]["sha256"] = remediation.collection.sha256
    return result


def _runner(run: RunResult) -> RunnerPart:
    """The record's ``runner``: how the run ended, and the remote job when there was one."""
    result: RunnerPart = {"ident": run.ident, "status": str(run.status), "rc": run.rc,
              "artifacts": run.artifacts, "error": run.error}
    if run.job is not None:
        result["job"] = dict(run.job)
    if run.strategy is not None:
        result["strategy"] = run.strategy
    if run.setup_failure is not None:
        result["setup_failure"] = run.setup_failure
    failure = failure_summary(run.hosts, run.outcome, run.error)
    if failure is not None:
        result["failure"] = failure
    return result


def summary(record: AuditRecord) -> dict[str, Any]:
    """The few fields a listing shows."""
    alert = record.get("alert")
    return {
        "id": record["id"],
        "created_at": record["created_at"],
        "alert": alert["name"] if alert else None,
        "hosts": (alert["hosts"] if alert else None) or sorted(record.get("hosts") or {}),
        "remediation": entry_name(record),
        "stage": record.get("stage"),
        "mode": record.get("mode"),
        "action": record["decision"]["action"],
        "outcome": record["outcome"],
        "initiated_by": record.get("initiated_by"),
    }


def is_trouble(record: Draft) -> bool:
    """True when a record needs a person: escalated, or a run that failed, was unreachable
    or was interrupted."""
    return record["decision"]["action"] == "escalate" or record["outcome"] in (
        "failed", "unreachable", "interrupted")
