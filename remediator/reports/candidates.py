"""``report candidates``: alert types ranked by the toil automation would save, weighed by how
simple they are to automate (the guide's "Identify candidate workflows"). One streaming pass."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..history import Incident
from ..history.coverage import Coverage, gap_lines
from ..models import Remediation
from .doc import Chart, ReportDoc, Table
from .stats import Tally, match_entry, pct_text, rounded, runbook_of, seconds_text, stamp

SIGNALS = ("one host", "one service", "catalog entry", "runbook")
SERVICES_KEPT = 3  # service names kept per type: enough to say "one" or name a few


@dataclass(frozen=True, slots=True)
class CandidateRules:
    """How simplicity is judged and how it weighs against toil."""

    host_share: float = 0.9  # this share of occurrences name one host: "one host"
    entry_share: float = 0.5  # this share match one catalog entry: "catalog entry"
    base_weight: float = 0.5  # score = toil hours x (base_weight + signals x signal_weight)
    signal_weight: float = 0.125


class _TypeCandidate:
    """Per alert type: the tally, hosts, services, catalog matches and a runbook."""

    __slots__ = ("coverage", "entries", "hits", "many_services", "runbook", "services",
                 "tally", "with_host")

    def __init__(self, entries: Sequence[Remediation], coverage: Coverage) -> None:
        self.coverage = coverage
        self.tally = Tally(0.0)
        self.entries = entries  # catalog entries whose alertname matcher accepts this type
        self.hits: Counter[str] = Counter()  # entry name -> occurrences it matches
        self.with_host = 0
        self.services: set[str] = set()
        self.many_services = False
        self.runbook: str | None = None

    def add(self, incident: Incident) -> None:
        """Count one occurrence of this type."""
        self.tally.add(incident)
        if incident.host:
            self.with_host += 1
        if incident.service and incident.service not in self.services:
            if len(self.services) < SERVICES_KEPT:
                self.services.add(incident.service)
            else:
                self.many_services = True
        if self.runbook is None:
            self.runbook = runbook_of(incident.annotations)
        if self.entries:
            labels = incident.labels if "alertname" in incident.labels else \
                {**incident.labels, "alertname": incident.name}
            entry = match_entry(self.entries, incident.name, labels)
            if entry is not None:
                self.hits[entry.name] += 1
                self.coverage.see(labels)
            else:  # perhaps only because the history lacks label names the entries need
                self.coverage.defer(labels, self.entries)
        else:
            self.coverage.see(incident.labels)


def _entries_for(catalog: Sequence[Remediation], name: str) -> tuple[Remediation, ...]:
    """The entries that could match alerts called ``name`` (their alertname matchers agree)."""
    labels = {"alertname": name}
    return tuple(e for e in catalog
                 if all(m.matches(labels) for m in e.matchers if m.label == "alertname"))


def candidates(incidents: Iterable[Incident], catalog: Sequence[Remediation], *,
               now: datetime, source: str = "history",
               rules: CandidateRules = CandidateRules()) -> ReportDoc:
    """The candidates report over a stream of incidents and the current catalog."""
    types: dict[str, _TypeCandidate] = {}
    coverage = Coverage(catalog)
    for incident in incidents:
        state = types.get(incident.name)
        if state is None:
            state = types[incident.name] = _TypeCandidate(_entries_for(catalog, incident.name),
                                                          coverage)
        state.add(incident)
    coverage.settle()
    stages = {e.name: str(e.stage) for e in catalog}
    ranked = sorted((_assess(name, state, stages, rules) for name, state in types.items()),
                    key=lambda c: (-c["score"], -c["toil_hours"], c["name"]))
    for rank, row in enumerate(ranked, 1):
        row["rank"] = rank
    return _doc(ranked, now=now, source=source, rules=rules, gaps=coverage.gaps())


def _assess(name: str, state: _TypeCandidate, stages: dict[str, str], rules: CandidateRules
            ) -> dict[str, Any]:
    """One type's numbers, signals, score and the reasoning behind them."""
    tally = state.tally
    # the occurrences that took a person: those a person acted on, and those nobody can tell
    workload = tally.acted + (tally.volume - tally.told)
    if len(tally.handled):
        handling, basis = tally.handled.median(), "person"
    else:
        handling, basis = tally.to_resolve.median(), "time to resolve"
    if handling is None:
        basis = "unknown"
    toil = workload * (handling or 0.0) / 3600
    signals = _signals(state, stages, rules)
    met = [text for text in signals.values() if text]
    who = (f"{workload} occurrence(s) a person handled" if tally.told == tally.volume
           else f"{workload} occurrence(s) a person handled or may have")
    taken = ("median time a person took" if basis == "person" else
             "median time to resolve (a proxy: no person was seen acting)")
    cost = (f"{who} x {seconds_text(handling)} {taken} = {toil:.1f} h"
            if handling is not None else f"{who}; no handling time (no occurrence resolved)")
    entry, hits = state.hits.most_common(1)[0] if state.hits else (None, 0)
    return {
        "name": name, "volume": tally.volume, "workload": workload,
        "handling_s": rounded(handling), "handling_basis": basis,
        "toil_hours": round(toil, 2), "signals": {k: v is not None for k, v in signals.items()},
        "simplicity": len(met),
        "score": round(toil * (rules.base_weight + rules.signal_weight * len(met)), 2),
        "entry": entry, "entry_share": rounded(hits / tally.volume, 4) if entry else None,
        "services": sorted(state.services),
        "host_share": round(state.with_host / tally.volume, 4), "runbook": state.runbook,
        "why": (f"{cost}; simplicity {len(met)}/{len(SIGNALS)}: " + (", ".join(met) or "none")
                + "; not: " + (", ".join(k for k, v in signals.items() if not v) or "-")),
    }


