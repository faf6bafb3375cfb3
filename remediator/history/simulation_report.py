"""A simulation's counts as a ReportDoc: headline, tables, the runs-per-day chart, and data."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..reports.doc import Chart, ReportDoc, Table
from .coverage import gap_lines
from .simulate import ACTIONS, Tally


def report(tally: Tally, source: str, *, skipped: int = 0,
           generated_at: datetime | None = None) -> ReportDoc:
    """The ReportDoc of a simulation of the history from ``source``."""
    data = as_data(tally, source, skipped)
    days = data["days"]
    return ReportDoc(
        name="simulate",
        title="Simulation: today's catalog and guardrails over the alert history",
        generated_at=(generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        source=source,
        summary=_summary(tally, data),
        tables=(
            Table("Decisions by action (firing alerts)", ("action", "alerts", "share"),
                  tuple((a, n, _share(n, tally.deliveries["firing"]))
                        for a, n in data["actions"].items())),
            Table("Runs by stage and mode", ("stage", "mode", "alerts", "runs", "hosts"),
                  tuple((r["stage"], r["mode"], r["alerts"], r["runs"], r["hosts"])
                        for r in data["runs"]),
                  ("alerts: decisions that run a playbook; runs: playbook runs (alerts of "
                   "one entry at the same instant share one run)",)),
            Table("Why, by reason code", ("code", *ACTIONS, "total"),
                  tuple((r["reason"], *(r[a] for a in ACTIONS), r["total"])
                        for r in data["reasons"]),
                  tuple(f"{r['reason']}: e.g. {r['example']}" for r in data["reasons"])),
            Table("By entry", ("entry", "stage", *ACTIONS, "check", "live"),
                  tuple((e["entry"], e["stage"] or "-", *(e[a] for a in ACTIONS),
                         e["check"], e["live"]) for e in data["entries"])),
            Table("By day", ("day", *ACTIONS, "runs"),
                  tuple((d["day"], *(d[a] for a in ACTIONS), d["runs"]) for d in days),
                  ("runs: decisions that run a playbook (a recurrence escalation still runs)",)),
        ),
        charts=(Chart("stacked", "Decisions per day, by action", tuple(d["day"] for d in days),
                      {a: tuple(float(d[a]) for d in days) for a in ACTIONS}, "alerts"),),
        data=data,
    )


def as_data(tally: Tally, source: str, skipped: int = 0) -> dict[str, Any]:
    """The plain, JSON-ready data of a simulation (what --json prints)."""
    keys = sorted(set(tally.runs) | set(tally.modes))
    return {
        "source": source,
        "state": tally.state,
        "shifted_by_s": round(tally.shift_s, 3),
        "first": _to_second(tally.first),
        "last": _to_second(tally.last),
        "incidents": tally.incidents,
        "skipped_rows": skipped,
        "deliveries": {"firing": tally.deliveries["firing"],
                       "resolved": tally.deliveries["resolved"]},
        "actions": _actions(tally.actions),
        "runs": [{"stage": stage, "mode": mode, "alerts": tally.modes[(stage, mode)],
                  "runs": tally.runs[(stage, mode)], "hosts": tally.hosts[(stage, mode)]}
                 for stage, mode in keys],
        "reasons": sorted(({"reason": group, **_actions(counts),
                            "total": sum(counts.values()), "example": tally.examples[group]}
                           for group, counts in tally.reasons.items()),
                          key=lambda r: (-r["total"], r["reason"])),
        "entries": [{"entry": name, "stage": tally.stages.get(name), **_actions(counts),
                     "check": counts["check"], "live": counts["live"]}
                    for name, counts in sorted(tally.entries.items())],
        "days": [{"day": day, **_actions(counts), "runs": counts["runs"]}
                 for day, counts in _every_day(tally.days)],
        "resolved": dict(sorted(tally.resolved.items())),
        "cannot_judge": tally.gaps,
    }


def _summary(tally: Tally, data: dict[str, Any]) -> tuple[str, ...]:
    """The headline lines."""
    firing = tally.deliveries["firing"]
    actions = data["actions"]
    runs = sum(tally.runs.values())
    lines = [
        f"{tally.incidents} incidents from {data['source']}, {data['first'] or '-'} to "
        f"{data['last'] or '-'}: {firing} firing alerts decided, "
        f"{tally.deliveries['resolved']} resolutions (they never trigger a fix)",
        f"run {actions['run']}, pending approval {actions['pending']}, skip {actions['skip']}, "
        f"escalate {actions['escalate']} ({runs} playbook runs)",
    ]
    if tally.state == "store":
        lines.append("started from the store's guardrail state (recent runs, locks, open "
                     f"breakers); the history was moved {tally.shift_s / 86400:.1f} days "
                     "to start now")
    else:
        lines.append("started from an empty guardrail state")
    lines.extend(gap_lines(tally.gaps, data["source"]))
    if data["skipped_rows"]:
        lines.append(f"{data['skipped_rows']} bad rows were skipped")
    return tuple(lines)


def _every_day(days: dict[str, Counter[str]]) -> list[tuple[str, Counter[str]]]:
    """Each day from the first to the last, quiet days included (with no counts)."""
    if not days:
        return []
    first, last = date.fromisoformat(min(days)), date.fromisoformat(max(days))
    return [(day.isoformat(), days.get(day.isoformat(), Counter()))
            for day in (first + timedelta(days=n) for n in range((last - first).days + 1))]


def _actions(counts: Counter[str]) -> dict[str, int]:
    """One count per action, zeros included, in the Action order."""
    return {action: counts[action] for action in ACTIONS}


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _to_second(moment: datetime | None) -> str | None:
    """A time as the report shows it: to the second."""
    return None if moment is None else moment.isoformat(timespec="seconds")
