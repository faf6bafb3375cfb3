"""Frozen value types that flow through the pipeline: alert, remediation, decision, run result."""

from __future__ import annotations

import copy
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .limits import Guardrails
from .reasons import Reason
from .record import HostPart, TaskPart
from .regex import Anchored, Searcher


class Stage(enum.StrEnum):
    """Trust stage of a catalog entry, ordered from least to most trusted."""

    OBSERVE = "observe"
    HUMAN_INITIATED = "human-initiated"
    OVERSIGHT = "oversight"
    FALLBACK = "fallback"

    @property
    def rank(self) -> int:
        """Position in the trust order: observe is 0, fallback is 3."""
        return list(Stage).index(self)

    def capped(self, ceiling: Stage | None) -> Stage:
        """This stage, or ``ceiling`` when that is lower (the emergency brake)."""
        if ceiling is not None and ceiling.rank < self.rank:
            return ceiling
        return self


class Mode(enum.StrEnum):
    """How a playbook runs: check (``--check --diff``), live, or not at all."""

    CHECK = "check"
    LIVE = "live"
    NONE = "none"


class Action(enum.StrEnum):
    """What the policy decided to do with an alert."""

    RUN = "run"
    PENDING = "pending"
    SKIP = "skip"
    ESCALATE = "escalate"


class Outcome(enum.StrEnum):
    """What came of a decision: the playbook result, or not-run."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    INTERRUPTED = "interrupted"  # cancelled at shutdown, or its process died mid-run
    NOT_RUN = "not-run"


class RunnerStatus(enum.StrEnum):
    """Final status ansible-runner reports for a run."""

    SUCCESSFUL = "successful"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELED = "canceled"
    ERROR = "error"


EMPTY_MAP: Mapping[str, Any] = MappingProxyType({})


def frozen_map(data: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only copy of ``data`` (one shared empty map for nothing)."""
    return MappingProxyType(dict(data)) if data else EMPTY_MAP


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert from any source, normalised; every string in it is untrusted."""

    source: str
    name: str
    status: str  # "firing" | "resolved"
    fingerprint: str
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    annotations: Mapping[str, str] = field(default_factory=frozen_map)
    starts_at: str | None = None
    ends_at: str | None = None

    @property
    def firing(self) -> bool:
        """True while the alert is active."""
        return self.status == "firing"

    def as_dict(self) -> dict[str, Any]:
        """The alert as plain JSON-ready data."""
        return {
            "source": self.source,
            "name": self.name,
            "status": self.status,
            "fingerprint": self.fingerprint,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
        }


class MatchOp(enum.StrEnum):
    """Alertmanager matcher operators."""

    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher, Alertmanager style; regexes are RE2, anchored at both ends.

    A regex RE2 cannot compile is a ``RegexError`` (a ValueError) when the Matcher is made.
    """

    label: str
    op: MatchOp
    value: str
    _regex: Anchored | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = Anchored(self.value) if self.op in (MatchOp.RE, MatchOp.NRE) else None
        object.__setattr__(self, "_regex", regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when ``labels`` satisfy this matcher (a missing label is the empty string)."""
        actual = labels.get(self.label, "")
        if self.op is MatchOp.EQ:
            return actual == self.value
        if self.op is MatchOp.NE:
            return actual != self.value
        found = self._regex is not None and self._regex.matches(actual)
        return found if self.op is MatchOp.RE else not found

    def __str__(self) -> str:
        return f'{self.label}{self.op.value}"{self.value}"'


@dataclass(frozen=True, slots=True)
class VarSource:
    """Where a playbook variable comes from: a dotted path into the alert, optionally defaulted."""

    path: str  # e.g. "labels.mountpoint", "annotations.summary", "name", "fingerprint"
    required: bool = True
    default: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """How an alert names its host: a label, an optional one-group regex (RE2); port stripped."""

    label: str = "instance"
    pattern: str | None = None
    _regex: Searcher | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", None if self.pattern is None
                           else Searcher(self.pattern))

    def host_part(self, value: str) -> str | None:
        """Group 1 of ``pattern``'s first match in ``value`` (``value`` itself without a
        pattern); None when it does not match or the group is empty."""
        if self._regex is None:
            return value
        return self._regex.first_group(value) or None


@dataclass(frozen=True, slots=True)
class CollectionRef:
    """The installed Ansible collection an entry's FQCN playbook comes from."""

    name: str  # namespace.collection
    version: str  # as its MANIFEST.json (or galaxy.yml) says; "*" when it says none
    path: str  # the collection's folder, absolute
    sha256: str | None = None  # over the installed collection's files (galaxy.collection_sha256)


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    """A catalog entry's ``approval`` block: who may approve its requests, and how many."""

    approvers: tuple[str, ...] | None = None  # person names or principals; None: no narrowing
    required: int = 1  # distinct people whose approvals start the live run
    four_eyes: bool = False  # a live run a person starts needs someone else's approval


