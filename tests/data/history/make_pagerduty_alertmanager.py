"""Writes pagerduty-alertmanager.csv: a PagerDuty advanced-report export of 381 incidents that
Alertmanager's PagerDuty integration opened, titled by its default template (``__subject``:
``[FIRING:n] <group values> (<other common values>)``), from six node_exporter-style alerts, two
routes: ``group_by: [alertname]`` (the instance among the common values, in parentheses) and
``group_by: [alertname, instance]`` (the instance a group value). Deterministic (seeded): run it again to get
the same file.

    python tests/data/history/make_pagerduty_alertmanager.py
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).with_name("pagerduty-alertmanager.csv")
START = datetime(2026, 3, 2, tzinfo=UTC)
HOSTS = (*(f"web-{n:02d}:9100" for n in range(1, 7)), "db-01:9100", "db-02:9100")
# alertname, weight, the alert's labels but alertname, mean seconds open, grouped by instance
TYPES = (
    ("HighLoad", 30, {"job": "node", "severity": "warning"}, 900, False),
    ("NodeFilesystemAlmostOutOfSpace", 20, {"device": "/dev/sda1", "fstype": "ext4",
     "job": "node", "mountpoint": "/var", "severity": "critical"}, 3600, True),
    ("NodeFilesystemFilesFillingUp", 8, {"device": "/dev/sda1", "fstype": "ext4",
     "job": "node", "mountpoint": "/", "severity": "warning"}, 7200, True),
    ("NodeSystemdServiceFailed", 12, {"job": "node", "name": "nginx.service",
     "severity": "warning"}, 600, False),
    ("NodeClockNotSynchronising", 6, {"job": "node", "severity": "warning"}, 1800, True),
    ("InstanceDown", 10, {"job": "node", "severity": "critical"}, 300, False),
)
HEADER = ("id", "incident_number", "description", "service_name", "escalation_policy_name",
          "created_on", "resolved_on", "seconds_to_resolve", "auto_resolved",
          "acknowledge_count", "acknowledged_by_user_names", "assigned_to_user_names",
          "resolved_by_user_name", "urgency")


def main() -> None:
    """Write the export."""
    rng = random.Random(21)
    kinds = [t for t in TYPES for _ in range(t[1])]
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(HEADER)
        for number in range(381):
            name, _, labels, mean, by_instance = rng.choice(kinds)
            host = rng.choice(HOSTS)
            firing = 1 if rng.random() < 0.9 else rng.randint(2, 3)
            title = subject(name, {**labels, "instance": host}, firing, by_instance)
            created = START + timedelta(seconds=number * 6000 + rng.randrange(3000))
            seconds = max(60, int(rng.expovariate(1 / mean)))
            acked = rng.random() < 0.3
            person = ("Ann", "Bob", "Cy")[number % 3]
            out.writerow((f"Q{number:05X}", 5000 + number, title, "Prometheus", "Ops",
                          created.isoformat(timespec="seconds"),
                          (created + timedelta(seconds=seconds)).isoformat(timespec="seconds"),
                          seconds, int(not acked), int(acked), person if acked else "", person,
                          person if acked else "",
                          "high" if labels["severity"] == "critical" else "low"))


def subject(name: str, labels: dict[str, str], firing: int, by_instance: bool) -> str:
    """Alertmanager's ``__subject`` for a firing group: the group labels' values (alertname
    first), then the other common labels' values sorted by label name, in parentheses."""
    group = [name, labels["instance"]] if by_instance else [name]
    rest = [labels[k] for k in sorted(labels) if not (by_instance and k == "instance")]
    return f"[FIRING:{firing}] {' '.join(group)} ({' '.join(rest)})"


if __name__ == "__main__":
    main()
