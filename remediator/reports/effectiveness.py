"""``report effectiveness``: what each catalog entry's automation did, from the audit records
(the guide's "Monitor and evaluate": resolved in time and correctly? negative impact? less toil?).

Definitions, per entry:
- runs: records whose playbook ran (check or live), by effective stage, mode and outcome;
- automated fix: a live run the automation started (not a person's run or approval) that
  succeeded; a fix held unless its alert re-fired;
- re-fire: an escalation with reason code ``refire``, "still firing after the fix" (the fix
  did not hold: negative impact);
- escalations: counted per reason code (records from before codes: derived from the reason);
- resolved without a person: alert occurrences that resolved after an automated fix, with no
  person running, approving or denying anything for them, and no re-fire;
- automation start: when the alert of the entry's first automated live run (any outcome)
  started; occurrences (fingerprint and start) that started before it are "before", the rest
  "after";
- time to resolve: from the alert's start to the record of its resolved notification, for
  the occurrences the records saw resolve;
- person-hours saved = fixes that held x the entry's ``toil_minutes`` / 60 (unknown without).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from ..common import parse_time
from ..history import Incident
from ..history.coverage import Coverage, gap_lines
from ..history.store import incidents as store_incidents
from ..models import Remediation
from ..reasons import Reason
from ..record import AuditRecord, entry_name, reason_code
from .doc import Chart, ReportDoc, Table
from .stats import Durations, match_entry, pct_text, ratio, rounded, seconds_text, stamp

OUTCOMES = ("succeeded", "failed", "unreachable", "interrupted")
Occurrence = tuple[str, datetime]  # (fingerprint, started)


class _Entry:
    """One entry's counts, as its records stream past."""

    __slots__ = ("after", "before", "escalations", "fixes", "no_person", "refired", "runs",
                 "since")

    def __init__(self) -> None:
        self.runs: Counter[tuple[str, str, str]] = Counter()  # (stage, mode, outcome)
        self.fixes = 0  # automated live runs that succeeded
        self.refired: set[Occurrence] = set()  # escalated as still firing after a fix
        self.escalations: Counter[str] = Counter()  # by reason code
        self.no_person = 0  # occurrences resolved after an automated fix, no person acting
        self.since: datetime | None = None  # the automation start
        self.before = Durations()
        self.after = Durations()

    def count(self, mode: str, outcome: str | None = None, stage: str | None = None) -> int:
        """Runs in ``mode`` (and with ``outcome``, at ``stage``, when given)."""
        return sum(n for (s, m, o), n in self.runs.items() if m == mode and
                   outcome in (None, o) and stage in (None, s))

    @property
    def held(self) -> int:
        """Automated fixes that held: the fixes, less the alerts that re-fired after one."""
        return max(0, self.fixes - len(self.refired))


def effectiveness(records: Iterable[AuditRecord], catalog: Sequence[Remediation], *,
                  now: datetime, source: str = "the audit store",
                  history: Iterable[Incident] | None = None,
                  progress: Callable[[int], None] | None = None) -> ReportDoc:
    """The effectiveness report over the audit records (oldest first, streamed once).

    Runs are counted under the entry that ran them; alert occurrences (paired from the same
    records by :func:`remediator.history.store.incidents`) under the entry of today's catalog
    that matches them. With ``history`` (incidents from before the automation), "before"
    times to resolve come from it instead of from the records.
    """
    entries: dict[str, _Entry] = {e.name: _Entry() for e in catalog}

    def counted() -> Iterator[AuditRecord]:
        """The records, each counted on its way to the incident pairing."""
        for record in records:
            _count(record, entries)
            yield record

    for incident in store_incidents(counted(), progress=progress):
        entry = match_entry(catalog, incident.name, incident.labels)
        if entry is None or incident.resolved is None:
            continue
        state = entries[entry.name]
        took = (incident.resolved - incident.started).total_seconds()
        if state.since is not None and incident.started >= state.since:
            state.after.add(took)
        elif history is None:
            state.before.add(took)
        if incident.automated and not incident.human and \
                (incident.fingerprint, incident.started) not in state.refired:
            state.no_person += 1
    coverage = Coverage(catalog)  # entries the history lacks the labels to judge
    for incident in history or ():
        labels = incident.labels if "alertname" in incident.labels else \
            {**incident.labels, "alertname": incident.name}
        entry = match_entry(catalog, incident.name, labels)
        if entry is None:
            coverage.defer(labels, catalog)
            continue
        coverage.see(labels)
        if incident.resolved is None:
            continue
        state = entries[entry.name]
        if state.since is None or incident.started < state.since:
            state.before.add((incident.resolved - incident.started).total_seconds())
    coverage.settle()
    return _doc(entries, catalog, now=now, source=source, history=history is not None,
                gaps=coverage.gaps())


