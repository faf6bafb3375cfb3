"""Reason codes: the machine-readable kind of every decision's reason.

A decision carries its ``code`` next to its prose ``reason``; the record keeps both
(``decision.code``). Reports, ``stages`` and ``simulate`` count by the code, so rewording a
message changes no count. Records written before codes existed have prose only:
``from_prose`` derives their code, and is used for nothing else.
"""

from __future__ import annotations

import enum
import re


class Reason(enum.StrEnum):
    """Why a decision is what it is: one code per kind of reason."""

    STAGE = "stage"  # the entry's stage decided: observe check run, preview, live run
    NO_ENTRY = "no-entry"  # no catalog entry matches the alert
    RESOLVED = "resolved"  # a resolved alert never triggers a fix
    NO_TARGET = "no-target"  # the alert names no host (label missing, pattern not matched)
    UNKNOWN_HOST = "unknown-host"  # the host it names is not in the inventory
    MISSING_VARIABLE = "missing-variable"  # the alert lacks what a playbook variable needs
    UNCOMMITTED = "uncommitted"  # live run refused: the repository has uncommitted changes
    DUPLICATE = "duplicate"  # this very delivery was already handled in this mode
    REFIRE = "refire"  # still firing after a fix: the fix did not hold
    LOCKED = "locked"  # a run of the entry on the host is in progress
    COOLDOWN = "cooldown"  # the last run on the host ended too recently
    THROTTLE_HOST = "throttle-host"  # too many runs on the host in the throttle window
    THROTTLE_ENTRY = "throttle-entry"  # too many runs of the entry in the throttle window
    RECURRENCE = "recurrence"  # the fix keeps running: find the root cause (it still runs)
    MAINTENANCE = "maintenance"  # a maintenance window: check-mode run only
    BREAKER_OPEN = "breaker-open"  # the circuit breaker is open: preview for approval
    BLAST_RADIUS = "blast-radius"  # the run already covers as many hosts as allowed
    MANUAL = "manual"  # a person started the run (``remediator run``)
    MAX_STAGE = "max-stage"  # live run refused: the max-stage ceiling is observe
    APPROVED = "approved"  # a person approved a pending request: its live run
    APPROVAL_REFUSED = "approval-refused"  # the request is not what was previewed
    DENIED = "denied"  # a person denied a pending request
    BREAKER_RESET = "breaker-reset"  # a person reset the circuit breaker
    FOUR_EYES = "four-eyes"  # a person's live run waits for someone else's approval
    APPROVAL_COUNTED = "approval-counted"  # one of the distinct approvals a request needs
    NOT_AN_APPROVER = "not-an-approver"  # refused: not on the approvers allow-list
    OWN_REQUEST = "own-request"  # refused: a person cannot approve their own request
    APPROVAL_REPEATED = "approval-repeated"  # refused: this person's approval already counts
    REQUEST_EXPIRED = "request-expired"  # refused: the request expired
    REQUEST_RESOLVED = "request-resolved"  # refused: its alert has since resolved
    REQUEST_CLOSED = "request-closed"  # refused: the request was already approved or denied
    OTHER = "other"  # only for an old record whose prose fits no code; never decided


MISSING_LABELS = "missing-labels"
"""Not a decision's code: ``simulate`` counts an alert under it instead of ``no-entry`` (or
``no-target``) when the history lacks label names an entry needs, so it cannot tell
(``history/coverage.py``)."""

DECIDED = tuple(r for r in Reason if r is not Reason.OTHER)
"""The codes a decision can carry (the record schema's enum of ``decision.code``)."""

# The prose each code's decisions began with before codes were recorded (commit 12c5864),
# first match wins. Kept only to read those records: never extend it for new messages.
_PROSE: tuple[tuple[re.Pattern[str], Reason], ...] = tuple(
    (re.compile(pattern), code) for pattern, code in (
        (r"stage \S+: live run refused", Reason.UNCOMMITTED),
        (r"stage ", Reason.STAGE),
        (r"no catalog entry matches", Reason.NO_ENTRY),
        (r"alert is resolved", Reason.RESOLVED),
        (r"label '[^']*' is missing|label \S+=.* does not match target pattern",
         Reason.NO_TARGET),
        (r"target '.*' is not in the inventory", Reason.UNKNOWN_HOST),
        (r"alert has no ", Reason.MISSING_VARIABLE),
        (r"duplicate:", Reason.DUPLICATE),
        (r"still firing \d+s after the fix ", Reason.REFIRE),
        (r"locked:", Reason.LOCKED),
        (r"cooldown:", Reason.COOLDOWN),
        (r"throttled: \d+ runs on this host", Reason.THROTTLE_HOST),
        (r"throttled: \d+ runs of this entry", Reason.THROTTLE_ENTRY),
        (r"recurrence:", Reason.RECURRENCE),
        (r"maintenance window ", Reason.MAINTENANCE),
        (r"circuit breaker open", Reason.BREAKER_OPEN),
        (r"circuit breaker reset by ", Reason.BREAKER_RESET),
        (r"blast radius:", Reason.BLAST_RADIUS),
        (r"started by .* in \S+ mode$", Reason.MANUAL),
        (r"live run refused: the max-stage ceiling", Reason.MAX_STAGE),
        (r"live run refused: the repository has ", Reason.UNCOMMITTED),
        (r"approved by .* \(request \S+\)$", Reason.APPROVED),
        (r"approval refused: ", Reason.APPROVAL_REFUSED),
        (r"denied by ", Reason.DENIED),
    ))


def from_prose(reason: str) -> Reason:
    """The code of a reason written before codes were recorded (``other`` when none fits)."""
    for pattern, code in _PROSE:
        if pattern.match(reason):
            return code
    return Reason.OTHER
