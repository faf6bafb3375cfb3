"""bench/guard_history: guard work that must not grow with the history a store keeps.

Every live run ends with a circuit-breaker check inside the store's write transaction, so its
cost is paid by every other writer too (webhook intake, decisions). This fills an entry's
history with finished live runs and times the check at each size, on SQLite and, with
``--store ADMIN-URL``, on a fresh PostgreSQL database. The figure is the ratio of the largest
history's time to the smallest's (1.0 = flat); the previous query grew with the history
(SQLite: 2.3 ms at 1,000 runs, 340 ms at 100,000).

    .venv/bin/python bench/guard_history.py [--sizes 1000,100000] [--store ADMIN-URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from events import fresh_database  # bench/ is on sys.path as the script's folder

from remediator.store import StoreLocation, open_store

START = datetime(2026, 1, 1, tzinfo=UTC)


def fill(location: StoreLocation, have: int, want: int) -> None:
    """Add finished, successful live runs of entry "disk" until there are ``want``."""
    rows = [(f"run-{n:07d}", "web-1", "disk", "live", (START + timedelta(minutes=n)).isoformat(),
             "2027-01-01T00:00:00+00:00",
             (START + timedelta(minutes=n, seconds=30)).isoformat(), "succeeded")
            for n in range(have, want)]
    sql = ("INSERT INTO guard_runs (ident, host, entry, mode, started_at, expires_at,"
           " finished_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    if isinstance(location, str):
        import psycopg

        with psycopg.connect(location) as conn, conn.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)
            conn.execute("ANALYZE guard_runs")
    else:
        import sqlite3

        with sqlite3.connect(location) as db:
            db.executemany(sql, rows)


def timings(location: StoreLocation, sizes: list[int], checks: int) -> dict[str, Any]:
    """Median ms per breaker check at each history size."""
    store = open_store(location)
    result: dict[str, Any] = {}
    have = 0
    for size in sizes:
        fill(location, have, size)
        have = size
        at = (START + timedelta(days=400)).isoformat()
        times = []
        for _ in range(checks):
            start = time.perf_counter()
            assert store.check_breaker("disk", 3, at, "rec-bench") is False
            times.append(time.perf_counter() - start)
        result[f"breaker_check_ms_at_{size}_runs"] = round(statistics.median(times) * 1000, 3)
        print(f"  {size} runs: {result[f'breaker_check_ms_at_{size}_runs']} ms", file=sys.stderr)
    store.close()
    first, last = sizes[0], sizes[-1]
    result["ratio_largest_to_smallest"] = round(
        result[f"breaker_check_ms_at_{last}_runs"] / result[f"breaker_check_ms_at_{first}_runs"],
        2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--checks", type=int, default=50)
    parser.add_argument("--store", metavar="ADMIN-URL", help="PostgreSQL too, on a fresh database")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    result: dict[str, Any] = {"target": "ratio about 1 (flat)"}
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite", file=sys.stderr)
        result["sqlite"] = timings(Path(tmp) / "audit.db", sizes, args.checks)
    if args.store:
        print("PostgreSQL", file=sys.stderr)
        with fresh_database(args.store) as url:
            assert url is not None
            result["postgresql"] = timings(url, sizes, args.checks)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
