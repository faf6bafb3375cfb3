"""The store contract, run on each backend ``--store`` selects (``all``: SQLite and PostgreSQL).

Chain, append-only enforcement, tamper detection, lookups, requests, guard state shared
between store objects and processes, and the intake queue. Real SQLite files and a real
PostgreSQL server on loopback (scripts/setup-postgres.sh).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from remediator.errors import ChainError, NotFoundError, StoreError
from remediator.limits import Guardrails
from remediator.models import PendingRequest, RequestState
from remediator.store import StoreLocation, open_intake, open_store
from remediator.store.intake import Accepted

from ..conftest import REPO, query

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def location(store_location: StoreLocation) -> StoreLocation:
    """A fresh store on the test's backend (each one ``--store`` selects)."""
    return store_location


def record(n: int, host: str = "web-1", entry: str = "disk", created: str | None = None
           ) -> dict[str, Any]:
    return {"id": f"rec-{n:04d}", "created_at": created or f"2026-11-27T09:{n % 60:02d}:00Z",
            "decision": {"action": "run"}, "outcome": "succeeded", "mode": "live",
            "stage": "oversight", "remediation": {"name": entry},
            "alert": {"name": "DiskSpaceLow", "fingerprint": f"fp{n}", "hosts": [host]}}


def execute(location: StoreLocation, sql: str, *, superuser_bypass: bool = False) -> None:
    """Run a raw write as someone with the database's own tools (the way a tamperer would)."""
    if isinstance(location, str):
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            if superuser_bypass:  # a superuser can switch the append-only trigger off
                conn.execute("ALTER TABLE records DISABLE TRIGGER records_no_change")
            conn.execute(sql)
            if superuser_bypass:
                conn.execute("ALTER TABLE records ENABLE TRIGGER records_no_change")
        return
    import sqlite3

    db = sqlite3.connect(location)
    try:
        if superuser_bypass:
            db.execute("DROP TRIGGER IF EXISTS records_no_update")
            db.execute("DROP TRIGGER IF EXISTS records_no_delete")
        db.execute(sql)
        db.commit()
    finally:
        db.close()


# -- the chain --

def test_records_chain_in_order_and_verify(location: StoreLocation) -> None:
    store = open_store(location)
    sealed = store.append_many([record(n) for n in range(150)])  # three chunks of 64
    assert [r["id"] for r in sealed] == [f"rec-{n:04d}" for n in range(150)]
    assert all(b["prev_hash"] == a["hash"] for a, b in pairwise(sealed))
    assert store.verify() == (150, sealed[-1]["hash"])
    assert [r["id"] for r in store.records()] == [r["id"] for r in sealed]
    store.close()


def test_the_database_refuses_updates_and_deletes(location: StoreLocation) -> None:
    store = open_store(location)
    store.append(record(1))
    for sql in ("UPDATE records SET outcome = 'failed'", "DELETE FROM records"):
        with pytest.raises(Exception, match="append-only"):
            execute(location, sql)
    if isinstance(location, str):
        with pytest.raises(Exception, match="append-only"):
            execute(location, "TRUNCATE records CASCADE")
    assert store.verify()[0] == 1
    store.close()


def test_a_record_altered_behind_the_triggers_is_named(location: StoreLocation) -> None:
    store = open_store(location)
    store.append_many([record(n) for n in range(5)])
    body = store.get("rec-0002")
    body["outcome"] = "failed"
    execute(location, "UPDATE records SET body = '" + json.dumps(body, sort_keys=True) +
            "' WHERE id = 'rec-0002'", superuser_bypass=True)
    with pytest.raises(ChainError, match="rec-0002"):
        store.verify()
    store.close()


FORGED = {"id": "rec-9999", "created_at": "2020-01-01T00:00:00Z", "alert_name": "Other",
          "fingerprint": "fp-other", "remediation": "svc", "action": "skip",
          "outcome": "failed", "mode": "check", "stage": "observe", "prev_hash": "0" * 64,
          "hash": "f" * 64}


@pytest.mark.parametrize("column", sorted(FORGED))
def test_an_index_column_edited_behind_the_triggers_is_named(location: StoreLocation,
                                                              column: str) -> None:
    """Every column commands filter or show by is checked against the hashed body: verify
    names the record and the column (exit 3 through the CLI)."""
    store = open_store(location)
    store.append_many([record(n) for n in range(5)])
    execute(location, f"UPDATE records SET {column} = '{FORGED[column]}'"
            " WHERE id = 'rec-0002'", superuser_bypass=True)
    with pytest.raises(ChainError, match=f"record rec-0002: column {column} says") as caught:
        store.verify()
    assert caught.value.record_id == "rec-0002"
    store.close()


