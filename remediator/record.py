"""The audit record as a type: what ``schema/audit-record-v1.json`` says, for mypy.

Every reader of records takes an ``AuditRecord`` (or a ``Draft``, not yet on the chain), so
the type checker checks the keys it reads. A test keeps these types and the JSON schema in
step: the same keys, the same required ones. Values that are enums in the schema are plain
``str`` here (records are JSON; old records are read as they were written).
"""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from live annotations.

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, cast

from .reasons import Reason, from_prose


class AlertPart(TypedDict):
    """``alert``: the alert as normalised, with the hosts it names."""

    source: str
    name: str
    status: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    hosts: list[str]
    starts_at: NotRequired[str | None]
    ends_at: NotRequired[str | None]


class CatalogRevision(TypedDict):
    """``remediation.catalog_revision``: the catalog and playbooks as they were."""

    vcs: str
    dirty: bool
    commit: NotRequired[str | None]
    sha256: NotRequired[str]
    dirty_paths: NotRequired[list[str]]
    ansible_cfg: NotRequired[str | None]
    allow_uncommitted: NotRequired[bool]


class CollectionPart(TypedDict):
    """``remediation.collection``: the installed collection an FQCN playbook came from."""

    name: str
    version: str
    sha256: NotRequired[str]  # over the installed collection's files


class RemediationPart(TypedDict):
    """``remediation``: the catalog entry that matched and what it runs."""

    name: str
    playbook: str
    playbook_sha256: str | None
    catalog_revision: CatalogRevision
    configured_stage: NotRequired[str]
    job_template: NotRequired[str | int]
    collection: NotRequired[CollectionPart]


class DecisionPart(TypedDict):
    """``decision``: what was decided, its reason code and its reason in words."""

    action: str
    reason: str
    code: NotRequired[str]  # absent from records written before codes: see ``reason_code``
    notes: NotRequired[list[str]]
    max_stage: NotRequired[str | None]
    variables: NotRequired[dict[str, Any]]


class RunnerPart(TypedDict):
    """``runner``: how the playbook run ended."""

    ident: str
    status: str
    rc: int | None
    artifacts: NotRequired[str | None]
    error: NotRequired[str | None]
    strategy: NotRequired[str]
    failure: NotRequired[str]
    setup_failure: NotRequired[str]
    job: NotRequired[dict[str, Any]]  # the AWX job that ran it


class TaskPart(TypedDict):
    """One task's result on one host."""

    name: str
    action: str
    status: str
    changed: bool
    diff: list[dict[str, Any]] | None
    msg: str | None


class HostPart(TypedDict):
    """``hosts.<host>``: one host's counters and tasks."""

    ok: int
    changed: int
    failed: int
    unreachable: int
    skipped: int
    tasks: list[TaskPart]
    tasks_omitted: NotRequired[dict[str, int]]


class Truncated(TypedDict):
    """``truncated``: how many tasks a bounded record lists and omits."""

    tasks_listed: int
    tasks_omitted: int
    job_events: NotRequired[str | None]


class ApproverPart(TypedDict):
    """A person as a channel vouches for them (``remediator.identity.Approver``)."""

    channel: str
    id: str
    name: str
    os_user: str | None


class RequestSeal(TypedDict):
    """``request_seal``: the seal of the request a pending record opened."""

    seal: str
    entry_sha256: str
    expires_at: str
    requested_by: NotRequired[ApproverPart]  # a person's request (four eyes), not an alert's


class Notification(TypedDict):
    """One entry of ``notifications``: a channel told, and how that went."""

    channel: str
    status: str
    type: NotRequired[str]
    event: NotRequired[str]
    attempts: NotRequired[int]
    error: NotRequired[str | None]


class BatchPart(TypedDict):
    """``batch``: the run this record shares with other alerts' records."""

    ident: str
    hosts: NotRequired[list[str]]
    records: NotRequired[list[str]]
    outcome: NotRequired[str]


class Approval(TypedDict):
    """One approval a request counted: who (as their channel vouches), as whom, when."""

    person: str
    channel: str
    id: str
    name: str
    os_user: str | None
    at: str


class RequestLink(TypedDict):
    """``request``: the human-initiated request this record approves, denies or refuses (or
    counts one approval of several for)."""

    id: str
    state: str
    by: str
    at: str
    requested_at: str
    channel: NotRequired[str]
    approver: NotRequired[ApproverPart]
    approvals: NotRequired[list[Approval]]
    required: NotRequired[int]
    reason: NotRequired[str]


class Draft(TypedDict):
    """A record before it is on the chain (no ``prev_hash`` or ``hash`` yet)."""

    id: str
    schema_version: int
    created_at: str
    alert: AlertPart | None
    remediation: RemediationPart | None
    stage: str | None
    mode: str
    decision: DecisionPart
    initiated_by: str
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    runner: RunnerPart | None
    outcome: str
    hosts: dict[str, HostPart]
    notifications: list[Notification]
    truncated: NotRequired[Truncated]
    request_seal: NotRequired[RequestSeal]
    batch: NotRequired[BatchPart]
    request: NotRequired[RequestLink]


class AuditRecord(Draft):
    """A record on the chain (``schema_version`` 1)."""

    prev_hash: str
    hash: str


def draft(data: Any) -> Draft:
    """A draft record as read back from JSON (a run journal, the spool folder), typed."""
    return cast(Draft, data)


def stored(data: Any) -> AuditRecord:
    """A record as read back from the store's JSON, typed. Not validated: the hash chain
    vouches for what it holds."""
    return cast(AuditRecord, data)


_CODES = frozenset(Reason)


def reason_code(record: Draft | Mapping[str, Any]) -> Reason:
    """The record's reason code; for a record written before codes, derived from its prose."""
    decision = record["decision"]
    code = decision.get("code")
    if code is not None:  # a code this version does not know (a newer writer): other
        return Reason(code) if code in _CODES else Reason.OTHER
    return from_prose(str(decision.get("reason", "")))


def entry_name(record: Draft) -> str | None:
    """The name of the catalog entry the record is about, if any."""
    remediation = record.get("remediation")
    return None if remediation is None else remediation["name"]
