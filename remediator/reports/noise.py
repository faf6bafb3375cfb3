"""``report noise``: which alerts fire, when, how they end, and which should go back to
engineering (the guide's "Reducing noise" questions). One streaming pass, per-type state."""

from __future__ import annotations

from array import array
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from ..history import Incident
from .doc import Chart, ReportDoc, Table
from .stats import Tally, pct_text, rounded, seconds_text, stamp

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TOP_SERIES = 5  # alert types drawn by name in the volume chart; the rest are "other"
DAILY_UP_TO = 62  # days of history up to which the volume chart counts per day, else per week
KEEP_ARRIVALS = 20_000  # occurrences after which an alert not seen again may be forgotten
FORGET_EVERY = 1_024  # occurrences between two looks for alerts to forget


@dataclass(frozen=True, slots=True)
class NoiseRules:
    """The thresholds behind the noise report; every one of them is shown with the report."""

    quick_minutes: float = 5.0  # resolved within this: likely unactionable
    flap_count: int = 3  # this many starts of the same alert ...
    flap_minutes: float = 60.0  # ... within this many minutes is flapping
    min_volume: int = 5  # fewer occurrences are never sent back to engineering
    self_resolving_share: float = 0.5  # resolved within quick_minutes at least this often
    flapping_share: float = 0.2  # at least this share of occurrences are flaps


class Flaps:
    """Flap detection. An occurrence is a flap when, counting it, the same alert started at
    least ``count`` times within ``window_s`` seconds. The same alert: the same alert type on
    the same host, or with the same fingerprint when it names no host (a PagerDuty export's
    fingerprint is the incident's own id; a host is what fires again).

    Kept per alert: its last ``count - 1`` starts, in the order the history is read (histories
    are in time order, oldest or newest first; either gives the same flaps for a burst). An
    alert is forgotten once KEEP_ARRIVALS other occurrences came after its last one and it
    last started more than the window away from the newest: memory follows the alerts active
    at one time, not the length of the history (a flap is missed only when that many alerts
    arrive in between, in one window).
    """

    def __init__(self, count: int, window_s: float) -> None:
        if count < 2:
            raise ValueError("a flap needs at least 2 starts")
        self.count = count
        self.window_s = window_s
        # (type, subject) -> (arrival number, last starts); least recently seen first
        self._recent: OrderedDict[tuple[str, str], tuple[int, tuple[float, ...]]] = \
            OrderedDict()
        self._arrivals = 0

    def add(self, name: str, subject: str, start: float) -> bool:
        """Record a start of ``subject`` (see ``subject_of``); True when it makes this
        occurrence a flap."""
        self._arrivals += 1
        key = (name, subject)
        found = self._recent.pop(key, None)
        if found is None:
            self._recent[key] = (self._arrivals, (start,))
            flap = False
        else:
            starts = found[1]
            flap = len(starts) == self.count - 1 and abs(start - starts[0]) <= self.window_s
            self._recent[key] = (self._arrivals, (*starts, start)[1 - self.count:])
        if self._arrivals % FORGET_EVERY == 0:
            self._forget(start)
        return flap

    def _forget(self, now: float) -> None:
        """Drop the alerts long gone, least recently seen first."""
        while self._recent:
            arrival, last = next(iter(self._recent.values()))
            if self._arrivals - arrival < KEEP_ARRIVALS or abs(now - last[-1]) <= self.window_s:
                return
            self._recent.popitem(last=False)

    def __len__(self) -> int:
        return len(self._recent)


def subject_of(incident: Incident) -> str:
    """What fires again when an alert flaps: its host, else its fingerprint."""
    return f"host {incident.host}" if incident.host else f"alert {incident.fingerprint}"


class _TypeNoise:
    """Per alert type: the tally, weekday x hour counts, daily counts and flaps."""

    __slots__ = ("cells", "days", "flapping", "flaps", "tally")

    def __init__(self, quick_s: float) -> None:
        self.tally = Tally(quick_s)
        self.cells = array("l", bytes(8 * 7 * 24))  # weekday * 24 + hour
        self.days: Counter[int] = Counter()  # date ordinal -> occurrences
        self.flaps = 0
        self.flapping: set[str] = set()  # subjects (hosts, fingerprints) that flapped

    def by_hour(self) -> list[int]:
        """Occurrences per hour of day, 00 to 23."""
        return [sum(self.cells[d * 24 + h] for d in range(7)) for h in range(24)]

    def by_weekday(self) -> list[int]:
        """Occurrences per day of week, Monday first."""
        return [sum(self.cells[d * 24:(d + 1) * 24]) for d in range(7)]