def test_every_records_column_is_checked_by_verify(location: StoreLocation) -> None:
    """A column added to the records table is derived from the body and checked, or this
    fails: nothing people read escapes verify."""
    from remediator.store.index import INDEX_COLUMNS

    open_store(location).close()
    if isinstance(location, str):
        rows = query(location, "SELECT column_name FROM information_schema.columns WHERE"
                     " table_name = 'records' AND table_schema = current_schema()")
    else:
        rows = query(location, "SELECT name FROM pragma_table_info('records')")
    assert {r[0] for r in rows} == {"seq", "body", *INDEX_COLUMNS}


def test_edited_host_index_rows_are_named(location: StoreLocation) -> None:
    """record_hosts rows moved, added, removed or left pointing at no record fail verify."""
    edits = [("UPDATE record_hosts SET host = 'db-9' WHERE host = 'web-2'", "rec-0002"),
             ("INSERT INTO record_hosts (seq, host) SELECT seq, 'db-9' FROM records"
              " WHERE id = 'rec-0001'", "rec-0001"),
             ("DELETE FROM record_hosts WHERE host = 'web-3'", "rec-0003")]
    for sql, named in edits:
        store = open_store(location)
        execute(location, "DELETE FROM record_hosts")
        execute(location, "DELETE FROM records", superuser_bypass=True)
        store.append_many([record(n, f"web-{n}") for n in range(5)])
        assert store.verify()[0] == 5
        execute(location, sql)
        with pytest.raises(ChainError, match=f"record {named}: record_hosts lists"):
            store.verify()
        store.close()


def test_reads_refuse_a_record_whose_row_was_edited(location: StoreLocation) -> None:
    """`audit show` by id, `--since` and per-entry reads check the body against the row:
    swapped ids, a relabelled entry and a moved time are errors, not wrong answers."""
    store = open_store(location)
    store.append_many([record(1, "web-1", "disk", "2026-11-27T08:00:00Z"),
                       record(2, "web-2", "disk", "2026-11-27T09:00:00Z"),
                       record(3, "web-1", "svc", "2026-11-27T10:00:00Z")])
    execute(location, "UPDATE records SET remediation = 'svc' WHERE id = 'rec-0002'",
            superuser_bypass=True)
    with pytest.raises(ChainError, match="rec-0002: listed for entry 'svc', its body is of"
                       " 'disk'"):
        list(store.records(entry="svc"))
    execute(location, "UPDATE records SET created_at = '2026-11-27T11:00:00Z'"
            " WHERE id = 'rec-0001'", superuser_bypass=True)
    with pytest.raises(ChainError, match="rec-0001: column created_at says"):
        list(store.records(since="2026-11-27T10:30:00Z"))
    for sql in ("UPDATE records SET id = 'swap' WHERE id = 'rec-0001'",
                "UPDATE records SET id = 'rec-0001' WHERE id = 'rec-0002'",
                "UPDATE records SET id = 'rec-0002' WHERE id = 'swap'"):
        execute(location, sql, superuser_bypass=True)
    with pytest.raises(ChainError, match="record rec-0001: asked for 'rec-0001', its body is"
                       " record 'rec-0002'"):
        store.get("rec-0001")
    with pytest.raises(ChainError, match="column id says"):
        store.verify()
    store.close()


def test_lookups_by_prefix_time_entry_and_host(location: StoreLocation) -> None:
    store = open_store(location)
    store.append_many([record(1, "web-1", "disk", "2026-11-27T08:00:00Z"),
                       record(2, "web-2", "disk", "2026-11-27T09:00:00Z"),
                       record(13, "web-1", "svc", "2026-11-27T10:00:00Z")])
    assert store.get("rec-0002")["alert"]["hosts"] == ["web-2"]
    assert store.get("rec-0013")["id"] == "rec-0013"
    with pytest.raises(NotFoundError, match="more than one record"):
        store.get("rec-00")
    with pytest.raises(NotFoundError, match="no record"):
        store.get("nope")
    with pytest.raises(NotFoundError, match="no record"):
        store.get("rec_")  # a LIKE wildcard is a literal character here
    assert store.has_record("rec-0001") and not store.has_record("rec-00")
    assert [r["id"] for r in store.records(since="2026-11-27T09:00:00Z")] == \
        ["rec-0002", "rec-0013"]
    assert [r["id"] for r in store.records(entry="disk")] == ["rec-0001", "rec-0002"]
    assert [r["id"] for r in store.records(host="web-1")] == ["rec-0001", "rec-0013"]
    store.close()


