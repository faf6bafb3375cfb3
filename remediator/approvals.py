"""Human-initiated requests: the pending preview, approve (the live run), deny, expiry.

``Approvals`` works through ``Runs``, the part of the engine it needs (its store, clock,
catalog, and its common run and record paths), so this module does not import the engine.
A request is sealed when it opens (``sealing``); approve runs exactly what was previewed or
refuses, recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, cast

from . import approval_policy as policy
from .audit import record_hash
from .common import iso, parse_time
from .errors import ChainError, NotFoundError, RefusedError
from .models import (
    Action,
    Alert,
    ApprovalRule,
    Decision,
    Mode,
    PendingRequest,
    Remediation,
    RequestState,
    Stage,
    frozen_map,
)
from .reasons import Reason
from .record import Approval, ApproverPart, AuditRecord, Draft, RequestLink
from .sealing import altered, entry_digest, preview_of, previewed, seal_block

if TYPE_CHECKING:
    from .catalog import Catalog
    from .config import Config
    from .identity import Approver
    from .policy import PolicyContext
    from .store import GuardSession, RequestLog



class RequestTaken(Exception):
    """Another approval moved the request on first (``Runs.run_person``'s ``claim``)."""


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
                   request: Mapping[str, Any] | None = None, *,
                   requester: Approver | None = None,
                   claim: Callable[[GuardSession], bool] | None = None) -> AuditRecord:
        """A person's run: lock its hosts, run, record; the record. ``claim`` runs first in
        the transaction that reserves the hosts and journals the run (RequestTaken when it
        returns False); a locked host rolls it back and makes the record's link ``locked``."""
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

    def approve(self, request_id: str, *, approver: Approver, reason: str = "",
                allow_uncommitted: bool = False) -> tuple[AuditRecord, bool]:
        """Count ``approver``'s approval of a pending request; when it is the last one the
        entry needs (``approval.required`` distinct people), start the live run. (record,
        True if this call ran it): the run's record, or the record of an approval counted.

        Approving an already approved request runs nothing and returns the run it started.
        A refusal (not an approver, their own request, already counted, expired, resolved,
        denied, or not what was previewed) is a RefusedError with a record saying who, through
        which channel, and why. ``reason`` (optional: why the approver agrees) goes into the
        record of the approval.
        """
        request = self._live_request(request_id)
        now = iso(self.runs.clock())
        closed = _closed(request)
        if closed is not None:
            self._refuse(request, approver, now, *closed)
        if request.state is RequestState.APPROVED:
            return self._winners_run(request, self.runs.entry(request.entry).timeout_s), False
        remediation = self.runs.entry(request.entry)
        rule, settings = remediation.approval, self.runs.config.approvals
        me = policy.person(approver, settings)
        noted = [a["person"] for a in self._approvals(request.id)]
        # enough approvals, this person's among them, on a request still pending: its run
        # found a host locked, or its approver died before the run began; approving again
        # starts it
        again = me in noted and len(self._counted(request, me)) >= rule.required
        refused = policy.refusal(approver, requested_by=request.requested_by, rule=rule,
                                 settings=settings, counted=[] if again else noted)
        if refused is not None:
            self._refuse(request, approver, now, *refused)
        preview, problem = self._pending_record(request)
        if problem is not None:
            self._refuse(request, approver, now, Reason.APPROVAL_REFUSED, problem, preview,
                         allow_uncommitted)
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
            self._refuse(request, approver, now, Reason.APPROVAL_REFUSED, problem, preview,
                         allow_uncommitted)
        if not self.runs.store.add_decision(request.id, "approved", me,
                                            policy.as_dict(approver), now) and not again:
            self._refuse(request, approver, now, Reason.APPROVAL_REPEATED,
                         f"{approver.label()} already approved it (as {me})")
        approvals = self._counted(request, me)
        if len(approvals) < rule.required:
            wanted = rule.required - len(approvals)
            counted = self._closing_record(
                request, Action.SKIP, Reason.APPROVAL_COUNTED,
                f"approval {len(approvals)} of {rule.required} by {approver.label()}"
                + (f": {reason}" if reason else "") + f" (request {request.id}); {wanted} more "
                "needed before the live run", approver, now,
                "partially-approved", _alert_of(request.alert), allow_uncommitted,
                approvals=approvals, required=rule.required, reason=reason)
            # another approval recorded at the same moment may have completed the count: the
            # chain, which orders them, now holds this one and every one before it
            approvals = self._counted(request, me)
            if len(approvals) < rule.required:
                return counted, False
        by = approver.name
        names = ", ".join(a["name"] for a in approvals) if rule.required > 1 else by
        decision = Decision(
            Action.RUN,
            Reason.APPROVED,
            f"approved by {names}" + (f": {reason}" if reason else "")
            + f" (request {request.id})",
            Mode.LIVE,
            remediation.stage,
            remediation.stage,
            request.hosts,
            frozen_map(request.variables),
            remediation.static_vars,
            notes=notes,
        )
        try:  # approved in the transaction that journals the run: no crash between the two
            record = self.runs.run_person(
                _alert_of(request.alert),
                remediation,
                decision,
                by,
                allow_uncommitted,
                _request_link(request, approver, now, "approved", approvals=approvals,
                              required=rule.required, reason=reason),
                claim=lambda session: session.claim_request(request.id, by, now),
            )
        except RequestTaken:
            current = self.runs.store.get_request(request.id)
            if current.state is RequestState.APPROVED:  # another approver won: show their run
                return self._winners_run(current, remediation.timeout_s), False
            self._refuse(current, approver, now, *(_closed(current) or (
                Reason.REQUEST_CLOSED, f"it is {current.state}")))
        link = record.get("request")
        if link is not None and link["state"] == "locked":  # nothing ran: still pending
            return record, False
        self.runs.store.set_request_result(request.id, record["id"])
        return record, True

    def _approvals(self, request_id: str) -> list[Approval]:
        """The distinct people's approvals noted on a request, oldest first."""
        return [_approval_of(row) for row in self.runs.store.decisions([request_id])
                if row["outcome"] == "approved"]

    def _counted(self, request: PendingRequest, me: str) -> list[Approval]:
        """The approvals that count: ``me``'s, and those an approval record on the chain
        shows (a row added to the store behind remediator's back counts for nothing)."""
        shown = {approval["person"]
                 for record in self.runs.store.records(since=request.created_at,
                                                       entry=request.entry)
                 if (link := record.get("request")) and link["id"] == request.id
                 and link["state"] in ("partially-approved", "locked")
                 for approval in link.get("approvals") or ()}
        return [a for a in self._approvals(request.id) if a["person"] in shown | {me}]

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
        if then.get("sha256") and now_ref is not None and then["sha256"] != now_ref.sha256:
            return (f"collection {now_ref.name} {now_ref.version} changed since the preview "
                    f"(its files: sha256 {then['sha256'][:12]} then, "
                    f"{str(now_ref.sha256)[:12]} now; the version did not say so)"), ()
        if was["entry_sha256"] is not None and entry_digest(remediation) != was["entry_sha256"]:
            return (f"catalog entry {remediation.name} changed since the preview (what it runs: "
                    "its variables, static_vars, timeout or accelerator)"), ()
        then = (was["catalog_revision"] or {}).get("commit")
        now = self.runs.revision.get("commit")
        if then != now:
            return None, (f"the catalog revision moved since the preview ({str(then)[:12]} then, "
                          f"{str(now)[:12]} now); the playbook and the entry are as previewed",)
        return None, ()

    def _refuse(self, request: PendingRequest, approver: Approver, now: str, code: Reason,
                problem: str, preview: AuditRecord | None = None,
                allow_uncommitted: bool = False, verb: str = "approval") -> NoReturn:
        """Record a refused approval (or denial): who, through which channel, why; raise.

        A request that is not what was previewed is an escalation (someone must look); the
        other refusals (not an approver, expired, ...) are told only to who was refused."""
        shown = preview["alert"] if preview else None
        alert = {k: v for k, v in (shown or {}).items() if k != "hosts"}
        altered_request = code is Reason.APPROVAL_REFUSED
        reason = (f"{verb} refused: request {request.id}: {problem}; nothing ran "
                  f"({approver.label()} via {approver.channel})")
        self.runs.store.add_decision(request.id, "refused",
                                     policy.person(approver, self.runs.config.approvals),
                                     policy.as_dict(approver), now, str(code))
        record = self._closing_record(request, Action.ESCALATE if altered_request else
                                      Action.SKIP, code, reason, approver, now, "refused",
                                      _alert_of(alert or request.alert), allow_uncommitted,
                                      reason=problem)
        raise RefusedError(f"{reason} (recorded as {record['id']})" + (
            "; deny it: the next alert brings a new preview" if altered_request else ""))

    def _closing_record(self, request: PendingRequest, action: Action, code: Reason, words: str,
                        approver: Approver, now: str, state: str, alert: Alert | None,
                        allow_uncommitted: bool, **link: Any) -> AuditRecord:
        """The record of a request closed (or an approval refused, or one counted) without a
        run."""
        remediation = self.runs.catalog.get(request.entry)
        stage = remediation.stage if remediation else None
        decision = Decision(action, code, words, Mode.NONE, stage, stage, request.hosts)
        return self.runs.record_decision(alert, remediation, decision, approver.name,
                                         allow_uncommitted,
                                         _request_link(request, approver, now, state, **link))

    def _winners_run(self, request: PendingRequest, timeout_s: int,
                     step_s: float = 0.2) -> AuditRecord:
        """The record of the run another approval started: waited for while it is going (up to
        its timeout and a minute), so that approving twice shows the one run either way."""
        deadline = time.monotonic() + timeout_s + 60
        checked_chain = False
        while True:
            if request.result_record:
                return self.runs.store.get(request.result_record)
            if not checked_chain or time.monotonic() >= deadline:
                checked_chain = True
                run = self._approved_run(request)
                if run is not None:  # its approver died between the record and the link
                    self.runs.store.set_request_result(request.id, run["id"])
                    return run
            if time.monotonic() >= deadline:
                raise RefusedError(
                    f"request {request.id} was approved by {request.decided_by} at "
                    f"{request.decided_at}; its run has not reported after {timeout_s + 60} s")
            self.runs.sleep(step_s)
            request = self.runs.store.get_request(request.id)

    def _approved_run(self, request: PendingRequest) -> AuditRecord | None:
        """The record of the run the request's approval started, if the chain has it."""
        for record in self.runs.store.records(since=request.created_at, entry=request.entry):
            link = record.get("request")
            if link and link["id"] == request.id and link["state"] == "approved":
                return record
        return None

    def deny(self, request_id: str, *, approver: Approver, reason: str = "") -> AuditRecord:
        """Close a pending request without running anything; recorded. Who may approve may
        deny, and a requester may withdraw their own request; other denials are refused
        (recorded)."""
        request = self._live_request(request_id)
        now = iso(self.runs.clock())
        closed = _closed(request, approved_too=True)
        if closed is not None:
            self._refuse(request, approver, now, *closed, verb="denial")
        remediation = self.runs.catalog.get(request.entry)
        settings = self.runs.config.approvals
        refused = policy.deny_refusal(approver, requested_by=request.requested_by,
                                      rule=remediation.approval if remediation else
                                      ApprovalRule(), settings=settings)
        if refused is not None:
            self._refuse(request, approver, now, *refused, verb="denial")
        by = approver.name
        if not self.runs.store.transition_request(request.id, RequestState.DENIED, by=by, at=now):
            current = self.runs.store.get_request(request.id)
            self._refuse(current, approver, now, *(_closed(current, approved_too=True) or (
                Reason.REQUEST_CLOSED, f"it is {current.state}")), verb="denial")
        self.runs.store.add_decision(request.id, "denied", policy.person(approver, settings),
                                     policy.as_dict(approver), now, str(Reason.DENIED))
        text = f"denied by {approver.name}" + (f": {reason}" if reason else "")
        record = self._closing_record(request, Action.SKIP, Reason.DENIED,
                                      f"{text} (request {request.id})", approver, now, "denied",
                                      _alert_of(request.alert), False,
                                      **({"reason": reason} if reason else {}))
        self.runs.store.set_request_result(request.id, record["id"])
        return record

    def pending(self, include_closed: bool = False) -> list[PendingRequest]:
        """Requests waiting for a person (expired ones marked as such on the way)."""
        self._expire()
        states = tuple(RequestState) if include_closed else (RequestState.PENDING,)
        return self.runs.store.requests(states)

    def status(self, requests: list[PendingRequest]) -> dict[str, dict[str, Any]]:
        """Per request id, what every channel shows: who asked, the approvals so far, how
        many it needs, who may approve (None: anyone who can reach a channel)."""
        counted: dict[str, list[Approval]] = {r.id: [] for r in requests}
        for row in self.runs.store.decisions(list(counted)):
            if row["outcome"] == "approved":
                counted[row["request_id"]].append(_approval_of(row))
        settings = self.runs.config.approvals
        result = {}
        for request in requests:
            remediation = self.runs.catalog.get(request.entry)
            rule = remediation.approval if remediation else ApprovalRule()
            result[request.id] = {
                "requested_by": None if request.requested_by is None else
                dict(request.requested_by),
                "approvals": counted[request.id], "required": rule.required,
                "approvers": policy.who_may(rule, settings), "four_eyes": rule.four_eyes}
        return result

    def _live_request(self, request_id: str) -> PendingRequest:
        """The request, after expiring it if its time is up."""
        self._expire()
        return self.runs.store.get_request(request_id)

    def _expire(self) -> None:
        """Mark requests past their time expired."""
        now = self.runs.clock()
        for request in self.runs.store.requests():
            expires = parse_time(request.expires_at)
            if expires is not None and expires <= now:
                self.runs.store.transition_request(request.id, RequestState.EXPIRED, by=None,
                                                   at=iso(now))

    def sealed_request(self, draft: Draft, alert: Alert | None, remediation: Remediation,
                       decision: Decision, requested_by: Approver | None = None
                       ) -> PendingRequest:
        """The request a pending record opens (an alert's, or a person's live run on a
        four-eyes entry: ``requested_by``), sealed; the seal goes into ``draft`` (before it is
        appended, so that the chain holds it). Store the request once the record is stored."""
        ttl = remediation.approval_ttl_s or self.runs.config.approval_ttl
        created = parse_time(draft["created_at"]) or self.runs.clock()
        request = PendingRequest(
            id=draft["id"],
            entry=remediation.name,
            hosts=decision.hosts,
            fingerprint=alert.fingerprint if alert else None,
            # as stored and read back: the seal is checked against the row
            alert=json.loads(json.dumps(alert.as_dict())) if alert else None,
            variables=json.loads(json.dumps(dict(decision.variables))),
            preview=json.loads(json.dumps(preview_of(draft))),
            created_at=draft["created_at"],
            expires_at=iso(created + timedelta(seconds=ttl)),
            requested_by=policy.as_dict(requested_by) if requested_by else None,
        )
        draft["request_seal"] = seal_block(request, draft, entry_digest(remediation))
        return replace(request, seal=draft["request_seal"]["seal"])


