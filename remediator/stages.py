"""Promotion readiness: each entry's track record from the audit store, and a recommendation.

Promotion is never automatic: the recommendation names the exact catalog edit to make, which a
person commits for review. Pure over the records it is given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .models import Remediation, Stage
from .record import AuditRecord, reason_code

NEXT_STAGE = {Stage.OBSERVE: Stage.HUMAN_INITIATED, Stage.HUMAN_INITIATED: Stage.OVERSIGHT,
              Stage.OVERSIGHT: Stage.FALLBACK}
PREVIOUS_STAGE = {v: k for k, v in NEXT_STAGE.items()}


@dataclass(frozen=True, slots=True)
class Rules:
    """Evidence required to promote out of each stage, and the failure rate that demotes."""

    min_checks: int = 5  # observe -> human-initiated: successful check runs
    min_approved: int = 5  # human-initiated -> oversight: successful live runs
    min_held_pct: float = 90.0  # ... and check predictions that the live run bore out
    min_live: int = 10  # oversight -> fallback: successful live runs
    min_success_pct: float = 95.0  # success rate needed to promote from a live stage
    recent: int = 5  # the last N runs must all have succeeded to promote
    demote_failures: int = 2  # this many failures in a row (live) recommends a demotion


@dataclass
class TrackRecord:
    """What an entry has done, counted from its audit records."""

    checks: int = 0
    check_failures: int = 0
    live: int = 0
    live_successes: int = 0
    live_failures: int = 0
    predictions_held: int = 0
    predictions_missed: int = 0
    escalations: int = 0
    escalation_codes: Counter[str] = field(default_factory=Counter)  # by reason code
    last_failure: dict[str, Any] | None = None
    recent: list[str] = field(default_factory=list)  # outcomes of runs, oldest first

    @property
    def success_pct(self) -> float:
        """Share of live runs that succeeded, per cent (100 when there were none)."""
        return 100.0 * self.live_successes / self.live if self.live else 100.0

    @property
    def held_pct(self) -> float | None:
        """Share of verified check predictions that held, per cent; None when none verified."""
        verified = self.predictions_held + self.predictions_missed
        return 100.0 * self.predictions_held / verified if verified else None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {"checks": self.checks, "check_failures": self.check_failures,
                "live_runs": self.live, "live_successes": self.live_successes,
                "live_failures": self.live_failures, "success_pct": round(self.success_pct, 1),
                "predictions_held": self.predictions_held,
                "predictions_missed": self.predictions_missed, "escalations": self.escalations,
                "escalation_codes": dict(sorted(self.escalation_codes.items())),
                "last_failure": self.last_failure}


def _changed(record: AuditRecord, host: str) -> frozenset[str] | None:
    """The names of the tasks that changed on ``host``; None when a bounded record does not
    list them all (such a prediction can be neither held nor missed)."""
    result = (record.get("hosts") or {}).get(host)
    if result is None:
        return frozenset()
    if (result.get("tasks_omitted") or {}).get("changed"):
        return None
    return frozenset(t["name"] for t in result.get("tasks") or () if t.get("changed"))


def track_record(records: Iterable[AuditRecord]) -> TrackRecord:
    """Count runs, outcomes and check predictions from one entry's records, oldest first."""
    result = TrackRecord()
    open_predictions: dict[str, frozenset[str]] = {}  # host -> tasks the last check predicted
    for record in records:
        action, mode, outcome = record["decision"]["action"], record["mode"], record["outcome"]
        if action == "escalate":
            result.escalations += 1
            result.escalation_codes[reason_code(record)] += 1
        if mode == "check" and outcome != "not-run":
            result.checks += 1
            if outcome != "succeeded":
                result.check_failures += 1
                result.last_failure = _failure(record)
            else:
                for host in record.get("hosts") or {}:
                    prediction = _changed(record, host)
                    if prediction is None:
                        open_predictions.pop(host, None)
                    else:
                        open_predictions[host] = prediction
        elif mode == "live":
            result.live += 1
            result.recent.append(outcome)
            if outcome == "succeeded":
                result.live_successes += 1
            else:
                result.live_failures += 1
                result.last_failure = _failure(record)
            for host in record.get("hosts") or {}:
                predicted = open_predictions.pop(host, None)
                if predicted is None:
                    continue
                changed = _changed(record, host)
                if changed is None and outcome == "succeeded":
                    continue  # a bounded record: neither held nor missed
                if outcome == "succeeded" and changed == predicted:
                    result.predictions_held += 1
                else:
                    result.predictions_missed += 1
    return result


