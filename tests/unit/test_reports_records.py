"""Audit records for the report tests, built by the engine's own record builder
(``audit.build``) and sealed onto a chain, so they are the records a store would hold."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema

from remediator import audit
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
)
from remediator.reasons import Reason

SCHEMA = json.loads((Path(audit.__file__).parent / "schema" / "audit-record-v1.json")
                    .read_text(encoding="utf-8"))
_ids = itertools.count()


def entry(name: str, alertname: str, stage: Stage = Stage.OBSERVE,
          toil_minutes: float | None = None) -> Remediation:
    """A catalog entry matching alerts called ``alertname``."""
    return Remediation(name=name, matchers=(Matcher("alertname", MatchOp.EQ, alertname),),
                       playbook="p.yml", playbook_path="/p.yml", stage=stage,
                       toil_minutes=toil_minutes)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def record(at: datetime, remediation: Remediation | None, *, alertname: str | None = None,
           fp: str = "fp", starts: datetime | None = None, status: str = "firing",
           action: Action = Action.RUN, mode: Mode = Mode.NONE, stage: Stage | None = None,
           outcome: Outcome | None = None, reason: str = "test",
           code: Reason | None = Reason.STAGE,
           initiated_by: str = "automation", request: dict[str, Any] | None = None,
           host: str = "web-01", with_alert: bool = True) -> dict[str, Any]:
    """One unsealed record made at ``at``: a run when ``outcome`` is given, else a decision;
    with ``code`` None, a record as written before reason codes (prose only)."""
    name = alertname or (remediation.matchers[0].value if remediation else "Unknown")
    alert = None
    if with_alert:
        alert = Alert(source="alertmanager", name=name, status=status, fingerprint=fp,
                      labels={"alertname": name, "instance": f"{host}:9100"},
                      starts_at=iso(starts or at),
                      ends_at=iso(at) if status == "resolved" else None)
    run = None
    if outcome is not None:
        failed = outcome is not Outcome.SUCCEEDED
        run = RunResult(ident=f"run{next(_ids)}", status=RunnerStatus.FAILED if failed
                        else RunnerStatus.SUCCESSFUL, rc=2 if failed else 0,
                        started_at=iso(at), finished_at=iso(at + timedelta(seconds=3)),
                        duration_s=3.0, hosts={host: HostResult(ok=1, failed=int(failed))},
                        outcome=outcome)
    stage = stage if stage is not None else (remediation.stage if remediation else None)
    decision = Decision(action, code or Reason.OTHER, reason, mode, stage, stage,
                        (host,) if remediation else ())
    built = audit.build(
        record_id=f"r{next(_ids):06d}", created_at=iso(at), alert=alert, hosts=[host],
        remediation=remediation, playbook_sha256=None,
        catalog_revision={"vcs": "none", "sha256": "0" * 64, "dirty": False},
        decision=decision, initiated_by=initiated_by, run=run,
        extra={"request": request} if request else None)
    if code is None:
        del built["decision"]["code"]
    return dict(built)


def chain(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records sealed in order, each onto the one before."""
    sealed, head = [], audit.GENESIS_HASH
    for item in records:
        sealed.append(audit.seal(item, head))
        head = sealed[-1]["hash"]
    return sealed


def test_the_factory_makes_records_that_fit_the_published_schema() -> None:
    """Runs, decisions, approvals and resolved notifications all validate and chain."""
    disk = entry("disk", "DiskSpaceLow")
    at = datetime(2026, 2, 2, tzinfo=UTC)
    records = chain([
        record(at, disk, mode=Mode.CHECK, outcome=Outcome.SUCCEEDED),
        record(at, disk, mode=Mode.LIVE, outcome=Outcome.FAILED, initiated_by="alice",
               request={"id": "r1", "state": "approved", "by": "alice", "at": iso(at),
                        "requested_at": iso(at)}),
        record(at, disk, status="resolved", action=Action.SKIP),
        record(at, None, alertname="Other", action=Action.SKIP),
    ])
    for item in records:
        jsonschema.validate(item, SCHEMA)
    assert audit.verify_chain(records)[0] == 4
