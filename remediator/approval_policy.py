"""Who may approve a request: allow-lists, people across channels, own requests, N approvers.

Pure: from an ``Approver``, the request's requester, the entry's ``ApprovalRule``, the
config's ``ApprovalSettings`` and the approvals counted so far to a refusal (its reason code
and words) or None. Every channel (CLI, Slack, the web page) goes through ``refusal``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .identity import Approver
from .models import ApprovalRule
from .reasons import Reason
from .settings.approvals import ApprovalSettings


def approver_of(data: Mapping[str, Any]) -> Approver:
    """An Approver from its stored form ({channel, id, name, os_user})."""
    return Approver(str(data["channel"]), str(data["id"]), str(data.get("name") or data["id"]),
                    data.get("os_user"))


def as_dict(approver: Approver) -> dict[str, Any]:
    """The stored (and recorded) form of an approver."""
    return {"channel": approver.channel, "id": approver.id, "name": approver.name,
            "os_user": approver.os_user}


def person(approver: Approver, settings: ApprovalSettings) -> str:
    """Who ``approver`` is: their name in ``approvals.people``, else their principal (two
    principals of one person count as one approver)."""
    return settings.person(approver.principal)


def allowed(approver: Approver, rule: ApprovalRule, settings: ApprovalSettings) -> bool:
    """True when every allow-list in force (the config's, the entry's) names this approver,
    by person name or principal."""
    who = {approver.principal, person(approver, settings)}
    return all(who & set(names) for names in (settings.approvers, rule.approvers)
               if names is not None)


def who_may(rule: ApprovalRule, settings: ApprovalSettings) -> list[str] | None:
    """The names and principals that may approve under ``rule`` (None: anyone who can reach a
    channel)."""
    lists = [names for names in (settings.approvers, rule.approvers) if names is not None]
    if not lists:
        return None
    if len(lists) == 1:
        return list(lists[0])
    outer = set(settings.approvers or ())
    # an entry's name passes the config's list by itself, or as a person one of whose
    # principals the config's list names
    return [name for name in rule.approvers or () if name in outer or
            settings.person(name) in outer or settings.people.get(name, frozenset()) & outer]


def refusal(approver: Approver, *, requested_by: Mapping[str, Any] | None, rule: ApprovalRule,
            settings: ApprovalSettings, counted: Iterable[str] = ()
            ) -> tuple[Reason, str] | None:
    """Why ``approver`` may not approve (code, words), or None when they may.

    ``counted`` are the people whose approvals the request already has."""
    label = approver.label()
    if not allowed(approver, rule, settings):
        names = who_may(rule, settings) or []
        return Reason.NOT_AN_APPROVER, (f"{label} may not approve this entry's requests "
                                        f"(approvers: {', '.join(names) or 'nobody'})")
    me = person(approver, settings)
    if requested_by is not None and person(approver_of(requested_by), settings) == me:
        return Reason.OWN_REQUEST, (f"{label} opened this request: a person cannot approve "
                                    "their own request; someone else must")
    if me in set(counted):
        return Reason.APPROVAL_REPEATED, (f"{label} already approved it (as {me}); it needs "
                                          f"{rule.required} distinct people")
    return None


def deny_refusal(approver: Approver, *, requested_by: Mapping[str, Any] | None,
                 rule: ApprovalRule, settings: ApprovalSettings) -> tuple[Reason, str] | None:
    """Why ``approver`` may not deny (only those who may approve may deny; a requester may
    withdraw their own request), or None."""
    if allowed(approver, rule, settings) or (requested_by is not None and person(
            approver_of(requested_by), settings) == person(approver, settings)):
        return None
    names = who_may(rule, settings) or []
    return Reason.NOT_AN_APPROVER, (f"{approver.label()} may not deny this entry's requests "
                                    f"(approvers: {', '.join(names) or 'nobody'})")