WRITER = """
import sys
from remediator.store import open_store
location = sys.argv[1] if "://" in sys.argv[1] else __import__("pathlib").Path(sys.argv[1])
store = open_store(location)
for n in range(int(sys.argv[3])):
    store.append({"id": f"{sys.argv[2]}-{n}", "created_at": "2026-11-27T09:00:00Z",
                  "decision": {"action": "run"}, "outcome": "succeeded", "mode": "live"})
store.close()
"""


def test_concurrent_writer_processes_keep_one_chain(location: StoreLocation) -> None:
    """Eight processes appending at once: every record stored, one unbroken chain."""
    open_store(location).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(location), f"w{n}", "25"],
                              stderr=subprocess.PIPE, text=True) for n in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    store = open_store(location)
    count, _ = store.verify()
    assert count == 200
    ids = [r["id"] for r in store.records()]
    for n in range(8):  # each writer's records keep their own order on the shared chain
        mine = [i for i in ids if i.startswith(f"w{n}-")]
        assert mine == [f"w{n}-{k}" for k in range(25)]
    store.close()


# -- pending requests --

def request(rid: str, fingerprint: str = "fp1") -> PendingRequest:
    return PendingRequest(id=rid, entry="disk", hosts=("web-1",), fingerprint=fingerprint,
                          alert={"name": "DiskSpaceLow"}, variables={"a": 1},
                          preview={"mode": "check"}, created_at="2026-11-27T09:00:00Z",
                          expires_at="2026-11-27T13:00:00Z", state=RequestState.PENDING)


