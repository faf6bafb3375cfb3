"""`report noise` over incident streams whose answers the tests work out on their own."""

from __future__ import annotations

import json
import random
import statistics
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from remediator.history import Incident
from remediator.reports.noise import FORGET_EVERY, KEEP_ARRIVALS, Flaps, NoiseRules, noise
from remediator.reports.text import render_text

NOW = datetime(2026, 3, 2, tzinfo=UTC)
T0 = datetime(2026, 2, 2, tzinfo=UTC)  # a Monday


def incident(name: str, started: datetime, minutes: float | None, *, fp: str | None = None,
             human: bool | None = None) -> Incident:
    """One occurrence that resolved after ``minutes`` (None: still open)."""
    return Incident(source="test", name=name, fingerprint=fp or f"{name}-{started.isoformat()}",
                    started=started,
                    resolved=None if minutes is None else started + timedelta(minutes=minutes),
                    human=human)


def history(seed: int = 7, count: int = 600) -> list[Incident]:
    """A mixed history over four weeks: five types of different sizes, durations, people."""
    rng = random.Random(seed)
    weights = {"DiskSpaceLow": 5, "ServiceDown": 3, "HighLatency": 2, "InodesLow": 1,
               "CertExpiry": 1}
    names = list(weights)
    out = []
    for _ in range(count):
        name = rng.choices(names, weights=[weights[n] for n in names])[0]
        started = T0 + timedelta(minutes=rng.randrange(28 * 24 * 60))
        minutes = None if rng.random() < 0.05 else rng.choice([1, 2, 4, 5, 6, 15, 40, 90, 300])
        human = rng.choice([True, False, None])
        out.append(incident(name, started, minutes, fp=f"{name}-{rng.randrange(40)}",
                            human=human))
    out.sort(key=lambda i: i.started)
    return out


def by_type(doc_data: dict) -> dict[str, dict]:
    return {t["name"]: t for t in doc_data["types"]}


def test_volume_ranks_medians_and_shares_match_an_independent_count() -> None:
    """Per type: volume and its rank, median time to resolve, no-person and quick shares."""
    items = history()
    doc = noise(iter(items), now=NOW, rules=NoiseRules(quick_minutes=5))
    types = by_type(doc.data)
    volumes = Counter(i.name for i in items)
    expected_order = sorted(volumes, key=lambda n: (-volumes[n], n))
    assert [t["name"] for t in doc.data["types"]] == expected_order
    assert [row[0] for row in doc.tables[0].rows] == expected_order
    assert doc.data["total"] == len(items)
    for name, count in volumes.items():
        mine = [i for i in items if i.name == name]
        resolved = [(i.resolved - i.started).total_seconds() for i in mine if i.resolved]
        known = [i for i in mine if i.resolved and i.human is not None]
        got = types[name]
        assert got["volume"] == count
        assert got["open"] == sum(1 for i in mine if i.resolved is None)
        assert got["median_resolve_s"] == pytest.approx(statistics.median(resolved))
        assert got["quick_share"] == pytest.approx(
            sum(1 for s in resolved if s <= 300) / len(resolved), abs=1e-4)
        assert got["no_human_share"] == pytest.approx(
            sum(1 for i in known if not i.human) / len(known), abs=1e-4)


def test_hour_of_day_and_day_of_week_are_counted_per_type() -> None:
    """by_hour and by_weekday are the counts of starts per UTC hour and weekday."""
    items = history(seed=3)
    types = by_type(noise(items, now=NOW).data)
    for name in {i.name for i in items}:
        starts = [i.started for i in items if i.name == name]
        hours = Counter(s.hour for s in starts)
        days = Counter(s.weekday() for s in starts)
        assert types[name]["by_hour"] == [hours.get(h, 0) for h in range(24)]
        assert types[name]["by_weekday"] == [days.get(d, 0) for d in range(7)]


