"""Human-initiated requests: the pending preview, approve (the live run), deny, expiry.

A mixin of ``Engine``: it uses the engine's store, clock, catalog and its common run path.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .common import current_user, iso, parse_time
from .errors import RefusedError
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

if TYPE_CHECKING:
    from .engine import Engine


def approve(
    engine: Engine, request_id: str, *, by: str | None = None, allow_uncommitted: bool = False
) -> tuple[dict[str, Any], bool]:
    """Start the live run a pending request asked for; (record, True if this call ran it).

    Approving an already approved request runs nothing and returns the run it started.
    """
    by = by or current_user()
    request = _live_request(engine, request_id)
    remediation = engine._entry(request.entry)
    if request.state is RequestState.APPROVED:
        return _winners_run(engine, request, remediation.timeout_s), False
    ctx = engine.context(allow_uncommitted)
    now = iso(engine.clock())
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
    if not engine.store.transition_request(request.id, RequestState.APPROVED, by=by, at=now):
        current = engine.store.get_request(request.id)
        if current.state is RequestState.APPROVED:  # another approver won: show their run
            return _winners_run(engine, current, remediation.timeout_s), False
        raise RefusedError(
            f"request {request.id} is {current.state} (by "
            f"{current.decided_by} at {current.decided_at})"
        )
    decision = Decision(
        Action.RUN,
        f"approved by {by} (request {request.id})",
        Mode.LIVE,
        remediation.stage,
        remediation.stage,
        request.hosts,
        frozen_map(request.variables),
        remediation.static_vars,
    )
    record = engine._run_single(
        _alert_of(request),
        remediation,
        decision,
        by,
        allow_uncommitted,
        _request_link(request, by, now, "approved"),
    )
    engine.store.set_request_result(request.id, record["id"])
    return record, True


def _winners_run(engine: Engine, request: PendingRequest, timeout_s: int,
                 step_s: float = 0.2) -> dict[str, Any]:
    """The record of the run another approval started: waited for while it is going (up to
    its timeout and a minute), so that approving twice shows the one run either way."""
    deadline = time.monotonic() + timeout_s + 60
    while True:
        if request.result_record:
            return engine.store.get(request.result_record)
        if time.monotonic() >= deadline:
            raise RefusedError(
                f"request {request.id} was approved by {request.decided_by} at "
                f"{request.decided_at}; its run has not reported after {timeout_s + 60} s")
        engine.sleep(step_s)
        request = engine.store.get_request(request.id)


def deny(
    engine: Engine, request_id: str, *, by: str | None = None, reason: str = ""
) -> dict[str, Any]:
    """Close a pending request without running anything; recorded."""
    by = by or current_user()
    request = _live_request(engine, request_id)
    now = iso(engine.clock())
    if not engine.store.transition_request(request.id, RequestState.DENIED, by=by, at=now):
        current = engine.store.get_request(request.id)
        raise RefusedError(
            f"request {request.id} is {current.state} (by "
            f"{current.decided_by} at {current.decided_at})"
        )
    remediation = engine.catalog.get(request.entry)
    text = f"denied by {by}" + (f": {reason}" if reason else "")
    decision = Decision(
        Action.SKIP,
        f"{text} (request {request.id})",
        Mode.NONE,
        remediation.stage if remediation else None,
        remediation.stage if remediation else None,
        request.hosts,
    )
    record = engine._record(
        engine.new_id(),
        _alert_of(request),
        remediation,
        decision,
        by,
        False,
        None,
        _request_link(request, by, now, "denied"),
    )
    engine.store.set_request_result(request.id, record["id"])
    return record


def pending(engine: Engine, include_closed: bool = False) -> list[PendingRequest]:
    """Requests waiting for a person (expired ones marked as such on the way)."""
    _expire(
        engine,
    )
    states = tuple(RequestState) if include_closed else (RequestState.PENDING,)
    return engine.store.requests(states)


def _live_request(engine: Engine, request_id: str) -> PendingRequest:
    """The request, after expiring it if its time is up; refuse closed ones clearly."""
    _expire(
        engine,
    )
    request = engine.store.get_request(request_id)
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


def _expire(engine: Engine) -> None:
    now = engine.clock()
    for request in engine.store.requests():
        expires = parse_time(request.expires_at)
        if expires is not None and expires <= now:
            engine.store.transition_request(request.id, RequestState.EXPIRED, by=None, at=iso(now))


def open_request(
    engine: Engine,
    record: Mapping[str, Any],
    alert: Alert,
    remediation: Remediation,
    decision: Decision,
) -> None:
    ttl = remediation.approval_ttl_s or engine.config.approval_ttl
    created = parse_time(record["created_at"]) or engine.clock()
    preview = {
        host: [{"name": t["name"], "diff": t["diff"]} for t in result["tasks"] if t["changed"]]
        for host, result in (record.get("hosts") or {}).items()
    }
    engine.store.add_request(
        PendingRequest(
            id=record["id"],
            entry=remediation.name,
            hosts=decision.hosts,
            fingerprint=alert.fingerprint,
            alert=alert.as_dict(),
            variables=decision.variables,
            preview=preview,
            created_at=record["created_at"],
            expires_at=iso(created + timedelta(seconds=ttl)),
        )
    )


def _request_link(request: PendingRequest, by: str, at: str, state: str) -> dict[str, Any]:
    return {
        "id": request.id,
        "state": state,
        "by": by,
        "at": at,
        "requested_at": request.created_at,
    }


def _alert_of(request: PendingRequest) -> Alert | None:
    """The alert a request was opened for, rebuilt from its stored form."""
    data = request.alert
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