def noise(incidents: Iterable[Incident], *, now: datetime, source: str = "history",
          rules: NoiseRules = NoiseRules(), tz: tzinfo = UTC) -> ReportDoc:
    """The noise report over a stream of incidents (one pass; hours and days in ``tz``)."""
    quick_s = rules.quick_minutes * 60
    flaps = Flaps(rules.flap_count, rules.flap_minutes * 60)
    types: dict[str, _TypeNoise] = {}
    utc = tz is UTC
    for incident in incidents:
        state = types.get(incident.name)
        if state is None:
            state = types[incident.name] = _TypeNoise(quick_s)
        state.tally.add(incident)
        start = incident.started.timestamp()
        if utc:  # the same as below, without building a datetime per row
            day, second = divmod(int(start), 86_400)
            state.cells[(day + 3) % 7 * 24 + second // 3600] += 1  # 1970-01-01: a Thursday
            state.days[day + EPOCH_ORDINAL] += 1
        else:
            local = incident.started.astimezone(tz)
            state.cells[local.weekday() * 24 + local.hour] += 1
            state.days[local.toordinal()] += 1
        subject = subject_of(incident)
        if flaps.add(incident.name, subject, start):
            state.flaps += 1
            state.flapping.add(subject)
    return _doc(types, now=now, source=source, rules=rules, tz=tz)


def engineering_reasons(state: _TypeNoise, rules: NoiseRules) -> list[dict[str, str]]:
    """Why an alert type should go back to engineering (empty: it should not)."""
    tally = state.tally
    if tally.volume < rules.min_volume:
        return []
    reasons = []
    quick = tally.quick_share()
    if quick is not None and quick >= rules.self_resolving_share:
        reasons.append({"rule": "self-resolving", "reason": (
            f"{pct_text(quick)} of {tally.resolved} resolved within "
            f"{rules.quick_minutes:g} min: likely unactionable")})
    flapping = state.flaps / tally.volume
    if flapping >= rules.flapping_share:
        reasons.append({"rule": "flapping", "reason": (
            f"{pct_text(flapping)} of occurrences are flaps ({len(state.flapping)} alert(s) "
            f"started {rules.flap_count}+ times within {rules.flap_minutes:g} min)")})
    if tally.told and tally.acted == 0:
        reasons.append({"rule": "never acted on", "reason": (
            f"no person acted on any of its {tally.volume} occurrences")})
    return reasons


def _type_data(name: str, state: _TypeNoise, total: int, rules: NoiseRules
               ) -> dict[str, Any]:
    """One alert type's numbers, as --json shows them."""
    tally = state.tally
    return {
        "name": name, "volume": tally.volume, "share": rounded(tally.volume / total, 4),
        "resolved": tally.resolved, "open": tally.open,
        "median_resolve_s": rounded(tally.to_resolve.median()),
        "no_human_share": rounded(tally.no_human_share(), 4),
        "human_known": tally.human_known, "quick_share": rounded(tally.quick_share(), 4),
        "by_hour": state.by_hour(), "by_weekday": state.by_weekday(),
        "flapping": {"occurrences": state.flaps,
                     "share": rounded(state.flaps / tally.volume, 4),
                     "alerts": len(state.flapping)},
        "engineering": engineering_reasons(state, rules),
    }


def _row(data: dict[str, Any]) -> tuple[Any, ...]:
    """One alert type's line in the table."""
    volume, hours, days = data["volume"], data["by_hour"], data["by_weekday"]
    hour = max(range(24), key=lambda h: hours[h])
    day = max(range(7), key=lambda d: days[d])
    return (data["name"], volume, pct_text(data["share"]),
            f"{hour:02d}h {pct_text(hours[hour] / volume)}",
            f"{WEEKDAYS[day]} {pct_text(days[day] / volume)}",
            seconds_text(data["median_resolve_s"]), pct_text(data["no_human_share"]),
            pct_text(data["quick_share"]), pct_text(data["flapping"]["share"]), data["open"])


def _doc(types: dict[str, _TypeNoise], *, now: datetime, source: str, rules: NoiseRules,
         tz: tzinfo) -> ReportDoc:
    """The per-type numbers as tables, charts and data."""
    total = sum(s.tally.volume for s in types.values())
    ordered = sorted(types.items(), key=lambda item: (-item[1].tally.volume, item[0]))
    zone = str(tz)
    data_types = [_type_data(name, state, total, rules) for name, state in ordered]
    rows = [_row(d) for d in data_types]
    flagged = [{"name": d["name"], "volume": d["volume"],
                "reasons": [r["reason"] for r in d["engineering"]],
                "rules": [r["rule"] for r in d["engineering"]]}
               for d in data_types if d["engineering"]]
    quick = f"{rules.quick_minutes:g}m"
    table = Table(
        title="Alert types by volume",
        columns=("alert type", "volume", "share", "peak hour", "peak day", "to resolve",
                 "no person", f"within {quick}", "flapping", "open"),
        rows=tuple(rows),
        notes=(f"peak hour, peak day: when it fires most ({zone}), with that share of its "
               "occurrences; to resolve: the median time from firing to resolved",
               f"no person: share of resolved occurrences no person acted on (where the "
               f"source tells); within {quick}: share resolved within {rules.quick_minutes:g} "
               "minutes of firing (likely unactionable)",
               f"flapping: share of occurrences that are flaps: the same alert (type and host, "
               f"else fingerprint) started at least {rules.flap_count} times, this one "
               f"included, within {rules.flap_minutes:g} minutes"),
    )
    back = Table(
        title="Alerts that should go back to engineering",
        columns=("alert type", "volume", "why"),
        rows=tuple((f["name"], f["volume"], "; ".join(f["reasons"])) for f in flagged),
        notes=(f"flagged with at least {rules.min_volume} occurrences when: "
               f"{pct_text(rules.self_resolving_share)}+ resolve within {quick} "
               f"(self-resolving); {pct_text(rules.flapping_share)}+ of occurrences are flaps "
               "(flapping); no person acted on any occurrence (never acted on)",),
    )
    first, last = _span(types)
    summary = [f"{total:,} occurrences of {len(types)} alert type(s)"
               + (f", {first} to {last}" if first else "")]
    if len(ordered) > 3:
        top = sum(s.tally.volume for _, s in ordered[:3])
        summary.append(f"the top 3 types are {pct_text(top / total)} of all alerts")
    summary.append(f"{len(flagged)} alert type(s) should go back to engineering")
    return ReportDoc(
        name="noise", title="Alert noise", generated_at=stamp(now), source=source,
        summary=tuple(summary), tables=(table, back),
        charts=_charts(types, ordered, zone),
        data={"report": "noise", "source": source, "generated_at": stamp(now),
              "rules": asdict(rules), "timezone": zone, "total": total,
              "first_day": first, "last_day": last, "types": data_types,
              "engineering": flagged},
    )


def _span(types: dict[str, _TypeNoise]) -> tuple[str | None, str | None]:
    """The first and last day anything fired (ISO dates), or None twice."""
    days = [day for s in types.values() for day in (min(s.days), max(s.days)) if s.days]
    if not days:
        return None, None
    return date.fromordinal(min(days)).isoformat(), date.fromordinal(max(days)).isoformat()


def _charts(types: dict[str, _TypeNoise], ordered: list[tuple[str, _TypeNoise]],
            zone: str) -> tuple[Chart, ...]:
    """Volume over time (top types), a weekday x hour heat map, volume by type."""
    if not types:
        return ()
    cells = [sum(s.cells[i] for s in types.values()) for i in range(7 * 24)]
    heatmap = Chart(kind="heatmap", title=f"When alerts fire (weekday x hour, {zone})",
                    x=tuple(f"{h:02d}" for h in range(24)),
                    series={WEEKDAYS[d]: tuple(float(c) for c in cells[d * 24:(d + 1) * 24])
                            for d in range(7)}, y_label="occurrences")
    bars = Chart(kind="bar", title="Occurrences by alert type",
                 x=tuple(name for name, _ in ordered[:20]),
                 series={"occurrences": tuple(float(s.tally.volume) for _, s in ordered[:20])},
                 y_label="occurrences")
    return (_volume_chart(ordered), heatmap, bars)


def _volume_chart(ordered: list[tuple[str, _TypeNoise]]) -> Chart:
    """Occurrences per day (or per ISO week for long histories), top types and the rest."""
    first = min(min(s.days) for _, s in ordered)
    last = max(max(s.days) for _, s in ordered)
    daily = last - first < DAILY_UP_TO

    def bucket(ordinal: int) -> str:
        """The day's label, or its ISO week's."""
        day = date.fromordinal(ordinal)
        if daily:
            return day.isoformat()
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"

    labels = list(dict.fromkeys(bucket(o) for o in range(first, last + 1)))
    index = {label: i for i, label in enumerate(labels)}
    series: dict[str, list[float]] = {}
    for position, (name, state) in enumerate(ordered):
        key = name if position < TOP_SERIES else "other"
        values = series.setdefault(key, [0.0] * len(labels))
        for ordinal, count in state.days.items():
            values[index[bucket(ordinal)]] += count
    return Chart(kind="stacked", title="Occurrences per " + ("day" if daily else "week"),
                 x=tuple(labels), series={k: tuple(v) for k, v in series.items()},
                 y_label="occurrences")
