"""bench/verify: `audit verify` over a large store, chain only versus every column people read.

``audit verify`` re-walks the hash chain and checks each record's index columns and host
index rows against its hashed body, then each request row against its pending record and
seal. This fills a store with ``--records`` realistic records (one in ten a pending record
with its sealed request) and times, interleaved, the chain-only walk (what verify did before:
every body, re-hashed) against ``store.verify()``; best of ``--repeat`` rounds, records/s, the
ratio of their times, and each one's Python heap peak under tracemalloc (flat: streamed).
With ``--store ADMIN-URL``, again on a fresh PostgreSQL database.

    .venv/bin/python bench/verify.py [--records 100000] [--repeat 3] [--store ADMIN-URL]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from events import fresh_database  # bench/ is on sys.path as the script's folder

from remediator.audit import verify_chain
from remediator.models import PendingRequest, Remediation
from remediator.sealing import entry_digest, preview_of, seal_block
from remediator.store import StoreLocation, open_store

START = datetime(2026, 1, 1, tzinfo=UTC)
ENTRY = Remediation(name="disk", matchers=(), playbook="disk.yml", playbook_path="/p/disk.yml")


def record(n: int) -> dict[str, Any]:
    """A record as a check-mode run writes it: an alert, a host result with two tasks."""
    host = f"web-{n % 1000:04d}"
    created = (START + timedelta(seconds=n)).isoformat()
    alert = {"source": "alertmanager", "name": "DiskSpaceLow", "status": "firing",
             "fingerprint": f"fp{n:08x}", "labels": {"alertname": "DiskSpaceLow",
             "instance": f"{host}:9100", "mountpoint": "/", "severity": "warning"},
             "annotations": {"summary": f"Disk space low on {host}"},
             "starts_at": created, "ends_at": None, "hosts": [host]}
    tasks = [{"name": f"task {t}", "action": "ansible.builtin.file", "status": "changed",
              "changed": True, "diff": {"before": "a", "after": "b"}, "msg": None}
             for t in range(2)]
    return {"id": f"rec{n:09d}", "schema_version": 1, "created_at": created, "alert": alert,
            "remediation": {"name": "disk", "playbook": "disk.yml", "playbook_sha256": "a" * 64,
                            "catalog_revision": {"vcs": "git", "commit": "c" * 40,
                                                 "dirty": False},
                            "configured_stage": "human-initiated"},
            "stage": "human-initiated", "mode": "check",
            "decision": {"action": "pending" if n % 10 == 0 else "run", "reason": "preview",
                         "notes": [], "max_stage": None, "variables": {"mount": "/"}},
            "initiated_by": "automation", "started_at": created, "finished_at": created,
            "duration_s": 1.5, "runner": {"ident": f"rec{n:09d}", "status": "successful",
                                         "rc": 0, "artifacts": None, "error": None},
            "outcome": "succeeded", "hosts": {host: {"ok": 3, "changed": 2, "failed": 0,
                                                     "unreachable": 0, "skipped": 0,
                                                     "tasks": tasks}},
            "notifications": []}


def fill(location: StoreLocation, count: int) -> None:
    """``count`` records; every tenth a pending record whose sealed request is stored."""
    store = open_store(location)
    for start in range(0, count, 5000):
        drafts = [record(n) for n in range(start, min(count, start + 5000))]
        requests = []
        for draft in drafts:
            if draft["decision"]["action"] == "pending":
                alert = {k: v for k, v in draft["alert"].items() if k != "hosts"}
                request = PendingRequest(
                    id=draft["id"], entry="disk", hosts=tuple(draft["alert"]["hosts"]),
                    fingerprint=alert["fingerprint"], alert=alert, variables={"mount": "/"},
                    preview=preview_of(draft), created_at=draft["created_at"],
                    expires_at=draft["created_at"])
                draft["request_seal"] = seal_block(request, draft, entry_digest(ENTRY))
                requests.append(replace(request, seal=draft["request_seal"]["seal"]))
        store.append_many(drafts, chunk=1000)
        for request in requests:
            store.add_request(request)
    store.close()


def chain_only(location: StoreLocation) -> int:
    """What verify did before: every body in chain order, re-hashed and linked."""
    store = open_store(location)
    sql = "SELECT body FROM records ORDER BY seq"
    count = verify_chain(json.loads(body) for (body,) in store._stream(sql, (), "bench"))[0]
    store.close()
    return count


def everything(location: StoreLocation) -> int:
    """verify as it is: the chain, every index column, host rows, request seals."""
    store = open_store(location)
    count = store.verify()[0]
    store.close()
    return count


def timed(phase: Callable[[StoreLocation], int], location: StoreLocation) -> float:
    began = time.perf_counter()
    phase(location)
    return time.perf_counter() - began


def heap_peak(phase: Callable[[StoreLocation], int], location: StoreLocation) -> float:
    """The phase's Python heap peak in MiB (tracemalloc: slower, so not timed)."""
    tracemalloc.start()
    phase(location)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def measure(location: StoreLocation, count: int, repeat: int) -> dict[str, Any]:
    fill(location, count)
    best = {"chain_only": float("inf"), "verify": float("inf")}
    for _ in range(repeat):
        best["chain_only"] = min(best["chain_only"], timed(chain_only, location))
        best["verify"] = min(best["verify"], timed(everything, location))
    return {"records": count,
            "chain_only_s": round(best["chain_only"], 2),
            "verify_s": round(best["verify"], 2),
            "chain_only_records_per_s": round(count / best["chain_only"]),
            "verify_records_per_s": round(count / best["verify"]),
            "ratio": round(best["verify"] / best["chain_only"], 2),
            "chain_only_heap_mib": round(heap_peak(chain_only, location), 2),
            "verify_heap_mib": round(heap_peak(everything, location), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", help="a PostgreSQL admin URL: again on a fresh database")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        result["sqlite"] = measure(Path(folder) / "audit.db", args.records, args.repeat)
    if args.store:
        with fresh_database(args.store) as url:
            assert url is not None
            result["postgresql"] = measure(url, args.records, args.repeat)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