@dataclass(frozen=True, slots=True)
class Remediation:
    """One catalog entry: what it matches, which playbook fixes it, at which trust stage."""

    name: str
    matchers: tuple[Matcher, ...]
    playbook: str  # relative to the playbook folder, as written in the catalog ("" for AWX)
    playbook_path: str  # absolute, resolved, inside the playbook folder ("" for AWX)
    stage: Stage = Stage.OBSERVE
    target: Target = Target()
    vars: Mapping[str, VarSource] = field(default_factory=frozen_map)
    static_vars: Mapping[str, Any] = field(default_factory=frozen_map)
    timeout_s: int = 600
    description: str = ""
    source_file: str = ""
    source_line: int = 0
    stage_line: int = 0  # line of the ``stage`` key, 0 when the entry has none
    notify: tuple[str, ...] | None = None  # channel names; None means the config's default
    approval_ttl_s: int | None = None  # None means the config's approval_ttl
    guardrails: Guardrails = field(default_factory=Guardrails)
    toil_minutes: float | None = None  # minutes a person takes to fix it by hand (reports)
    job_template: str | int | None = None  # an AWX job template (name or id) instead of a playbook
    accelerator: str | None = None  # "none" or "mitogen" for local runs; None: the config's
    collection: CollectionRef | None = None  # set when ``playbook`` is an FQCN (ns.coll.name)
    approval: ApprovalRule = ApprovalRule()

    def matches(self, alert: Alert) -> bool:
        """True when every matcher holds for the alert's labels (``alertname`` included)."""
        labels = alert.labels
        for matcher in self.matchers:  # noqa: SIM110 - a plain loop is faster on this hot path
            if not matcher.matches(labels):
                return False
        return True


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy decided for one alert and why (a code, and prose for people); pure
    data, no side effects."""

    action: Action
    code: Reason  # the kind of reason: what reports count by
    reason: str  # the reason in words, for people: free to reword
    mode: Mode
    stage: Stage | None  # the effective stage (after the ceiling)
    configured_stage: Stage | None = None
    hosts: tuple[str, ...] = ()
    variables: Mapping[str, Any] = field(default_factory=frozen_map)  # alert-derived: untrusted
    static_vars: Mapping[str, Any] = field(default_factory=frozen_map)  # from the catalog
    capped_by: Stage | None = None  # the --max-stage ceiling, when it lowered the stage
    notes: tuple[str, ...] = ()

    @property
    def executes(self) -> bool:
        """True when a playbook run follows from this decision."""
        return self.mode is not Mode.NONE

    def evolve(self, **changes: Any) -> Decision:
        """A copy with ``changes``."""
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class TaskResult:
    """One task's result on one host."""

    name: str
    action: str
    status: str  # ok | changed | failed | skipped | unreachable | ignored
    changed: bool
    diff: Any = None
    msg: str | None = None

    def as_dict(self) -> TaskPart:
        """The task as plain JSON-ready data."""
        return {
            "name": self.name,
            "action": self.action,
            "status": self.status,
            "changed": self.changed,
            "diff": copy.deepcopy(self.diff),
            "msg": self.msg,
        }


@dataclass(frozen=True, slots=True)
class HostResult:
    """Counters and task results of one host in one run.

    The counters are always exact; ``tasks`` may be bounded (see ``results.ResultCollector``),
    and then ``omitted`` counts, by status, the tasks that ran but are not listed.
    """

    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    tasks: tuple[TaskResult, ...] = ()
    omitted: Mapping[str, int] = field(default_factory=frozen_map)

    @property
    def reached(self) -> bool:
        """True when at least one task ran on this host, listed or not."""
        return bool(self.tasks or self.omitted)

    def as_dict(self) -> HostPart:
        """The host result as plain JSON-ready data (``tasks_omitted`` only when some were)."""
        data: HostPart = {
            "ok": self.ok,
            "changed": self.changed,
            "failed": self.failed,
            "unreachable": self.unreachable,
            "skipped": self.skipped,
            "tasks": [t.as_dict() for t in self.tasks],
        }
        if self.omitted:
            data["tasks_omitted"] = dict(self.omitted)
        return data


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one ansible-runner run produced; a failed playbook is data, not an exception."""

    ident: str
    status: RunnerStatus
    rc: int | None
    started_at: str
    finished_at: str
    duration_s: float
    hosts: Mapping[str, HostResult]
    outcome: Outcome
    artifacts: str | None = None
    error: str | None = None
    job: Mapping[str, Any] | None = None  # the remote job that ran the plan (AWX), as recorded
    strategy: str | None = None  # the accelerated strategy a local run used (mitogen_linear)
    setup_failure: str | None = None  # why the run stopped before touching any host (SETUP_*)


class RequestState(enum.StrEnum):
    """Where a human-initiated request stands."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    RESOLVED = "resolved"  # the alert resolved before anyone approved


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A check-mode preview waiting for a person to approve the live run."""

    id: str  # the id of the pending audit record
    entry: str
    hosts: tuple[str, ...]
    fingerprint: str | None
    alert: Mapping[str, Any] | None
    variables: Mapping[str, str]
    preview: Mapping[str, Any]  # per host: the tasks that would change
    created_at: str
    expires_at: str
    state: RequestState = RequestState.PENDING
    decided_by: str | None = None
    decided_at: str | None = None
    result_record: str | None = None
    seal: str | None = None  # sha256 over what was previewed (None: opened before sealing)
    # who opened it ({channel, id, name, os_user}); None: an alert opened it
    requested_by: Mapping[str, Any] | None = None
