"""bench/history: reading a 1,000,000-row alert history with bounded memory, and replaying it.

Generates a PagerDuty incident export (CSV, 1,000,000 rows over 30 days, 1,000 hosts, ten
alert types) and an Alertmanager webhook log (JSON lines) in a temporary folder, then measures,
each in its own child process so that its peak resident memory is its own:

  csv            the baseline: the csv module alone reading the same file
  pagerduty      remediator.history.read -> Incidents (parsing, times, labels)
  json           the baseline for the log: json.loads of every line
  noise          `report noise` over the CSV: the reader plus the whole report
  alertmanager   remediator.history.read on the log (pairing firing/resolved deliveries)
  simulate       `remediator simulate` (library call) on the first --simulate incidents of
                 the CSV, through a five-entry catalog (bench/decisions.py's project)

For each: rows/s, the ratio to its baseline, peak RSS (ru_maxrss) and, in a second run under
tracemalloc, the peak of the Python heap.

    .venv/bin/python bench/history.py [--rows 1000000] [--log-rows 200000] [--simulate 50000]

The generators are importable (bench/ on sys.path): ``write_pagerduty_csv(path, rows)`` and
``write_alertmanager_jsonl(path, rows)``.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 1, 1, tzinfo=UTC)
# name, weight, mean seconds to resolve, share acknowledged by a person, service, urgency
Kind = tuple[str, int, int, float, str, str]
TYPES: tuple[Kind, ...] = (
    ("DiskSpaceLow", 20, 1800, 0.30, "storage", "high"),
    ("ServiceDown", 10, 600, 0.80, "web", "high"),
    ("LogGrowth", 8, 3600, 0.20, "storage", "low"),
    ("RunawayProcess", 6, 900, 0.50, "compute", "high"),
    ("InodesLow", 4, 2400, 0.30, "storage", "low"),
    ("HighLatency", 15, 120, 0.05, "web", "low"),  # flaps: fires and clears by itself
    ("Watchdog", 10, 60, 0.00, "monitoring", "low"),  # pure noise
    ("MemoryPressure", 8, 1200, 0.40, "compute", "high"),
    ("CertExpiring", 2, 172800, 0.90, "security", "low"),
    ("BackupFailed", 3, 7200, 0.95, "storage", "high"),
)
PEOPLE = ("Ann", "Bob", "Cy", "Dee")
CSV_HEADER = ("id", "incident_number", "description", "service_name", "escalation_policy_name",
              "created_on", "resolved_on", "seconds_to_resolve", "auto_resolved",
              "acknowledge_count", "acknowledged_by_user_names", "assigned_to_user_names",
              "resolved_by_user_name", "urgency", "host")


def incidents(count: int, *, hosts: int = 1000, days: int = 30, seed: int = 7
              ) -> Iterator[tuple[int, str, str, datetime, float | None, bool, Kind]]:
    """(number, type, host, created, seconds to resolve or None, acknowledged, type row) for
    ``count`` incidents in start order over ``days``; busier in working hours."""
    rng = random.Random(seed)
    names = [t for t in TYPES for _ in range(t[1])]
    step = days * 86400 / max(1, count)
    for number in range(count):
        kind = rng.choice(names)
        created = START + timedelta(seconds=number * step + rng.random() * step)
        if 8 <= created.hour < 18 and rng.random() < 0.3:  # some alerts follow the load
            kind = TYPES[5]
        mean = kind[2]
        duration = None if rng.random() < 0.005 else max(1.0, rng.expovariate(1 / mean))
        yield (number, kind[0], f"host-{rng.randrange(hosts):04d}", created, duration,
               rng.random() < kind[3], kind)


def write_pagerduty_csv(path: Path, rows: int = 1_000_000, *, hosts: int = 1000,
                        days: int = 30, seed: int = 7, titles: bool = False) -> Path:
    """A PagerDuty incident export of ``rows`` incidents (advanced-report columns plus
    ``host``), oldest first; ``titles``: titled as Alertmanager's PagerDuty integration does
    (``[FIRING:1] DiskSpaceLow (host-0001:9100 node warning)``); returns ``path``."""
    rng = random.Random(seed + 1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(CSV_HEADER)
        for number, name, host, created, duration, acked, kind in incidents(
                rows, hosts=hosts, days=days, seed=seed):
            person = PEOPLE[number % len(PEOPLE)]
            resolved = "" if duration is None else \
                (created + timedelta(seconds=duration)).isoformat(timespec="seconds")
            by_person = acked or (duration is not None and rng.random() < 0.1)
            title = f"[FIRING:1] {name} ({host}:9100 node warning)" if titles else name
            out.writerow((
                f"P{number:07X}", number + 1, title, kind[4], f"{kind[4]}-oncall",
                created.isoformat(timespec="seconds"), resolved,
                "" if duration is None else int(duration),
                int(not by_person and duration is not None), int(acked),
                person if acked else "", person, person if by_person and resolved else "",
                kind[5], host))
    return path


def write_alertmanager_jsonl(path: Path, rows: int = 200_000, *, hosts: int = 1000,
                             days: int = 30, seed: int = 7) -> Path:
    """An Alertmanager webhook log of about ``rows`` lines (one payload of one alert each):
    every incident's firing delivery, a re-delivery now and then, and its resolution, in
    time order; returns ``path``."""
    rng = random.Random(seed + 2)
    pending: list[tuple[datetime, int, dict[str, object]]] = []
    written = 0

    def line(alert: dict[str, object]) -> str:
        return json.dumps({"version": "4", "groupKey": "{}:{}", "status": alert["status"],
                           "receiver": "remediator", "groupLabels": {}, "commonLabels": {},
                           "commonAnnotations": {}, "externalURL": "", "truncatedAlerts": 0,
                           "alerts": [alert]}) + "\n"

    with path.open("w", encoding="utf-8") as handle:
        for number, name, host, created, duration, _, _ in incidents(
                rows // 2, hosts=hosts, days=days, seed=seed):
            while pending and pending[0][0] <= created:
                _, _, alert = heapq.heappop(pending)
                handle.write(line(alert))
                written += 1
            starts = created.isoformat(timespec="seconds").replace("+00:00", "Z")
            alert = {"status": "firing", "labels": {"alertname": name, "instance": f"{host}:9100",
                                                    "severity": "warning"},
                     "annotations": {"summary": f"{name} on {host}"}, "startsAt": starts,
                     "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
                     "fingerprint": f"{rng.getrandbits(64):016x}"}
            handle.write(line(alert))
            written += 1
            if rng.random() < 0.05:
                handle.write(line(alert))  # Alertmanager delivers duplicates
                written += 1
            if duration is not None:
                ended = created + timedelta(seconds=duration)
                heapq.heappush(pending, (ended, number, {
                    **alert, "status": "resolved",
                    "endsAt": ended.isoformat(timespec="seconds").replace("+00:00", "Z")}))
        while pending:
            handle.write(line(heapq.heappop(pending)[2]))
    return path


# -- the phases, each run in a child process --

def phase_csv(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def phase_json(path: Path) -> int:
    count = 0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            json.loads(line)
            count += 1
    return count


def phase_history(path: Path) -> int:
    from remediator import history

    total = sum(1 for _ in history.read(path))
    print(f"    {total} incidents", file=sys.stderr)
    return total


def phase_simulate(path: Path, limit: int) -> int:
    from itertools import islice

    from decisions import project

    from remediator import history
    from remediator.config import load
    from remediator.history.simulate import simulate

    with tempfile.TemporaryDirectory() as tmp:
        config = load(project(Path(tmp) / "p", 1000), env={})
        tally = simulate(config, islice(history.read(path), limit))
    print(f"    {dict(tally.actions)}, {sum(tally.runs.values())} runs", file=sys.stderr)
    return tally.incidents


def phase_noise(path: Path) -> int:
    """The whole `report noise` computation over the file (reader included)."""
    from remediator import history
    from remediator.common import utc_now
    from remediator.reports.noise import noise

    count = 0

    def counted() -> Iterator[history.Incident]:
        nonlocal count
        for incident in history.read(path):
            count += 1
            yield incident

    doc = noise(counted(), now=utc_now(), source=str(path))
    print(f"    {len(doc.tables[0].rows) if doc.tables else 0} alert types", file=sys.stderr)
    return count


PHASES = {"csv": phase_csv, "json": phase_json, "pagerduty": phase_history,
          "alertmanager": phase_history, "noise": phase_noise}


def child(name: str, path: Path, traced: bool, limit: int) -> None:
    """Run one phase here and print its figures as JSON."""
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    rows = phase_simulate(path, limit) if name == "simulate" else PHASES[name](path)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if traced else None
    print(json.dumps({"rows": rows, "seconds": seconds, "maxrss_kb":
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "heap_peak": peak}))


def measure(name: str, path: Path, traced: bool = False, limit: int = 0) -> dict[str, float]:
    """One phase in a fresh child process."""
    out = subprocess.run([sys.executable, __file__, "--child", name, str(path),
                          *(["--traced"] if traced else []), "--simulate", str(limit)],
                         check=True, capture_output=True, text=True)
    sys.stderr.write(out.stderr)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the CSV")
    parser.add_argument("--log-rows", type=int, default=200_000, help="lines of the log")
    parser.add_argument("--simulate", type=int, default=50_000,
                        help="incidents replayed by simulate (0 skips it)")
    parser.add_argument("--no-traced", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--alertmanager-titles", action="store_true",
                        help="title the CSV's incidents as Alertmanager's PagerDuty "
                        "integration does")
    parser.add_argument("--child", nargs=2, metavar=("PHASE", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.traced, args.simulate)
        return
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        export = write_pagerduty_csv(Path(tmp) / "incidents.csv", args.rows,
                                     titles=args.alertmanager_titles)
        log = write_alertmanager_jsonl(Path(tmp) / "alerts.jsonl", args.log_rows)
        print(f"  generated {args.rows} rows ({export.stat().st_size >> 20} MiB) and a "
              f"{log.stat().st_size >> 20} MiB log in {time.perf_counter() - started:.0f}s",
              file=sys.stderr)
        with log.open(encoding="utf-8") as handle:
            lines = sum(1 for _ in handle)
        plan = [("csv", export, None, args.rows), ("pagerduty", export, "csv", args.rows),
                ("noise", export, "csv", args.rows),
                ("json", log, None, lines), ("alertmanager", log, "json", lines)]
        if args.simulate:
            plan.append(("simulate", export, None, min(args.simulate, args.rows)))
        results: dict[str, dict[str, object]] = {}
        for name, path, baseline, rows in plan:
            print(f"  {name} ...", file=sys.stderr)
            figures = measure(name, path, limit=args.simulate)
            rate = rows / figures["seconds"]
            row: dict[str, object] = {"rows": rows, "output": int(figures["rows"]),
                                      "seconds": round(figures["seconds"], 2),
                                      "rows_per_s": round(rate),
                                      "peak_rss_mib": round(figures["maxrss_kb"] / 1024, 1)}
            if baseline:
                row["speed_vs_" + baseline] = round(rate / float(str(
                    results[baseline]["rows_per_s"])), 3)
            if not args.no_traced:
                traced = measure(name, path, traced=True, limit=args.simulate)
                row["heap_peak_mib"] = round(traced["heap_peak"] / 2**20, 2)
            results[name] = row
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