def _request_link(request: PendingRequest, approver: Approver, at: str, state: str, *,
                  approvals: list[Approval] | None = None, required: int | None = None,
                  reason: str | None = None) -> RequestLink:
    link: RequestLink = {
        "id": request.id,
        "state": state,
        "by": approver.name,
        "at": at,
        "requested_at": request.created_at,
        "channel": approver.channel,
        "approver": cast(ApproverPart, policy.as_dict(approver)),
    }
    if approvals is not None:
        link["approvals"] = approvals
        link["required"] = required or 1
    if reason:
        link["reason"] = reason
    return link


def _approval_of(row: Mapping[str, Any]) -> Approval:
    """An approval as records show it, from its ``request_decisions`` row."""
    return {"person": row["person"], "channel": row["channel"], "id": row["approver_id"],
            "name": row["name"], "os_user": row["os_user"], "at": row["at"]}


def _closed(request: PendingRequest, approved_too: bool = False) -> tuple[Reason, str] | None:
    """Why a request can no longer be approved (or, ``approved_too``, denied), or None."""
    if request.state is RequestState.EXPIRED:
        return Reason.REQUEST_EXPIRED, (f"it expired at {request.expires_at}; the alert must "
                                        "fire again for a new preview")
    if request.state is RequestState.RESOLVED:
        return Reason.REQUEST_RESOLVED, (f"the alert has since resolved (at "
                                         f"{request.decided_at}); there is nothing to fix")
    if request.state is RequestState.DENIED or (
            approved_too and request.state is RequestState.APPROVED):
        return Reason.REQUEST_CLOSED, (f"it was {request.state} by {request.decided_by} at "
                                       f"{request.decided_at}")
    return None


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