def test_requests_move_on_once_even_when_raced(location: StoreLocation) -> None:
    store = open_store(location)
    store.add_request(request("req-1"))
    store.add_request(request("req-2", "fp2"))
    others = [open_store(location) for _ in range(6)]
    wins: list[bool] = []
    barrier = threading.Barrier(len(others))

    def approve(other: Any, n: int) -> None:
        barrier.wait()
        wins.append(other.transition_request("req-1", RequestState.APPROVED, by=f"p{n}",
                                             at="2026-11-27T09:01:00Z"))

    threads = [threading.Thread(target=approve, args=(o, n)) for n, o in enumerate(others)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 5 + [True]
    assert store.get_request("req-1").state is RequestState.APPROVED
    assert [r.id for r in store.requests()] == ["req-2"]
    assert store.resolve_requests("fp2", "2026-11-27T09:02:00Z") == ["req-2"]
    assert store.requests() == []
    store.set_request_result("req-1", "rec-9")
    with pytest.raises(NotFoundError, match="more than one request"):
        store.get_request("req")
    assert store.get_request("req-1").result_record == "rec-9"
    for other in others:
        other.close()
    store.close()


# -- guard state --

def test_guard_state_is_shared_between_store_objects(location: StoreLocation) -> None:
    """Two store objects (two instances, two mirrors) see each other's claims, locks and
    breakers at their next session."""
    one, two = open_store(location), open_store(location)
    rules = Guardrails()
    with one.guard(NOW, 3600) as session:
        assert session.seen("fp1", "2026-11-27T08:59:00Z", "firing", "live") is None
        session.claim("fp1", "2026-11-27T08:59:00Z", "firing", "live", "rec-1", NOW)
        session.reserve("run-1", "disk", "web-1", "live", NOW, 600)
    with two.guard(NOW, 3600) as session:
        assert session.seen("fp1", "2026-11-27T08:59:00Z", "firing", "live") == "rec-1"
        assert session.facts("disk", "web-1", rules, NOW).in_progress == "run-1"
    one.finish_run("run-1", "web-1", "failed", (NOW + timedelta(seconds=5)).isoformat())
    with two.guard(NOW + timedelta(seconds=10), 3600) as session:
        facts = session.facts("disk", "web-1", rules, NOW + timedelta(seconds=10))
        assert facts.in_progress is None and facts.host_runs == (NOW,)
    assert two.check_breaker("disk", 1, NOW.isoformat(), "rec-2") is True
    assert one.check_breaker("disk", 1, NOW.isoformat(), "rec-2") is False  # already open
    with one.guard(NOW + timedelta(seconds=20), 3600) as session:
        assert session.facts("disk", "web-1", rules, NOW).breaker_since == NOW.isoformat()
    assert set(one.breakers()) == {"disk"}
    assert two.reset_breaker("disk") == {"since": NOW.isoformat(), "failures": 1,
                                         "record_id": "rec-2"}
    with one.guard(NOW + timedelta(seconds=30), 3600) as session:
        assert session.facts("disk", "web-1", rules, NOW).breaker_since is None
    one.close()
    two.close()


def history(store: Any, runs: list[tuple[str, str, list[tuple[str, str]]]], first: int = 0
            ) -> None:
    """Runs of "disk", a minute apart from minute ``first``: (ident, mode, [(host, outcome)])."""
    for n, (ident, mode, hosts) in enumerate(runs, first):
        start = NOW + timedelta(minutes=n)
        with store.guard(start, 3600) as session:
            for host, _ in hosts:
                session.reserve(ident, "disk", host, mode, start, 600)
        store.finish_runs([(ident, host, outcome, (start + timedelta(seconds=30)).isoformat())
                           for host, outcome in hosts])


def test_the_breaker_reads_the_last_runs_however_long_the_history(
        location: StoreLocation) -> None:
    """The breaker counts the last N live runs to finish, a run failing when any host failed:
    across a long history of good runs, runs wider than one read of the index (300 hosts), and
    check runs, which never count."""
    store = open_store(location)
    wide = [(f"web-{h:03d}", "succeeded") for h in range(300)]
    one_bad = [*wide[:-1], ("web-299", "failed")]  # its failure is past the first page
    history(store, [(f"ok-{n:04d}", "live", [("web-1", "succeeded")]) for n in range(600)]
            + [("bad-1", "live", [("web-1", "failed")]),
               ("wide-1", "live", one_bad),
               ("check-1", "check", [("web-1", "failed")]),
               ("check-2", "check", [("web-1", "succeeded")])])
    assert store.check_breaker("disk", 2, NOW.isoformat(), "rec-b") is True  # bad-1, wide-1
    assert store.reset_breaker("disk") is not None
    assert store.check_breaker("disk", 3, NOW.isoformat(), "rec-c") is False  # then ok-0599
    history(store, [("wide-2", "live", wide)], first=700)  # the newest run succeeded on all 300 hosts
    assert store.check_breaker("disk", 1, NOW.isoformat(), "rec-d") is False
    assert store.check_breaker("disk", 1000, NOW.isoformat(), "rec-e") is False  # too few runs
    store.close()


def test_pruning_forgets_old_claims_and_runs_but_no_lock_and_no_breaker_run(
        location: StoreLocation) -> None:
    """Claims filed and runs finished before the cutoff go, in chunks; claims and runs after
    it, unfinished runs (locks), and each entry's newest live runs (the breaker's) stay, so
    the breaker still opens on three failures however old."""
    store = open_store(location)
    # "disk": 20 live runs a minute apart, the last 2 failed
    history(store, [(f"ok-{n:02d}", "live", [("web-1", "succeeded"), ("web-2", "succeeded")])
                    for n in range(18)] + [("bad-1", "live", [("web-1", "failed")]),
                                           ("bad-2", "live", [("web-1", "failed")])])
    start = NOW + timedelta(minutes=30)
    with store.guard(start, 3600) as session:
        session.reserve("stuck", "disk", "web-3", "live", start, 600)  # never finished
        session.reserve("check-1", "logs", "web-1", "check", start, 600)
        for n in range(12):
            session.claim(f"old-{n}", "2026-11-27T08:00:00Z", "firing", "live", f"r{n}", start)
    store.finish_run("check-1", "web-1", "succeeded", start.isoformat())
    later = NOW + timedelta(days=40)
    with store.guard(later, 3600) as session:
        session.claim("new", "2026-12-07T09:00:00Z", "firing", "live", "r-new", later)
        session.reserve("new-run", "disk", "web-1", "live", later, 600)
    store.finish_run("new-run", "web-1", "failed", later.isoformat())
    cutoff = (NOW + timedelta(days=30)).isoformat()
    # 18 ok runs on 2 hosts and the check run go; disk's newest 3 (new-run, bad-2, bad-1) stay
    assert store.prune_guard(cutoff, keep_last=3, chunk=5) == (12, 37)
    claims = query(location, "SELECT fingerprint FROM guard_seen ORDER BY fingerprint")
    assert [c[0] for c in claims] == ["new"]
    runs = query(location, "SELECT DISTINCT ident FROM guard_runs ORDER BY ident")
    assert [r[0] for r in runs] == ["bad-1", "bad-2", "new-run", "stuck"]
    assert store.prune_guard(cutoff, keep_last=3) == (0, 0)  # nothing left to forget
    with store.guard(later, 3600) as session:
        assert session.seen("new", "2026-12-07T09:00:00Z", "firing", "live") == "r-new"
        assert session.seen("old-0", "2026-11-27T08:00:00Z", "firing", "live") is None
    assert store.prune_guard((later + timedelta(days=1)).isoformat(), keep_last=3) == (1, 0)
    assert store.check_breaker("disk", 3, later.isoformat(), "rec-b") is True  # all 3 kept
    store.close()


def test_an_optimistic_session_commits_only_what_nobody_changed(
        location: StoreLocation) -> None:
    """``guard_attempt`` decides outside the write transaction: its writes land when guard
    state did not change meanwhile, and none of them when another store object wrote first;
    the mirror it decided from is then reloaded, not trusted. After such a loss the next
    sessions decide inside the write transaction, so two busy writers do not keep undoing
    each other's work."""
    one, two = open_store(location), open_store(location)
    rules = Guardrails()
    journal: list[str] = []
    with one.guard_attempt(NOW, 3600) as session:
        session.claim("fp1", None, "firing", "live", "rec-1", NOW)
        session.reserve("run-1", "disk", "web-1", "live", NOW, 600)
        session.defer(lambda: journal.append("written"))
    assert session.committed and journal == ["written"]
    with two.guard(NOW, 3600) as session:  # the other object sees it
        assert session.seen("fp1", None, "firing", "live") == "rec-1"
        assert session.facts("disk", "web-1", rules, NOW).in_progress == "run-1"
    with one.guard_attempt(NOW, 3600) as session:  # a write by this object does not conflict
        one.finish_run("run-1", "web-1", "succeeded", NOW.isoformat())
        session.claim("fp3", None, "firing", "live", "rec-3", NOW)
    assert session.committed
    with two.guard(NOW, 3600) as session:
        assert session.seen("fp3", None, "firing", "live") == "rec-3"
        assert session.facts("disk", "web-1", rules, NOW).in_progress is None
    with one.guard_attempt(NOW, 3600) as session:
        assert session.seen("fp2", None, "firing", "live") is None  # decided: nobody has it
        session.claim("fp2", None, "firing", "live", "rec-2", NOW)
        session.reserve("run-2", "disk", "web-2", "live", NOW, 600)
        session.defer(lambda: journal.append("lost"))
        with two.guard(NOW, 3600) as other:  # meanwhile, another writer takes web-2
            other.claim("fp2", None, "firing", "live", "rec-9", NOW)
            other.reserve("run-9", "disk", "web-2", "live", NOW, 600)
    assert not session.committed and journal == ["written"]  # nothing of it was written
    for store in (one, two):
        with store.guard(NOW, 3600) as session:
            assert session.seen("fp2", None, "firing", "live") == "rec-9"
            assert session.facts("disk", "web-2", rules, NOW).in_progress == "run-9"
    done = threading.Event()

    def write_meanwhile() -> None:
        with two.guard(NOW, 3600) as other:
            other.claim("fp4", None, "firing", "live", "rec-4", NOW)
        done.set()

    with one.guard_attempt(NOW, 3600) as session:  # contended now: inside the transaction
        writer = threading.Thread(target=write_meanwhile)
        writer.start()
        assert not done.wait(0.5)  # the other writer waits for this session to end
        session.claim("fp5", None, "firing", "live", "rec-5", NOW)
    writer.join(30)
    assert session.committed and done.is_set()
    one.close()
    two.close()


def test_writers_of_other_entries_do_not_overtake_an_optimistic_session(
        location: StoreLocation) -> None:
    """Guard state is versioned per entry (and dedupe claims per alert name): a session that
    read only ``disk`` commits even though another store object wrote ``cache`` meanwhile,
    and its mirror then holds that write; a claim of the same alert meanwhile still
    overtakes it."""
    one, two = open_store(location), open_store(location)
    rules = Guardrails()
    with one.guard_attempt(NOW, 3600) as session:
        assert session.facts("disk", "web-1", rules, NOW).in_progress is None
        assert session.seen("fp1", None, "firing", "live", entry="disk") is None
        session.claim("fp1", None, "firing", "live", "rec-1", NOW, entry="disk")
        session.reserve("run-1", "disk", "web-1", "live", NOW, 600)
        with two.guard(NOW, 3600) as other:
            other.claim("fp2", None, "firing", "live", "rec-2", NOW, entry="cache")
            other.reserve("run-2", "cache", "web-1", "live", NOW, 600)
    assert session.committed
    with one.guard_attempt(NOW, 3600) as session:  # the other's write is in the mirror
        assert session.facts("cache", "web-1", rules, NOW).in_progress == "run-2"
        assert session.seen("fp2", None, "firing", "live", entry="cache") == "rec-2"
    assert session.committed
    with two.guard(NOW, 3600) as other:
        assert other.facts("disk", "web-1", rules, NOW).in_progress == "run-1"
        assert other.seen("fp1", None, "firing", "live", entry="disk") == "rec-1"
    with one.guard_attempt(NOW, 3600) as session:  # the same alert claimed meanwhile
        assert session.seen("fp9", None, "firing", "live", entry="~Disk") is None
        session.claim("fp9", None, "firing", "live", "rec-a", NOW, entry="~Disk")
        session.reserve("run-a", "disk", "web-2", "live", NOW, 600)
        with two.guard(NOW, 3600) as other:
            other.claim("fp9", None, "firing", "live", "rec-b", NOW, entry="~Disk")
    assert not session.committed
    with one.guard(NOW, 3600) as session:
        assert session.seen("fp9", None, "firing", "live", entry="~Disk") == "rec-b"
        assert session.facts("disk", "web-2", rules, NOW).in_progress is None  # not written
    one.close()
    two.close()


def test_a_failed_guard_session_leaves_nothing_behind(location: StoreLocation) -> None:
    store = open_store(location)
    with pytest.raises(RuntimeError), store.guard(NOW, 3600) as session:
        session.claim("fp1", None, "firing", "live", "rec-1", NOW)
        session.reserve("run-1", "disk", "web-1", "live", NOW, 600)
        raise RuntimeError("the decision failed")
    with store.guard(NOW, 3600) as session:
        assert session.seen("fp1", None, "firing", "live") is None
        assert session.facts("disk", "web-1", Guardrails(), NOW).in_progress is None
    store.close()


CLAIMER = """
import sys, datetime, time
from remediator.store import open_store
location = sys.argv[1] if "://" in sys.argv[1] else __import__("pathlib").Path(sys.argv[1])
now = datetime.datetime(2026, 11, 27, 9, tzinfo=datetime.UTC)
store = open_store(location)
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # all start together
with store.guard(now, 3600) as session:
    won = session.seen("same", "2026-11-27T08:59:00Z", "firing", "live") is None
    time.sleep(0.2)  # a slow decision: the others must wait, not decide alongside
    if won:
        session.claim("same", "2026-11-27T08:59:00Z", "firing", "live", sys.argv[2], now)
        session.reserve(sys.argv[2], "disk", "web-1", "live", now, 600)
print("won" if won else "lost")
store.close()
"""


def test_eight_processes_claim_one_alert_once(location: StoreLocation) -> None:
    open_store(location).close()
    start = str(time.time() + 3)
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(location), f"run-{n}", start],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(8)]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcomes.append(out.strip())
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]


