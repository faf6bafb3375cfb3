"""Human-initiated requests: the pending preview, approve (the live run), deny, expiry.

``Approvals`` works through ``Runs``, the part of the engine it needs (its store, clock,
catalog, and its common run and record paths), so this module does not import the engine.
A request is sealed when it opens (``sealing``); approve runs exactly what was previewed or
refuses, recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from .audit import record_hash
from .common import iso, parse_time
from .errors import ChainError, NotFoundError, RefusedError
from .models import (
    Action,
    Alert,
    Decision,
    Mode,
    PendingRequest,
    Remediation,
    RequestState,
    Stage,
    frozen_map,
)
from .reasons import Reason
from .record import AuditRecord, Draft, RequestLink
from .sealing import altered, entry_digest, preview_of, previewed, seal_block

if TYPE_CHECKING:
    from .catalog import Catalog
    from .config import Config
    from .identity import Approver
    from .policy import PolicyContext
    from .store import RequestLog



class Runs(Protocol):
    """What approvals need of the engine."""

    config: Config
    catalog: Catalog
    revision: Mapping[str, Any]

    @property
    def store(self) -> RequestLog:
        """The records and the requests."""
        ...

    def clock(self) -> datetime:
        """Now."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait (tests give a fake)."""
        ...

    def entry(self, name: str) -> Remediation:
        """The catalog entry ``name``; a UsageError naming the entries otherwise."""
        ...

    def context(self, allow_uncommitted: bool = False) -> PolicyContext:
        """The policy's view of the world now."""
        ...

    def playbook_sha256(self, remediation: Remediation | None) -> str | None:
        """The sha256 of the entry's playbook (None for an AWX template)."""
        ...

    def run_person(self, alert: Alert | None, remediation: Remediation, decision: Decision,
                   initiated_by: str, allow_uncommitted: bool,
                   request: Mapping[str, Any] | None = None) -> AuditRecord:
        """A person's run: lock its hosts, run, record; the record."""
        ...

    def record_decision(self, alert: Alert | None, remediation: Remediation | None,
                        decision: Decision, initiated_by: str, allow_uncommitted: bool,
                        request: Mapping[str, Any] | None = None) -> AuditRecord:
        """Record a decision that runs nothing (notified as its stage says); the record."""
        ...