def test_hours_and_days_follow_the_time_zone_asked_for() -> None:
    """23:30 UTC on a Sunday is Monday 00h in Berlin (UTC+1 in winter)."""
    sunday_late = datetime(2026, 2, 8, 23, 30, tzinfo=UTC)
    doc = noise([incident("X", sunday_late, 3)], now=NOW, tz=ZoneInfo("Europe/Berlin"))
    (got,) = doc.data["types"]
    assert got["by_hour"].index(1) == 0
    assert got["by_weekday"].index(1) == 0
    assert doc.data["timezone"] == "Europe/Berlin"
    utc = noise([incident("X", sunday_late, 3)], now=NOW).data["types"][0]
    assert (utc["by_hour"].index(1), utc["by_weekday"].index(1)) == (23, 6)


def test_the_utc_fast_path_agrees_with_the_time_zone_path() -> None:
    """UTC itself (counted from timestamps) and the zone database's UTC give the same data."""
    items = history(seed=9, count=300)
    fast = noise(items, now=NOW, tz=UTC).data
    slow = noise(items, now=NOW, tz=ZoneInfo("Etc/UTC")).data
    assert fast["types"] == slow["types"]
    assert (fast["first_day"], fast["last_day"]) == (slow["first_day"], slow["last_day"])


def brute_flaps(starts: list[datetime], count: int, window: timedelta) -> int:
    """Occurrences with at least ``count`` starts of the same alert in the window up to them."""
    return sum(1 for t in starts if sum(1 for s in starts if t - window <= s <= t) >= count)


def test_flapping_is_k_starts_of_one_alert_within_the_window() -> None:
    """A: four starts 10 min apart flap twice (3rd, 4th); B: 70 min apart never; C: the 3rd
    start is 100 min after the 1st, outside 60 min: never."""
    minutes = {"A": [0, 10, 20, 30], "B": [0, 70, 140], "C": [0, 50, 100]}
    items = sorted((incident("Disk", T0 + timedelta(minutes=m), 2, fp=fp)
                    for fp, ms in minutes.items() for m in ms), key=lambda i: i.started)
    got = by_type(noise(items, now=NOW, rules=NoiseRules(flap_count=3, flap_minutes=60))
                  .data)["Disk"]["flapping"]
    assert got == {"occurrences": 2, "share": round(2 / 10, 4), "alerts": 1}


def test_an_alert_with_a_host_flaps_by_host() -> None:
    """Three starts of one type on one host within the hour flap, whatever their fingerprints
    (a PagerDuty export gives every incident its own); on three hosts they do not."""
    def on(host: str, minute: int, fp: str) -> Incident:
        return Incident(source="pagerduty", name="Disk", fingerprint=fp, host=host,
                        started=T0 + timedelta(minutes=minute))

    same = [on("web-01", m, f"P{m}") for m in (0, 20, 40)]
    spread = [on(f"web-0{n}", m, f"Q{m}") for n, m in ((1, 0), (2, 20), (3, 40))]
    assert noise(same, now=NOW).data["types"][0]["flapping"]["occurrences"] == 1
    assert noise(spread, now=NOW).data["types"][0]["flapping"]["occurrences"] == 0


@pytest.mark.parametrize("newest_first", [False, True])
def test_flaps_agree_with_a_brute_force_count_in_either_time_order(newest_first: bool) -> None:
    """Random starts of 30 alerts: the streamed count equals the brute-force count (for a
    newest-first history, the brute force looks forward instead of back)."""
    rng = random.Random(11)
    window = timedelta(minutes=45)
    starts = {f"fp{n}": sorted(T0 + timedelta(minutes=rng.randrange(3_000))
                               for _ in range(rng.randrange(2, 40))) for n in range(30)}
    items = sorted((incident("T", s, 1, fp=fp) for fp, ss in starts.items() for s in ss),
                   key=lambda i: i.started, reverse=newest_first)
    if newest_first:
        mirror = {fp: sorted(T0 - (s - T0) for s in ss) for fp, ss in starts.items()}
        expected = sum(brute_flaps(ss, 4, window) for ss in mirror.values())
    else:
        expected = sum(brute_flaps(ss, 4, window) for ss in starts.values())
    rules = NoiseRules(flap_count=4, flap_minutes=45)
    got = noise(items, now=NOW, rules=rules).data["types"][0]["flapping"]["occurrences"]
    assert expected > 0
    assert got == expected