# -- the intake queue --

def test_intake_accepts_claims_once_and_refuses_replays(location: StoreLocation) -> None:
    queue = open_intake(location)
    ids = queue.accept([Accepted("2026-11-27T09:00:00Z", "alertmanager", '{"n": 1}', "k1"),
                        Accepted("2026-11-27T09:00:01Z", "alertmanager", '{"n": 2}', "k1"),
                        Accepted("2026-11-27T09:00:02Z", "generic", '{"n": 3}')])
    assert ids[1] is None and ids[0] is not None and ids[2] is not None
    assert queue.oldest_queued() == "2026-11-27T09:00:00Z"
    other = open_intake(location)
    first = queue.claim("node:1", "2026-11-27T09:00:05Z", limit=1)
    second = other.claim("node:2", "2026-11-27T09:00:05Z", limit=5)
    assert [r.id for r in first] == [ids[0]] and [r.id for r in second] == [ids[2]]
    assert other.claim("node:2", "2026-11-27T09:00:06Z") == []
    queue.done([ids[0]], "2026-11-27T09:00:07Z", {ids[0]: {"records": ["rec-1"]}})
    other.release([ids[2]])
    assert queue.counts() == {"queued": 1, "claimed": 0, "planned": 0, "done": 1}
    assert queue.row(ids[0])["result"] == {"records": ["rec-1"]}
    assert queue.prune("2026-11-27T09:00:01Z") == 1
    with pytest.raises(StoreError, match="no intake row"):
        queue.row(ids[0])
    queue.close()
    other.close()