def _failure(record: AuditRecord) -> dict[str, Any]:
    return {"id": record["id"], "at": record["created_at"], "outcome": record["outcome"],
            "code": str(reason_code(record)), "reason": record["decision"]["reason"]}


@dataclass(frozen=True, slots=True)
class Recommendation:
    """promote, hold or demote, with the evidence and the exact catalog edit."""

    verdict: str  # promote | hold | demote
    to: Stage | None
    evidence: tuple[str, ...]
    edit: str | None


def recommend(entry: Remediation, track: TrackRecord, rules: Rules = Rules()
              ) -> Recommendation:
    """The recommendation for one entry at its configured stage."""
    stage = entry.stage
    recent = track.recent[-rules.recent:]
    tail = track.recent[-rules.demote_failures:]
    if stage in (Stage.OVERSIGHT, Stage.FALLBACK) and len(tail) == rules.demote_failures and \
            all(o != "succeeded" for o in tail):
        to = PREVIOUS_STAGE[stage]
        return Recommendation("demote", to, (f"the last {rules.demote_failures} live runs "
                                             "failed",), _edit(entry, to))
    needs: list[str] = []
    evidence: list[str] = []
    if stage is Stage.OBSERVE:
        good = track.checks - track.check_failures
        evidence.append(f"{good} of {track.checks} check runs succeeded")
        if good < rules.min_checks:
            needs.append(f"{rules.min_checks - good} more successful check runs")
        if track.check_failures and track.checks and \
                100.0 * good / track.checks < rules.min_success_pct:
            needs.append(f"check runs succeeding {rules.min_success_pct:g}% of the time")
    elif stage is Stage.HUMAN_INITIATED:
        evidence.append(f"{track.live_successes} of {track.live} approved live runs succeeded")
        held = track.held_pct
        evidence.append("check predictions held: " + (
            f"{track.predictions_held} of {track.predictions_held + track.predictions_missed}"
            if held is not None else "none verified yet"))
        if track.live_successes < rules.min_approved:
            needs.append(f"{rules.min_approved - track.live_successes} more successful "
                         "approved runs")
        if held is None or held < rules.min_held_pct:
            needs.append(f"check predictions holding {rules.min_held_pct:g}% of the time")
    elif stage is Stage.OVERSIGHT:
        evidence.append(f"{track.live_successes} of {track.live} live runs succeeded "
                        f"({track.success_pct:.1f}%)")
        if track.live_successes < rules.min_live:
            needs.append(f"{rules.min_live - track.live_successes} more successful live runs")
    else:
        evidence.append(f"{track.live_successes} of {track.live} live runs succeeded")
        return Recommendation("hold", None, (*evidence, "fallback is the last stage"), None)
    if stage is not Stage.OBSERVE:
        if track.success_pct < rules.min_success_pct:
            needs.append(f"a success rate of {rules.min_success_pct:g}% "
                         f"(now {track.success_pct:.1f}%)")
        if any(o != "succeeded" for o in recent):
            needs.append(f"the last {len(recent)} live runs all succeeding")
    if needs:
        return Recommendation("hold", None, (*evidence, *(f"needs {n}" for n in needs)), None)
    to = NEXT_STAGE[stage]
    return Recommendation("promote", to, tuple(evidence), _edit(entry, to))


def _edit(entry: Remediation, to: Stage) -> str:
    """The exact catalog change that moves ``entry`` to ``to``."""
    if entry.stage_line:
        return (f"{entry.source_file}:{entry.stage_line}: in entry '{entry.name}' change "
                f"'stage: {entry.stage}' to 'stage: {to}'")
    return (f"{entry.source_file}:{entry.source_line}: in entry '{entry.name}' add "
            f"'stage: {to}' (it has no stage key, so it is observe)")
