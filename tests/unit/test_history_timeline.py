"""Deliveries in time order with bounded memory (external merge sort), and back to Alerts."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from remediator.history import Incident
from remediator.history.timeline import TimeOrder, alert_of, deliveries
from remediator.models import frozen_map


def incident(n: int, start: float, end: float | None) -> Incident:
    return Incident(source="pagerduty", name=f"A{n % 3}", fingerprint=f"P{n}",
                    started=datetime.fromtimestamp(start, UTC),
                    resolved=None if end is None else datetime.fromtimestamp(end, UTC),
                    host=f"web-{n % 4}", labels=frozen_map({"alertname": f"A{n % 3}",
                                                            "urgency": "high"}))


def test_spilled_runs_merge_into_time_order(tmp_path: Path) -> None:
    """1,000 incidents in random order through buffers of 7: every delivery comes out once,
    in time order, ties in arrival order; the run files are gone afterwards."""
    rng = random.Random(3)
    order = TimeOrder(tmp_path, chunk=7)
    expected = []
    for n in range(1000):
        start = float(rng.randrange(500))  # many ties
        end = None if n % 10 == 0 else start + rng.randrange(100)
        for row in deliveries(incident(n, start, end)):
            order.add(row)
            expected.append((row[0], row[5], row[2]))
    assert len(list(tmp_path.iterdir())) > 100
    got = list(order)
    assert [(r[0], r[5], r[2]) for r in got] == sorted(
        expected, key=lambda e: e[0])  # sorted() is stable: arrival order within a time
    assert order.first == min(e[0] for e in expected)
    assert list(tmp_path.iterdir()) == []


def test_small_inputs_stay_in_memory(tmp_path: Path) -> None:
    order = TimeOrder(tmp_path, chunk=100)
    for row in deliveries(incident(1, 50.0, 80.0)) + deliveries(incident(2, 10.0, None)):
        order.add(row)
    assert [(r[0], r[2]) for r in order] == [(10.0, True), (50.0, True), (80.0, False)]
    assert list(tmp_path.iterdir()) == []


def test_a_delivery_becomes_an_alert_with_its_host_as_instance() -> None:
    """The firing and resolved Alerts keep the occurrence (fingerprint, start); the host
    stands in for a missing instance label; times may be moved."""
    firing, resolved = deliveries(incident(5, 1767607200.0, 1767608100.0))
    fire = alert_of(firing)
    assert (fire.status, fire.source, fire.fingerprint, fire.starts_at, fire.ends_at) == (
        "firing", "pagerduty", "P5", "2026-01-05T10:00:00.000+00:00", None)
    assert dict(fire.labels) == {"alertname": "A2", "urgency": "high", "instance": "web-1"}
    done = alert_of(resolved, shift=3600)
    assert (done.status, done.starts_at, done.ends_at) == (
        "resolved", "2026-01-05T11:00:00.000+00:00", "2026-01-05T11:15:00.000+00:00")