def test_concurrent_claimers_never_share_a_row(location: StoreLocation) -> None:
    queue = open_intake(location)
    queue.accept([Accepted("2026-11-27T09:00:00Z", "generic", f'{{"n": {n}}}')
                  for n in range(300)])
    taken: list[list[int]] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        mine = open_intake(location)
        got: list[int] = []
        while rows := mine.claim(f"node:{n}", "2026-11-27T09:00:01Z", limit=7):
            got += [r.id for r in rows]
        with lock:
            taken.append(got)
        mine.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for got in taken for i in got]
    assert len(every) == 300 and len(set(every)) == 300
    queue.close()


HOLDER = """
import sys, time
from remediator.store import open_intake
location = sys.argv[1] if "://" in sys.argv[1] else __import__("pathlib").Path(sys.argv[1])
from remediator.store.owners import owner_id
queue = open_intake(location)
rows = queue.claim(owner_id(), "2026-11-27T09:00:05Z", limit=2)
print(" ".join(str(r.id) for r in rows), flush=True)
time.sleep(600)
"""


def _claimed_by_another_process(queue: Any, location: StoreLocation, rows: int
                                ) -> tuple[subprocess.Popen[str], list[int]]:
    """``rows`` payloads queued, and a worker process (HOLDER) holding two of them."""
    queue.accept([Accepted("2026-11-27T09:00:00Z", "generic", f'{{"n": {n}}}')
                  for n in range(rows)])
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(location)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    assert holder.stdout is not None
    return holder, [int(i) for i in holder.stdout.readline().split()]