def _count(record: AuditRecord, entries: dict[str, _Entry]) -> None:
    """Count one record's run, fix or escalation into the entry that made it."""
    name = entry_name(record)
    if name is None:
        return
    state = entries.setdefault(name, _Entry())
    alert = record.get("alert")
    mode, outcome = record["mode"], record["outcome"]
    if mode in ("check", "live") and outcome != "not-run":
        state.runs[(record.get("stage") or "-", mode, outcome)] += 1
        if mode == "live" and record.get("initiated_by") == "automation":
            if state.since is None:
                state.since = parse_time(alert.get("starts_at") if alert else None) or \
                    parse_time(record["created_at"])
            state.fixes += outcome == "succeeded"
    if record["decision"]["action"] == "escalate":
        code = reason_code(record)
        state.escalations[code] += 1
        started = parse_time(alert.get("starts_at")) if alert else None
        if alert and started is not None and code is Reason.REFIRE:
            state.refired.add((alert["fingerprint"], started))


def _entry_data(name: str, state: _Entry, entry: Remediation | None, history: bool
                ) -> dict[str, Any]:
    """One entry's numbers, as --json shows them."""
    toil = entry.toil_minutes if entry else None
    before, after = state.before.median(), state.after.median()
    live, live_ok = state.count("live"), state.count("live", "succeeded")
    return {
        "entry": name, "in_catalog": entry is not None,
        "stage": str(entry.stage) if entry else None,
        "runs": [{"stage": stage, "mode": mode, "outcome": outcome, "runs": count}
                 for (stage, mode, outcome), count in sorted(state.runs.items())],
        "check_runs": state.count("check"), "live_runs": live, "live_succeeded": live_ok,
        "live_success_share": rounded(ratio(live_ok, live), 4),
        "automated_fixes": state.fixes, "fixes_held": state.held,
        "resolved_without_person": state.no_person, "refires": len(state.refired),
        "escalations": sum(state.escalations.values()),
        "escalation_codes": dict(sorted(state.escalations.items())),
        "automation_since": None if state.since is None else stamp(state.since),
        "before": {"median_resolve_s": rounded(before), "occurrences": len(state.before),
                   "from": "history" if history else "records"},
        "after": {"median_resolve_s": rounded(after), "occurrences": len(state.after)},
        "resolve_change": None if before is None or after is None or before == 0
        else round((after - before) / before, 4),
        "toil_minutes": toil,
        "person_hours_saved": None if toil is None else round(state.held * toil / 60, 2),
    }


def _name(data: Mapping[str, Any]) -> str:
    """The entry as a table row names it."""
    return str(data["entry"]) + ("" if data["in_catalog"] else " (not in catalog)")


