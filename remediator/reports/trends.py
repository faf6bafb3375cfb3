"""``report trends``: runs per catalog entry per ISO week, and the entries whose fix runs more and
more often (the guide: "if this starts happening more and more often, your team will want to
engage and find the underlying cause").

The rule, over the last ``weeks`` complete ISO weeks (the current week is shown, never judged:
it is not over): with c_1..c_N the runs per week, an entry is rising when
- it ran at least ``min_runs`` times in those weeks,
- the least-squares slope of c over the weeks is at least ``min_slope`` runs/week per week, and
- the mean of the last k weeks is at least ``min_ratio`` times the mean of the first k weeks
  (k = max(1, N // 4)); a rise from zero counts.
A run is a record whose playbook ran (check or live), except the live run a person approved
after its preview (the preview already counted that alert). With an alert history instead
of the records, the same rule judges each alert type's occurrences per week.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from ..common import parse_time
from ..history import Incident
from ..record import AuditRecord, entry_name
from .doc import Chart, ReportDoc, Table
from .stats import iso_week, stamp, weeks_between

CHART_ENTRIES = 10  # entries drawn in the chart, most runs first


@dataclass(frozen=True, slots=True)
class TrendRules:
    """The window and thresholds of the "more and more often" flag."""

    weeks: int = 8
    min_slope: float = 0.5  # runs/week per week
    min_ratio: float = 1.5
    min_runs: int = 6

    @property
    def edge(self) -> int:
        """k: how many weeks at each end of the window are compared."""
        return max(1, self.weeks // 4)


def is_run(record: AuditRecord) -> bool:
    """True for a record whose playbook ran, other than a preview's approved live run."""
    if record["mode"] not in ("check", "live") or record["outcome"] == "not-run":
        return False
    request = record.get("request")
    return request is None or request["state"] != "approved"


def slope(values: list[float]) -> float:
    """The least-squares slope of ``values`` against 0, 1, 2, ... (0 for fewer than two)."""
    count = len(values)
    if count < 2:
        return 0.0
    mean_x = (count - 1) / 2
    mean_y = sum(values) / count
    num = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    den = sum((x - mean_x) ** 2 for x in range(count))
    return num / den


def judge(counts: list[int], rules: TrendRules) -> dict[str, Any]:
    """The numbers behind the flag for one entry's window, and the flag."""
    k = rules.edge
    first = sum(counts[:k]) / k
    last = sum(counts[-k:]) / k
    rise = slope([float(c) for c in counts])
    factor = last / first if first else None
    total = sum(counts)
    steep = rise >= rules.min_slope
    grew = last > 0 if factor is None else factor >= rules.min_ratio
    rising = total >= rules.min_runs and steep and grew
    why = (f"{total} in {len(counts)} weeks; slope {rise:+.2f}/week per week; last "
           f"{k} week(s) {last:g}/week vs first {k} {first:g}/week ("
           + ("from zero" if factor is None else f"{factor:.2f}x") + ")")
    return {"total": total, "slope": round(rise, 3), "first_mean": first, "last_mean": last,
            "ratio": None if factor is None else round(factor, 3), "rising": rising,
            "why": why}


def trends(records: Iterable[AuditRecord], *, now: datetime,
           source: str = "the audit store", rules: TrendRules = TrendRules()) -> ReportDoc:
    """Runs per catalog entry per week, from the audit records (streamed once)."""
    weekly: dict[str, Counter[str]] = {}
    for record in records:
        name = entry_name(record)
        if name is None or not is_run(record):
            continue
        moment = parse_time(record.get("started_at")) or parse_time(record["created_at"])
        if moment is not None:
            weekly.setdefault(name, Counter())[iso_week(moment)] += 1
    return _doc(weekly, _Subject("entry", "entries", "runs", "find the root cause"), now=now,
                source=source, rules=rules)


def alert_trends(incidents: Iterable[Incident], *, now: datetime, source: str = "history",
                 rules: TrendRules = TrendRules()) -> ReportDoc:
    """Occurrences per alert type per week, from an alert history (streamed once): the same
    rule, for alerts that fire more and more often before any automation exists."""
    weekly: dict[str, Counter[str]] = {}
    for incident in incidents:
        weekly.setdefault(incident.name, Counter())[iso_week(incident.started)] += 1
    return _doc(weekly, _Subject("alert type", "alert types", "occurrences",
                                       "why more often?"), now=now,
                source=source, rules=rules)


@dataclass(frozen=True, slots=True)
class _Subject:
    """What the rows are (catalog entries or alert types) and what is counted."""

    key: str
    keys: str  # the plural
    counted: str
    advice: str


def _doc(weekly: dict[str, Counter[str]], subject: _Subject, *, now: datetime, source: str,
         rules: TrendRules) -> ReportDoc:
    """Judge each row's window and lay the result out as a table, a chart and data."""
    current = iso_week(now)
    window = weeks_between(iso_week(now - timedelta(weeks=rules.weeks)),
                           iso_week(now - timedelta(weeks=1)))
    entries = []
    for name, counter in weekly.items():
        counts = [counter.get(w, 0) for w in window]
        entries.append({"name": name, "weeks": dict(zip(window, counts, strict=True)),
                        "this_week": counter.get(current, 0), "all_time": sum(counter.values()),
                        **judge(counts, rules)})
    entries.sort(key=lambda e: (not e["rising"], -e["slope"], e["name"]))
    rows = tuple((e["name"], " ".join(str(c) for c in e["weeks"].values()), e["this_week"],
                  e["total"], f"{e['slope']:+.2f}",
                  "from 0" if e["ratio"] is None else f"{e['ratio']:.2f}x",
                  "RISING" if e["rising"] else "-") for e in entries)
    noun = subject.counted
    rule = (f"rising: at least {rules.min_runs} {noun} in the last {rules.weeks} complete weeks, "
            f"a least-squares slope of at least {rules.min_slope:g} {noun}/week per week, and "
            f"the last {rules.edge} week(s) averaging at least {rules.min_ratio:g}x the first "
            f"{rules.edge} (a rise from zero counts)")
    table = Table(
        title=f"{noun.capitalize()} per week, {window[0]} to {window[-1]}",
        columns=(subject.key, f"{noun} per week (oldest first)", f"now ({current})", "total",
                 "slope", "last/first", "flag"),
        rows=rows,
        notes=(rule, *(f"{e['name']}: {e['why']}" for e in entries if e["rising"])),
    )
    rising = [e["name"] for e in entries if e["rising"]]
    summary = (f"{len(entries)} {subject.keys}; {len(rising)} rising"
               + (f": {', '.join(rising)} ({subject.advice})" if rising else ""),)
    top = sorted(entries, key=lambda e: (-e["total"], e["name"]))[:CHART_ENTRIES]
    chart = Chart(kind="line", title=f"{noun.capitalize()} per week", x=(*window, current),
                  series={e["name"]: (*(float(c) for c in e["weeks"].values()),
                                      float(e["this_week"])) for e in top},
                  y_label=noun)
    return ReportDoc(
        name="trends", title=f"Trends: {noun} per {subject.key}", generated_at=stamp(now),
        source=source, summary=summary, tables=(table,), charts=(chart,) if top else (),
        data={"report": "trends", "source": source, "generated_at": stamp(now),
              "counted": noun, "per": subject.key, "rules": asdict(rules), "window": window,
              "current_week": current, "entries": entries},
    )