def test_recover_takes_over_only_what_a_dead_worker_claimed(location: StoreLocation) -> None:
    """A live worker's claims stay with it; once it is killed, they go back to the queue."""
    queue = open_intake(location)
    holder, held = _claimed_by_another_process(queue, location, 3)
    try:
        assert len(held) == 2
        assert queue.recover() == (0, [])
        assert queue.counts()["claimed"] == 2
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 30
    while queue.recover()[0] != 2:  # the server notices the closed session at once
        assert time.monotonic() < deadline, "the dead worker's rows were never recovered"
        time.sleep(0.1)
    assert queue.counts() == {"queued": 3, "claimed": 0, "planned": 0, "done": 0}
    queue.close()


def test_a_dead_worker_never_reaped_is_dead_too(location: StoreLocation) -> None:
    """A killed worker whose parent has not reaped it (a zombie, as under a container's PID 1
    that reaps nothing) still answers ``kill(pid, 0)``; its claims go back all the same."""
    queue = open_intake(location)
    holder, held = _claimed_by_another_process(queue, location, 2)
    try:
        assert len(held) == 2
        os.kill(holder.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while b") Z" not in Path(f"/proc/{holder.pid}/stat").read_bytes():
            assert time.monotonic() < deadline, "the holder never exited"
            time.sleep(0.02)
        os.kill(holder.pid, 0)  # the zombie still answers a signal
        while queue.recover()[0] != 2:
            assert time.monotonic() < deadline, "the zombie's rows were never recovered"
            time.sleep(0.1)
        assert queue.counts()["queued"] == 2
    finally:
        holder.kill()
        holder.wait()
        queue.close()


# -- PostgreSQL as a server: reaching it, migrating it --

def test_an_unreachable_database_is_exit_5_naming_it_without_its_password(
        project: Any) -> None:
    """Every command that needs the store says which server it could not reach; the
    password in the URL never reaches the output, and nothing runs."""
    project.use_store("postgresql://remediator:s3cret-pw@127.0.0.1:1/remediator")
    before = project.snapshot()
    for args in (("audit", "verify"), ("audit", "list")):
        result = project.cli(*args)
        assert result.exit_code == 5, result.output
        assert "postgresql://remediator:***@127.0.0.1:1/remediator" in result.output
        assert "cannot reach the audit store" in result.output
        assert "s3cret-pw" not in result.output
    payload = json.dumps({"version": "4", "status": "firing", "alerts": [{
        "status": "firing", "labels": {"alertname": "DiskSpaceLow",
                                       "instance": "demo-web-01:9100", "mountpoint": "/"},
        "annotations": {}, "startsAt": "2026-11-26T09:00:00Z", "fingerprint": "fp1"}]})
    result = project.cli("handle", "-", stdin=payload)
    assert result.exit_code == 5 and "s3cret-pw" not in result.output
    assert project.snapshot() == before


def test_migrations_run_once_and_a_newer_schema_is_refused(pg_url: str) -> None:
    from remediator.store.postgres import MIGRATIONS, PgStore

    first, second = PgStore(pg_url), PgStore(pg_url)
    assert first.schema_version() == second.schema_version() == len(MIGRATIONS)
    first.append(record(1))
    third = PgStore(pg_url)  # a restart: the data stays, nothing is applied twice
    assert third.verify()[0] == 1 and third.schema_version() == len(MIGRATIONS)
    for store in (first, second, third):
        store.close()
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO remediator_schema (version) VALUES (99)")
    with pytest.raises(StoreError, match="schema version 99, newer than this remediator"):
        PgStore(pg_url)


def test_a_database_from_before_claims_keyed_by_start_is_upgraded(pg_url: str) -> None:
    """PostgreSQL's side of the key change: claims kept, the key led by the alert's start."""
    from datetime import UTC, datetime

    import psycopg

    from remediator.store.postgres import MIGRATIONS, SEEN_BY_START, PgStore

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE remediator_schema (version INTEGER NOT NULL,"
                     " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        for number, script in enumerate(MIGRATIONS[:MIGRATIONS.index(SEEN_BY_START)], 1):
            conn.execute(script)
            conn.execute("INSERT INTO remediator_schema (version) VALUES (%s)", (number,))
        conn.execute("INSERT INTO guard_seen VALUES ('fp1', '2026-10-01T08:00:00Z', 'firing',"
                     " 'live', 'rec-1', '2026-10-01T08:00:00.000+00:00', '~Disk')")
    store = PgStore(pg_url)
    assert store.schema_version() == len(MIGRATIONS)
    now = datetime(2026, 11, 27, 9, 1, tzinfo=UTC)
    with store.guard(now, 3600) as session:
        assert session.seen("fp1", "2026-10-01T08:00:00Z", "firing", "live",
                            entry="~Disk") == "rec-1"
        session.claim("fp2", "2026-11-27T09:00:00Z", "firing", "live", "rec-2", now,
                      entry="~Disk")
    store.close()
    with psycopg.connect(pg_url) as conn:
        key = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY"
            " AS k(attnum, n) ON true JOIN pg_attribute a ON a.attrelid = i.indrelid AND"
            " a.attnum = k.attnum WHERE i.indrelid = 'guard_seen'::regclass AND i.indisprimary"
            " ORDER BY k.n").fetchall()
        assert [row[0] for row in key] == ["starts_at", "fingerprint", "status", "mode"]
        assert sorted(conn.execute("SELECT fingerprint, record_id FROM guard_seen")) == [
            ("fp1", "rec-1"), ("fp2", "rec-2")]


def test_a_store_collected_unclosed_never_deadlocks_the_pools(pg_url: str) -> None:
    """The garbage collector may finalize an unclosed store on a thread that holds the pool
    registry's lock (it did, inside a pool's opening, and `poll` hung for ever); its pool is
    handed back at the next open instead."""
    import gc

    from remediator.store import postgres

    done = threading.Event()

    def scenario() -> None:
        store = postgres.PgStore(pg_url)
        with postgres._POOLS_LOCK:
            del store
            gc.collect()
        done.set()

    worker = threading.Thread(target=scenario, daemon=True)
    worker.start()
    worker.join(20)
    assert done.is_set(), "a finalizer waited for the lock its own thread held"
    assert postgres._POOLS[pg_url][1] == 1  # the collected store still counted ...
    again = postgres.PgStore(pg_url)
    assert postgres._POOLS[pg_url][1] == 1  # ... until the next open handed it back
    again.close()
    assert pg_url not in postgres._POOLS


def test_a_store_collected_after_its_pool_was_closed_leaves_the_next_pool_alone(
        pg_url: str) -> None:
    """close_pools (before a database is dropped or reused) closes a pool that an unclosed
    store still holds; when that store is collected later, the pool a newer store opened
    under the same URL stays open."""
    import gc

    from remediator.store import postgres

    old = postgres.PgStore(pg_url)
    postgres.close_pools(pg_url)
    new = postgres.PgStore(pg_url)
    del old
    gc.collect()
    third = postgres.PgStore(pg_url)  # hands back what the collector found first
    try:
        assert list(new.records()) == []
        assert postgres._POOLS[pg_url][1] == 2
    finally:
        new.close()
        third.close()
    assert pg_url not in postgres._POOLS