class Approvals:
    """Pending requests: open (sealed), approve, deny, list, expire."""

    def __init__(self, runs: Runs) -> None:
        self.runs = runs

    def approve(self, request_id: str, *, approver: Approver,
                allow_uncommitted: bool = False) -> tuple[AuditRecord, bool]:
        """Start the live run a pending request asked for; (record, True if this call ran it).

        Approving an already approved request runs nothing and returns the run it started.
        A request that no longer matches its pending record and seal, or whose playbook or entry
        changed since the preview, is refused (RefusedError) with a record saying why.
        """
        by = approver.name
        request = self._live_request(request_id)
        if request.state is RequestState.APPROVED:
            return self._winners_run(request, self.runs.entry(request.entry).timeout_s), False
        now = iso(self.runs.clock())
        preview, problem = self._pending_record(request)
        if problem is not None:
            self._refuse(request, preview, by, now, allow_uncommitted, problem)
        remediation = self.runs.entry(request.entry)
        ctx = self.runs.context(allow_uncommitted)
        if ctx.max_stage is Stage.OBSERVE:
            raise RefusedError(
                "the max-stage ceiling is observe (change freeze): live runs are "
                "refused; the request stays pending"
            )
        if ctx.uncommitted and not allow_uncommitted:
            raise RefusedError(
                f"the repository has {ctx.uncommitted_changes()}; commit them "
                "or pass --allow-uncommitted; the request stays pending"
            )
        problem, notes = self._drift(remediation, preview)
        if problem is not None:
            self._refuse(request, preview, by, now, allow_uncommitted, problem)
        if not self.runs.store.transition_request(request.id, RequestState.APPROVED, by=by, at=now):
            current = self.runs.store.get_request(request.id)
            if current.state is RequestState.APPROVED:  # another approver won: show their run
                return self._winners_run(current, remediation.timeout_s), False
            raise RefusedError(
                f"request {request.id} is {current.state} (by "
                f"{current.decided_by} at {current.decided_at})"
            )
        decision = Decision(
            Action.RUN,
            Reason.APPROVED,
            f"approved by {by} (request {request.id})",
            Mode.LIVE,
            remediation.stage,
            remediation.stage,
            request.hosts,
            frozen_map(request.variables),
            remediation.static_vars,
            notes=notes,
        )
        record = self.runs.run_person(
            _alert_of(request.alert),
            remediation,
            decision,
            by,
            allow_uncommitted,
            _request_link(request, by, now, "approved"),
        )
        self.runs.store.set_request_result(request.id, record["id"])
        return record, True

    def _pending_record(self, request: PendingRequest
                        ) -> tuple[AuditRecord | None, str | None]:
        """The request's pending record on the chain, and what about the request row does not
        match it (or its seal), if anything."""
        try:
            record = self.runs.store.get(request.id)
        except (NotFoundError, ChainError) as exc:
            return None, f"its pending record cannot be read ({exc.message})"
        if record.get("id") != request.id or record_hash(record) != record.get("hash"):
            return None, "its pending record on the chain was altered"
        problem = altered(request, record, strict=True)
        if problem is not None:
            return record, f"it was altered after its preview: {problem}"
        # the row's state is not sealed (it moves on purpose): the chain says whether it was
        # decided already (a row set back to pending)
        for later in self.runs.store.records(since=request.created_at, entry=request.entry):
            link = later.get("request")
            if link and link["id"] == request.id and link["state"] in ("approved", "denied"):
                return record, (f"it was already {link['state']} by {link['by']} in record "
                                f"{later['id']}; its row was set back to pending")
        return record, None

    def _drift(self, remediation: Remediation, record: AuditRecord | None
               ) -> tuple[str | None, tuple[str, ...]]:
        """Why what would run now is not what was previewed (None when it is), and notes for the
        record: a catalog revision that moved while the playbook and entry stayed the same."""
        was = previewed(record)
        if (remediation.playbook, remediation.job_template) != (was["playbook"] or "",
                                                               was["job_template"]):
            return (f"entry {remediation.name} now runs "
                    f"{remediation.playbook or remediation.job_template}, the preview ran "
                    f"{was['playbook'] or was['job_template']}"), ()
        digest = self.runs.playbook_sha256(remediation)
        if digest != was["playbook_sha256"]:
            return (f"playbook {remediation.playbook} changed since the preview (sha256 "
                    f"{str(was['playbook_sha256'])[:12]} then, {str(digest)[:12]} now)"), ()
        then = was.get("collection") or {}
        now_ref = remediation.collection
        if then.get("version") != (now_ref.version if now_ref else None):
            name = now_ref.name if now_ref else then.get("name")
            return (f"collection {name} is at {now_ref.version if now_ref else None} now, the "
                    f"preview ran {then.get('version')}"), ()
        if was["entry_sha256"] is not None and entry_digest(remediation) != was["entry_sha256"]:
            return (f"catalog entry {remediation.name} changed since the preview (what it runs: "
                    "its variables, static_vars, timeout or accelerator)"), ()
        then = (was["catalog_revision"] or {}).get("commit")
        now = self.runs.revision.get("commit")
        if then != now:
            return None, (f"the catalog revision moved since the preview ({str(then)[:12]} then, "
                          f"{str(now)[:12]} now); the playbook and the entry are as previewed",)
        return None, ()

    def _refuse(self, request: PendingRequest, preview: AuditRecord | None,
                by: str, now: str, allow_uncommitted: bool, problem: str) -> NoReturn:
        """Record an approval refused because the request is not what was previewed, and raise."""
        shown = preview["alert"] if preview else None
        alert = {k: v for k, v in (shown or {}).items() if k != "hosts"}
        reason = f"approval refused: request {request.id}: {problem}; nothing ran"
        record = self._closing_record(request, Action.ESCALATE, Reason.APPROVAL_REFUSED, reason,
                                      by, now, "refused", _alert_of(alert or request.alert),
                                      allow_uncommitted)
        raise RefusedError(f"{reason} (recorded as {record['id']}); deny it: the next alert "
                           "brings a new preview")


    def _closing_record(self, request: PendingRequest, action: Action, code: Reason, reason: str,
                        by: str, now: str, state: str, alert: Alert | None,
                        allow_uncommitted: bool) -> AuditRecord:
        """The record of a request closed (or an approval refused) without a run."""
        remediation = self.runs.catalog.get(request.entry)
        stage = remediation.stage if remediation else None
        decision = Decision(action, code, reason, Mode.NONE, stage, stage, request.hosts)
        return self.runs.record_decision(alert, remediation, decision, by, allow_uncommitted,
                                         _request_link(request, by, now, state))

    def _winners_run(self, request: PendingRequest, timeout_s: int,
                     step_s: float = 0.2) -> AuditRecord:
        """The record of the run another approval started: waited for while it is going (up to
        its timeout and a minute), so that approving twice shows the one run either way."""
        deadline = time.monotonic() + timeout_s + 60
        while True:
            if request.result_record:
                return self.runs.store.get(request.result_record)
            if time.monotonic() >= deadline:
                raise RefusedError(
                    f"request {request.id} was approved by {request.decided_by} at "
                    f"{request.decided_at}; its run has not reported after {timeout_s + 60} s")
            self.runs.sleep(step_s)
            request = self.runs.store.get_request(request.id)

    def deny(self, request_id: str, *, approver: Approver, reason: str = "") -> AuditRecord:
        """Close a pending request without running anything; recorded."""
        by = approver.name
        request = self._live_request(request_id)
        now = iso(self.runs.clock())
        if not self.runs.store.transition_request(request.id, RequestState.DENIED, by=by, at=now):
            current = self.runs.store.get_request(request.id)
            raise RefusedError(
                f"request {request.id} is {current.state} (by "
                f"{current.decided_by} at {current.decided_at})"
            )
        text = f"denied by {by}" + (f": {reason}" if reason else "")
        record = self._closing_record(request, Action.SKIP, Reason.DENIED,
                                      f"{text} (request {request.id})", by, now, "denied",
                                      _alert_of(request.alert), False)
        self.runs.store.set_request_result(request.id, record["id"])
        return record

    def pending(self, include_closed: bool = False) -> list[PendingRequest]:
        """Requests waiting for a person (expired ones marked as such on the way)."""
        self._expire()
        states = tuple(RequestState) if include_closed else (RequestState.PENDING,)
        return self.runs.store.requests(states)

    def _live_request(self, request_id: str) -> PendingRequest:
        """The request, after expiring it if its time is up; refuse closed ones clearly."""
        self._expire()
        request = self.runs.store.get_request(request_id)
        if request.state is RequestState.EXPIRED:
            raise RefusedError(
                f"request {request.id} expired at {request.expires_at}; the "
                "alert must fire again for a new preview"
            )
        if request.state is RequestState.RESOLVED:
            raise RefusedError(
                f"request {request.id}: the alert has since resolved (at "
                f"{request.decided_at}); there is nothing to fix"
            )
        if request.state is RequestState.DENIED:
            raise RefusedError(
                f"request {request.id} was denied by {request.decided_by} at {request.decided_at}"
            )
        return request

    def _expire(self) -> None:
        """Mark requests past their time expired."""
        now = self.runs.clock()
        for request in self.runs.store.requests():
            expires = parse_time(request.expires_at)
            if expires is not None and expires <= now:
                self.runs.store.transition_request(request.id, RequestState.EXPIRED, by=None,
                                                   at=iso(now))

    def sealed_request(self, draft: Draft, alert: Alert, remediation: Remediation,
                       decision: Decision) -> PendingRequest:
        """The request a pending record opens, sealed; the seal goes into ``draft`` (before it is
        appended, so that the chain holds it). Store the request once the record is stored."""
        ttl = remediation.approval_ttl_s or self.runs.config.approval_ttl
        created = parse_time(draft["created_at"]) or self.runs.clock()
        request = PendingRequest(
            id=draft["id"],
            entry=remediation.name,
            hosts=decision.hosts,
            fingerprint=alert.fingerprint,
            # as stored and read back: the seal is checked against the row
            alert=json.loads(json.dumps(alert.as_dict())),
            variables=json.loads(json.dumps(dict(decision.variables))),
            preview=json.loads(json.dumps(preview_of(draft))),
            created_at=draft["created_at"],
            expires_at=iso(created + timedelta(seconds=ttl)),
        )
        draft["request_seal"] = seal_block(request, draft, entry_digest(remediation))
        return replace(request, seal=draft["request_seal"]["seal"])


def _request_link(request: PendingRequest, by: str, at: str, state: str) -> RequestLink:
    return {
        "id": request.id,
        "state": state,
        "by": by,
        "at": at,
        "requested_at": request.created_at,
    }


def _alert_of(data: Mapping[str, Any] | None) -> Alert | None:
    """The alert a request was opened for, rebuilt from its stored form."""
    if data is None:
        return None
    return Alert(
        source=data["source"],
        name=data["name"],
        status=data["status"],
        fingerprint=data["fingerprint"],
        labels=frozen_map(data["labels"]),
        annotations=frozen_map(data["annotations"]),
        starts_at=data.get("starts_at"),
        ends_at=data.get("ends_at"),
    )