def test_flap_state_forgets_alerts_long_gone() -> None:
    """Alerts seen once, long ago and many arrivals back, are no longer held; a flapping
    alert that keeps coming back is."""
    flaps = Flaps(3, 600)
    for n in range(100_000):  # one start each for many alerts, a minute apart
        flaps.add("T", f"fp{n}", n * 60.0)
        if n % 100 == 0:
            flaps.add("T", "busy", n * 60.0)
    assert len(flaps) <= KEEP_ARRIVALS + FORGET_EVERY + 1
    assert flaps.add("T", "busy", 100_000 * 60.0 - 30) is False  # its last start: 1h40m ago
    assert flaps.add("T", "busy", 100_000 * 60.0 - 20) is False
    assert flaps.add("T", "busy", 100_000 * 60.0 - 10) is True


def test_alerts_for_engineering_carry_their_reasons() -> None:
    """Self-resolving, flapping and never-acted-on types are flagged with why; a real problem
    and a rare blip are not."""
    items = []
    for n in range(10):  # 8 of 10 resolve within 2 minutes
        items.append(incident("Blip", T0 + timedelta(hours=n), 2 if n < 8 else 30,
                              human=n >= 8))
    for n in range(6):  # one alert restarting every 5 minutes
        items.append(incident("Flappy", T0 + timedelta(minutes=5 * n), 3, fp="f1", human=True))
    for n in range(5):  # nobody ever acts
        items.append(incident("Ignored", T0 + timedelta(days=n), 120, human=False))
    for n in range(6):
        items.append(incident("Real", T0 + timedelta(days=n), 45, human=True))
    items += [incident("Rare", T0, 1, human=False), incident("Rare", T0 + timedelta(days=1), 1,
                                                             human=False)]
    items.sort(key=lambda i: i.started)
    doc = noise(items, now=NOW)
    flagged = {f["name"]: f["rules"] for f in doc.data["engineering"]}
    assert flagged == {"Blip": ["self-resolving"], "Flappy": ["self-resolving", "flapping"],
                       "Ignored": ["never acted on"]}
    rows = {row[0]: row[2] for row in doc.tables[1].rows}
    assert "80% of 10 resolved within 5 min" in rows["Blip"]
    assert "67% of occurrences are flaps" in rows["Flappy"]
    assert "no person acted on any of its 5 occurrences" in rows["Ignored"]


def test_the_json_data_is_plain_json_and_the_text_renders() -> None:
    """doc.data survives strict JSON; the text report shows every type."""
    items = history(seed=5, count=120)
    doc = noise(items, now=NOW)
    json.dumps(doc.data, allow_nan=False)
    text = render_text(doc)
    for name in {i.name for i in items}:
        assert name in text
    assert {c.kind for c in doc.charts} == {"stacked", "heatmap", "bar"}
    heat = next(c for c in doc.charts if c.kind == "heatmap")
    assert sum(sum(v) for v in heat.series.values()) == len(items)


def test_no_incidents_is_an_empty_report() -> None:
    """An empty history gives zero counts, no charts, and still renders."""
    doc = noise(iter(()), now=NOW)
    assert doc.data["total"] == 0 and doc.data["types"] == [] and doc.charts == ()
    assert "(none)" in render_text(doc)


def generated(count: int) -> Iterator[Incident]:
    """``count`` incidents made one at a time, never held together."""
    for n in range(count):
        started = T0 + timedelta(seconds=37 * n)
        yield Incident(source="test", name=f"T{n % 10}", fingerprint=f"fp{n % 500}",
                       started=started, resolved=started + timedelta(seconds=n % 900),
                       human=n % 3 == 0)


def test_memory_stays_bounded_on_a_long_stream() -> None:
    """60,000 incidents in one pass peak far below what holding them would take (32 MB)."""
    tracemalloc.start()
    try:
        doc = noise(generated(60_000), now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert doc.data["total"] == 60_000
    assert peak < 6 * 1024 * 1024