def _signals(state: _TypeCandidate, stages: dict[str, str], rules: CandidateRules
             ) -> dict[str, str | None]:
    """Each simplicity signal: what shows it, or None when the type lacks it."""
    volume = state.tally.volume
    signals: dict[str, str | None] = dict.fromkeys(SIGNALS)
    host_share = state.with_host / volume
    if host_share >= rules.host_share:
        signals["one host"] = f"one host each ({pct_text(host_share)})"
    if len(state.services) == 1 and not state.many_services:
        signals["one service"] = f"one service ({next(iter(state.services))})"
    entry, hits = state.hits.most_common(1)[0] if state.hits else (None, 0)
    if entry is not None and hits / volume >= rules.entry_share:
        signals["catalog entry"] = (f"catalog entry {entry} ({stages[entry]}) matches "
                                    f"{pct_text(hits / volume)}")
    if state.runbook:
        signals["runbook"] = f"runbook {state.runbook}"
    return signals


def _entry_cell(candidate: Mapping[str, Any]) -> str:
    """The matching catalog entry, with its share of the occurrences when not all."""
    if candidate["entry"] is None:
        return "-"
    share = candidate["entry_share"]
    return str(candidate["entry"]) + ("" if share == 1 else f" ({pct_text(share)})")


def _doc(ranked: list[dict[str, Any]], *, now: datetime, source: str, rules: CandidateRules,
         gaps: list[dict[str, Any]]) -> ReportDoc:
    """The ranked candidates as tables, a chart and data."""
    rows = tuple((c["rank"], c["name"], c["volume"], c["workload"],
                  seconds_text(c["handling_s"]) + ("" if c["handling_basis"] == "person"
                                                   else "*"),
                  f"{c['toil_hours']:.1f}", f"{c['simplicity']}/{len(SIGNALS)}",
                  f"{c['score']:.1f}", _entry_cell(c)) for c in ranked)
    table = Table(
        title="Automation candidates, best first",
        columns=("rank", "alert type", "volume", "handled", "handling", "toil h", "simple",
                 "score", "catalog entry"),
        rows=rows,
        notes=tuple(f"#{c['rank']} {c['name']}: {c['why']}" for c in ranked),
    )
    method = (
        "handling: the median time to resolve of occurrences a person acted on; * marks a type "
        "no person was seen acting on, whose median time to resolve of all occurrences stands "
        "in (a proxy)",
        "toil h = handled occurrences (a person acted, or the source cannot tell) x handling",
        f"simplicity: one host per occurrence ({pct_text(rules.host_share)}+ name a host), one "
        f"service, a catalog entry matching {pct_text(rules.entry_share)}+ of occurrences, a "
        "runbook annotation (runbook_url, runbook, runbook_link)",
        f"score = toil h x ({rules.base_weight:g} + {rules.signal_weight:g} x simplicity): a "
        "type with every signal counts its whole toil, one with none half of it",
    )
    summary = [f"{len(ranked)} alert types ranked"]
    if ranked:
        best = ranked[0]
        summary.append(f"best candidate: {best['name']} ({best['toil_hours']:.1f} person-hours, "
                       f"simplicity {best['simplicity']}/{len(SIGNALS)})")
    chart = Chart(kind="bar", title="Toil by alert type (person-hours)",
                  x=tuple(c["name"] for c in ranked[:20]),
                  series={"toil hours": tuple(float(c["toil_hours"]) for c in ranked[:20]),
                          "score": tuple(float(c["score"]) for c in ranked[:20])},
                  y_label="hours")
    return ReportDoc(
        name="candidates", title="Automation candidates", generated_at=stamp(now),
        source=source, summary=(*summary, *gap_lines(gaps, source), *method), tables=(table,),
        charts=(chart,) if ranked else (),
        data={"report": "candidates", "source": source, "generated_at": stamp(now),
              "rules": asdict(rules), "method": list(method), "candidates": ranked,
              "cannot_judge": gaps},
    )