def _row(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """One entry's line in the table of runs and toil."""
    saved, toil = data["person_hours_saved"], data["toil_minutes"]
    return (_name(data), data["stage"] or "-", f"{data['live_succeeded']}/{data['live_runs']}",
            data["fixes_held"], data["refires"], data["resolved_without_person"],
            "-" if toil is None else f"{toil:g}",
            "unknown" if saved is None else f"{saved:.1f}")


def _time_row(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """One entry's line in the table of times to resolve."""
    change, before, after = data["resolve_change"], data["before"], data["after"]
    return (_name(data),
            f"{seconds_text(before['median_resolve_s'])} ({before['occurrences']})",
            f"{seconds_text(after['median_resolve_s'])} ({after['occurrences']})",
            "-" if change is None else f"{100 * change:+.0f}%")


def _doc(entries: dict[str, _Entry], catalog: Sequence[Remediation], *, now: datetime,
         source: str, history: bool, gaps: list[dict[str, Any]]) -> ReportDoc:
    """The per-entry numbers as tables, charts and data."""
    by_name = {e.name: e for e in catalog}
    data = [_entry_data(name, state, by_name.get(name), history)
            for name, state in entries.items()]
    outcome_rows = [(name, stage, mode, state.count(mode, stage=stage),
                     *(state.count(mode, o, stage) for o in OUTCOMES))
                    for name, state in entries.items()
                    for stage, mode in sorted({(s, m) for s, m, _ in state.runs})]
    unknown_toil = [d["entry"] for d in data if d["person_hours_saved"] is None]
    saved_total = sum(d["person_hours_saved"] or 0.0 for d in data)
    table = Table(
        title="Per catalog entry",
        columns=("entry", "stage", "live ok", "fixes held", "re-fires", "no person",
                 "toil min", "hours saved"),
        rows=tuple(_row(d) for d in data),
        notes=("fixes held: successful live runs the automation started, less re-fires; "
               "re-fires: alerts still firing after a fix (escalated: negative impact); no "
               "person: alerts that resolved after an automated fix with no person acting",
               "hours saved = fixes held x toil_minutes / 60 (the catalog entry's minutes a "
               "person takes); unknown when the entry has no toil_minutes"),
    )
    times = Table(
        title="Time to resolve per catalog entry",
        columns=("entry", "before (n)", "after (n)", "change"),
        rows=tuple(_time_row(d) for d in data),
        notes=("before / after: median time to resolve of the entry's alerts that started "
               "before / after its first automated live run"
               + (" (before: from the history file)" if history else "")
               + "; (n): how many alerts",),
    )
    outcomes = Table(title="Runs by stage and outcome",
                     columns=("entry", "stage", "mode", "runs", *OUTCOMES),
                     rows=tuple(outcome_rows))
    escalations = Table(title="Escalations by reason code",
                        columns=("entry", "code", "escalations"),
                        rows=tuple((d["entry"], code, count) for d in data
                                   for code, count in d["escalation_codes"].items()),
                        notes=("the code says why a person was called (see the README's "
                               "reason codes); refire is a fix that did not hold",))
    summary = (
        f"{len(entries)} entries; {sum(d['live_runs'] for d in data)} live runs, "
        f"{pct_text(_share(data))} succeeded",
        f"{sum(d['fixes_held'] for d in data)} automated fixes held, "
        f"{sum(d['refires'] for d in data)} re-fired after a fix; "
        f"{sum(d['resolved_without_person'] for d in data)} alerts resolved without a person",
        f"toil saved: {saved_total:.1f} person-hours"
        + (f" (unknown for {', '.join(unknown_toil)}: no toil_minutes)" if unknown_toil else ""),
        *gap_lines(gaps, "the --history file"),
    )
    return ReportDoc(
        name="effectiveness", title="Automation effectiveness", generated_at=stamp(now),
        source=source, summary=summary, tables=(table, times, outcomes, escalations),
        charts=_charts(data) if data else (),
        data={"report": "effectiveness", "source": source, "generated_at": stamp(now),
              "person_hours_saved": round(saved_total, 2), "toil_unknown": unknown_toil,
              "entries": data, "cannot_judge": gaps},
    )


def _share(data: list[dict[str, Any]]) -> float | None:
    """The share of all live runs that succeeded."""
    return ratio(sum(d["live_succeeded"] for d in data), sum(d["live_runs"] for d in data))


def _charts(data: list[dict[str, Any]]) -> tuple[Chart, ...]:
    """Time to resolve before vs after, and runs by outcome, per entry."""
    names = tuple(d["entry"] for d in data)

    def minutes(side: str) -> tuple[float, ...]:
        """Each entry's median on ``side`` (before or after), in minutes."""
        return tuple((d[side]["median_resolve_s"] or 0.0) / 60 for d in data)

    resolve = Chart(kind="bar", title="Median time to resolve, before vs after automation",
                    x=names, series={"before": minutes("before"), "after": minutes("after")},
                    y_label="minutes")
    outcomes = Chart(kind="stacked", title="Runs by outcome", x=names,
                     series={o: tuple(float(sum(r["runs"] for r in d["runs"]
                                                if r["outcome"] == o)) for d in data)
                             for o in OUTCOMES},
                     y_label="runs")
    return (resolve, outcomes)
