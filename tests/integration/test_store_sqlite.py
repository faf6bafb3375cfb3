"""The SQLite audit store: append-only, hash-chained, safe with many writer processes."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from remediator import audit
from remediator.errors import ChainError, NotFoundError, StoreError
from remediator.models import Action, Decision, Mode
from remediator.reasons import Reason
from remediator.sources import normalize
from remediator.store.owners import NODE
from remediator.store.sqlite import SqliteStore

from ..conftest import Project, alertmanager_payload, disk_alert, disk_entry

pytestmark = pytest.mark.sqlite_only  # the file as such; test_store_contract.py covers both


def record(n: int) -> dict:
    """A small unsealed record numbered ``n``."""
    decision = Decision(Action.SKIP, Reason.NO_ENTRY, f"reason {n}", Mode.NONE, None)
    return audit.build(record_id=f"rec{n:04d}", created_at=f"2026-11-26T10:{n % 60:02d}:00+00:00",
                       alert=None, hosts=(), remediation=None, playbook_sha256=None,
                       catalog_revision=None, decision=decision, initiated_by="automation",
                       run=None)


def filled(tmp_path: Path, count: int = 5) -> SqliteStore:
    """A store holding ``count`` chained records."""
    store = SqliteStore(tmp_path / "audit.db")
    for n in range(count):
        store.append(record(n))
    return store


def tamper(path: Path, sql: str, *args: object) -> None:
    """Change the database behind the store's back, as an attacker with file access could."""
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER IF EXISTS records_no_update")
    db.execute("DROP TRIGGER IF EXISTS records_no_delete")
    db.execute(sql, args)
    db.commit()
    db.close()


def test_chain_links_each_record_to_the_one_before(tmp_path: Path) -> None:
    """Each record's prev_hash is the previous record's hash; the first links to zeros."""
    store = filled(tmp_path)
    records = list(store.records())
    assert records[0]["prev_hash"] == audit.GENESIS_HASH
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(records))
    assert store.verify() == (5, records[-1]["hash"])


def test_updates_and_deletes_are_refused_by_the_database(tmp_path: Path) -> None:
    """The append-only triggers refuse UPDATE and DELETE."""
    filled(tmp_path)
    db = sqlite3.connect(tmp_path / "audit.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE records SET outcome = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM records")


@pytest.mark.parametrize("field", ["outcome", "initiated_by", "decision.reason"])
def test_altering_a_record_is_caught_and_named(tmp_path: Path, field: str) -> None:
    """Changing any stored field of record 2 makes verify name record 2."""
    filled(tmp_path)
    body = json.loads(sqlite3.connect(tmp_path / "audit.db").execute(
        "SELECT body FROM records WHERE id = 'rec0002'").fetchone()[0])
    if "." in field:
        outer, inner = field.split(".")
        body[outer][inner] = "forged"
    else:
        body[field] = "forged"
    tamper(tmp_path / "audit.db", "UPDATE records SET body = ? WHERE id = 'rec0002'",
           json.dumps(body))
    with pytest.raises(ChainError) as caught:
        SqliteStore(tmp_path / "audit.db").verify()
    assert caught.value.record_id == "rec0002"


def test_rehashing_a_forged_record_breaks_the_next_link(tmp_path: Path) -> None:
    """Forging record 2 and recomputing its hash (in the body and the hash column) is
    caught at record 3."""
    filled(tmp_path)
    body = json.loads(sqlite3.connect(tmp_path / "audit.db").execute(
        "SELECT body FROM records WHERE id = 'rec0002'").fetchone()[0])
    body["initiated_by"] = "mallory"
    body["hash"] = audit.record_hash(body)
    tamper(tmp_path / "audit.db", "UPDATE records SET body = ?, hash = ? WHERE id = 'rec0002'",
           json.dumps(body), body["hash"])
    with pytest.raises(ChainError, match="rec0003"):
        SqliteStore(tmp_path / "audit.db").verify()


def test_deleting_a_record_is_caught(tmp_path: Path) -> None:
    """Removing record 1 makes verify name record 2, whose link now dangles."""
    filled(tmp_path)
    tamper(tmp_path / "audit.db", "DELETE FROM records WHERE id = 'rec0001'")
    with pytest.raises(ChainError, match="rec0002"):
        SqliteStore(tmp_path / "audit.db").verify()


def test_cli_verify_names_the_tampered_record_and_exits_3(project: Project) -> None:
    """`audit verify` exits 3 and names the first record that does not fit."""
    store = project.store()
    for n in range(3):
        store.append(record(n))
    body = json.loads(sqlite3.connect(project.store_path).execute(
        "SELECT body FROM records WHERE id = 'rec0001'").fetchone()[0])
    body["initiated_by"] = "mallory"
    tamper(project.store_path, "UPDATE records SET body = ? WHERE id = 'rec0001'",
           json.dumps(body))
    result = project.cli("audit", "verify")
    assert result.exit_code == 3
    assert "rec0001" in result.stderr


def test_cli_verify_json_names_the_record_and_still_exits_3(project: Project) -> None:
    """`audit verify --json` prints an object naming the record that does not fit (the
    message names the column), on stdout, and exits 3 as without --json."""
    store = project.store()
    for n in range(3):
        store.append(record(n))
    tamper(project.store_path, "UPDATE records SET created_at = '2020-01-01T00:00:00+00:00' "
           "WHERE id = 'rec0002'")
    result = project.cli("audit", "verify", "--json")
    assert result.exit_code == 3
    found = json.loads(result.stdout)
    assert (found["ok"], found["count"], found["head"], found["record"]) == (
        False, None, None, "rec0002")
    assert "created_at" in found["error"] and "rec0002" in result.stderr


def test_get_by_prefix_and_unknown_ids(tmp_path: Path) -> None:
    """A unique id prefix finds its record; ambiguous or unknown prefixes are NotFoundError."""
    store = filled(tmp_path, 3)
    assert store.get("rec0001")["id"] == "rec0001"
    assert store.get("rec0002")["decision"]["reason"] == "reason 2"
    with pytest.raises(NotFoundError, match="more than one"):
        store.get("rec")
    with pytest.raises(NotFoundError, match="no record"):
        store.get("zzz")


def test_since_filters_by_creation_time(tmp_path: Path) -> None:
    """records(since=...) returns only records created at or after that time."""
    store = filled(tmp_path, 5)
    assert [r["id"] for r in store.records("2026-11-26T10:03:00+00:00")] == ["rec0003",
                                                                              "rec0004"]


def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    """A store path whose folder cannot be created is a StoreError naming the path."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError) as caught:
        SqliteStore(blocker / "audit.db")
    assert str(blocker) in str(caught.value)


WRITER = """
import sys
from remediator import audit
from remediator.models import Action, Decision, Mode
from remediator.reasons import Reason
from remediator.store.sqlite import SqliteStore
store = SqliteStore(__import__("pathlib").Path(sys.argv[1]))
worker = sys.argv[2]
for n in range(int(sys.argv[3])):
    d = Decision(Action.SKIP, Reason.NO_ENTRY, "concurrent", Mode.NONE, None)
    store.append(audit.build(record_id=f"{worker}-{n}", created_at="2026-11-26T10:00:00+00:00",
        alert=None, hosts=(), remediation=None, playbook_sha256=None, catalog_revision=None,
        decision=d, initiated_by="automation", run=None))
"""


def test_concurrent_writer_processes_keep_one_chain(tmp_path: Path) -> None:
    """8 processes appending at once leave one unbroken chain holding every record."""
    path = tmp_path / "audit.db"
    SqliteStore(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{i}", "25"])
             for i in range(8)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    count, _ = SqliteStore(path).verify()
    assert count == 200


@pytest.fixture
def tiny_fs(tmp_path: Path):
    """A 512 KiB tmpfs mounted under tmp_path (the tests run as root, as CI does): room for
    a new store and its write-ahead log, little more."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path) -> None:
    """Write zeros into ``mount`` until it has not one byte left."""
    fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 512):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def use_store(project: Project, store: Path) -> None:
    """Point the project's config at ``store``."""
    project.config.write_text(project.config.read_text().replace(
        "store: state/audit.db", f"store: {store}"))


def test_full_disk_before_start_is_exit_5_and_nothing_runs(project: Project, tiny_fs: Path
                                                           ) -> None:
    """A store on a full disk fails at start with exit 5 naming it; no playbook runs."""
    use_store(project, tiny_fs / "audit.db")
    fill(tiny_fs)
    project.write_catalog(disk_entry("oversight"))
    before = project.snapshot()
    result = project.cli("handle", "-", stdin=json.dumps(alertmanager_payload([disk_alert()])))
    assert result.exit_code == 5, result.output
    assert f"{tiny_fs}/audit.db" in result.stderr
    assert project.snapshot() == before


def test_a_commit_on_a_full_disk_says_so(tiny_fs: Path) -> None:
    """A guard write whose commit meets a full disk is a StoreError naming the cause and the
    file (SQLite has rolled back by then; rolling back again must not hide why)."""
    from datetime import UTC, datetime

    store = SqliteStore(tiny_fs / "audit.db")
    fill(tiny_fs)
    now = datetime(2026, 11, 27, 9, tzinfo=UTC)
    with pytest.raises(StoreError) as caught, store.guard(now, 3600) as session:
        for n in range(200):
            session.claim(f"fp{n}", None, "firing", "live", f"rec-{n}", now)
    assert "full" in str(caught.value) and "rollback" not in str(caught.value)
    assert str(tiny_fs / "audit.db") in str(caught.value)


def test_disk_full_after_the_run_keeps_the_record(project: Project, tiny_fs: Path) -> None:
    """When the disk fills during a run, the StoreError carries the record that was not written."""
    use_store(project, tiny_fs / "audit.db")
    project.fake_runs().on_run = lambda plan: fill(tiny_fs)  # the run fills the disk
    project.write_catalog({"name": "fill", "match": {"alertname": "Fill"},
                           "playbook": "noop.yml", "stage": "oversight"})
    engine = project.engine()
    engine.store.append(record(0))  # the WAL and its index exist now
    alert = {"labels": {"alertname": "Fill", "instance": "demo-web-01"}}
    with pytest.raises(StoreError) as caught:
        engine.handle(normalize(alertmanager_payload([alert])))
    assert caught.value.exit_code == 5
    assert isinstance(caught.value.unsaved, list)
    (unsaved,) = caught.value.unsaved
    assert unsaved["outcome"] == "succeeded"
    assert unsaved["hosts"]["demo-web-01"]["changed"] == 1
    assert "guardrail state not updated" in unsaved["decision"]["notes"][-1]
    # kept beside the runs, durably, and stored by the next start once there is room
    assert caught.value.kept == str(project.runs / "unsaved")
    assert json.loads((project.runs / "unsaved" / f"{unsaved['id']}.json").read_text()) == unsaved
    engine.store.close()
    (tiny_fs / "filler").unlink()
    store = project.engine().store
    try:
        stored = store.get(unsaved["id"])
        assert {k: v for k, v in stored.items() if k not in ("prev_hash", "hash")} == unsaved
        assert store.verify()[0] == 2
    finally:
        store.close()
    assert list((project.runs / "unsaved").iterdir()) == []
    # its journal row is left to the next process (this one still owns it); that one finds
    # the record stored and records nothing twice
    dead = subprocess.Popen(["true"])
    dead.wait()
    with sqlite3.connect(tiny_fs / "audit.db") as db:
        db.execute("UPDATE run_journal SET owner = ?", (f"{NODE}:{dead.pid}",))
    store = project.engine().store
    try:
        assert store.verify()[0] == 2
    finally:
        store.close()
    with sqlite3.connect(tiny_fs / "audit.db") as db:
        assert db.execute("SELECT COUNT(*) FROM run_journal").fetchone()[0] == 0


def test_a_full_disk_after_the_run_through_the_cli_says_where_the_record_waits(
        project: Project, tiny_fs: Path) -> None:
    """`handle` exits 5 naming the store and the folder the record waits in; the next
    command stores it; nothing is recorded twice."""
    use_store(project, tiny_fs / "audit.db")
    project.fake_runs().on_run = lambda plan: fill(tiny_fs)
    project.write_catalog({"name": "fill", "match": {"alertname": "Fill"},
                           "playbook": "noop.yml", "stage": "oversight"})
    assert project.cli("audit", "list").exit_code == 0  # the store exists, with room
    payload = json.dumps(alertmanager_payload([{"labels": {"alertname": "Fill",
                                                           "instance": "demo-web-01"}}]))
    result = project.cli("handle", "-", stdin=payload)
    assert result.exit_code == 5, result.output
    assert f"kept in {project.runs / 'unsaved'}" in result.stderr
    (tiny_fs / "filler").unlink()
    project.executor.on_run = None  # type: ignore[union-attr]
    again = project.cli("handle", "--json", "-", stdin=payload)
    assert again.exit_code == 0, again.output
    [duplicate] = json.loads(again.stdout)
    listed = project.cli("audit", "list", "--json")
    records = json.loads(listed.stdout)
    assert len(records) == 2
    assert records[0]["id"] in duplicate["decision"]["reason"]
    assert records[0]["outcome"] == "succeeded"


def breaker_steps(store: SqliteStore, db_path: Path, runs: int) -> int:
    """SQLite VM steps one breaker check takes once the entry has ``runs`` good live runs."""
    with sqlite3.connect(db_path) as db:
        have = db.execute("SELECT count(*) FROM guard_runs").fetchone()[0]
        db.executemany(
            "INSERT INTO guard_runs (ident, host, entry, mode, started_at, expires_at,"
            " finished_at, outcome) VALUES (?, 'web-1', 'disk', 'live', ?, ?, ?, 'succeeded')",
            [(f"run-{n:06d}", f"2026-11-{1 + n // 1440:02d}T{n // 60 % 24:02d}:{n % 60:02d}:00",
              "2027-01-01T00:00:00", f"2026-11-{1 + n // 1440:02d}T{n // 60 % 24:02d}:"
              f"{n % 60:02d}:30") for n in range(have, runs)])
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store._db.set_progress_handler(count, 10)
    try:
        assert store.check_breaker("disk", 3, "2026-12-01T00:00:00+00:00", "rec-x") is False
    finally:
        store._db.set_progress_handler(None, 10)
    return steps


def test_the_breaker_check_does_not_grow_with_the_history(tmp_path: Path) -> None:
    """It runs in the write transaction every live run ends with, so it must read the last few
    runs through its index, not the entry's whole past (it did: 340 ms at 100,000 runs)."""
    store = SqliteStore(tmp_path / "audit.db")
    small = breaker_steps(store, tmp_path / "audit.db", 300)
    large = breaker_steps(store, tmp_path / "audit.db", 30_000)
    assert small > 0
    assert large <= small * 1.5, (small, large)
    store.close()


def _store_at(path: Path, version: int) -> sqlite3.Connection:
    """A new store file with only its first ``version`` migrations applied, as an older
    remediator left it."""
    from remediator.store.sqlite import MIGRATIONS, _statements

    old = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:version], 1):
        for statement in _statements(script):
            old.execute(statement)
        old.execute(f"PRAGMA user_version = {number}")
    return old


def test_a_store_from_before_per_entry_generations_is_upgraded(tmp_path: Path) -> None:
    """A store at the previous schema (one global generation in ``guard_meta``) opens at the
    current one: its generation carries over, its claims still make duplicates, its runs
    still lock."""
    from datetime import UTC, datetime

    from remediator.limits import Guardrails
    from remediator.store.guard_state import generation_migration
    from remediator.store.sqlite import MIGRATIONS

    path = tmp_path / "audit.db"
    old = _store_at(path, MIGRATIONS.index(generation_migration("INTEGER")))
    old.execute("UPDATE guard_meta SET generation = 41")
    old.execute("INSERT INTO guard_seen VALUES ('fp1', '2026-11-27T08:59:00Z', 'firing', 'live',"
                " 'rec-1', '2026-11-27T09:00:00.000+00:00')")
    old.execute("INSERT INTO guard_runs (ident, host, entry, mode, started_at, expires_at)"
                " VALUES ('run-1', 'web-1', 'disk', 'live', '2026-11-27T09:00:00.000+00:00',"
                " '2026-11-27T10:00:00.000+00:00')")
    old.close()
    store = SqliteStore(path)
    now = datetime(2026, 11, 27, 9, 1, tzinfo=UTC)
    with store.guard(now, 3600) as session:
        assert session.seen("fp1", "2026-11-27T08:59:00Z", "firing", "live",
                            entry="~DiskSpaceLow") == "rec-1"
        assert session.facts("disk", "web-1", Guardrails(), now).in_progress == "run-1"
        session.claim("fp2", None, "firing", "live", "rec-2", now, entry="~DiskSpaceLow")
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert dict(check.execute("SELECT entry, generation FROM guard_gen")) == {
        "*": 42, "~DiskSpaceLow": 42}
    assert not check.execute("SELECT 1 FROM sqlite_master WHERE name = 'guard_meta'").fetchall()
    check.close()
    store.close()


OPENER = """
import sys, time
from pathlib import Path
from remediator.store.sqlite import SqliteStore
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all start together
store = SqliteStore(Path(sys.argv[1]))
store.close()
"""


def test_processes_opening_a_new_store_at_once_all_get_it(tmp_path: Path) -> None:
    """Eight processes (cron jobs starting together on a fresh install) create and open one new
    store at the same moment: switching it to WAL needs the file to itself, so the others
    wait for that instead of failing with "database is locked"."""
    import time

    for attempt in range(3):  # the race needs the processes to collide: a few fresh files
        path = tmp_path / f"audit-{attempt}.db"
        start = time.time() + 1.5
        procs = [subprocess.Popen([sys.executable, "-c", OPENER, str(path), str(start)],
                                  stderr=subprocess.PIPE, text=True) for _ in range(8)]
        failures = [err for proc in procs if (err := proc.communicate(timeout=120)[1])
                    and proc.returncode != 0]
        assert failures == []
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _columns_of_key(db: sqlite3.Connection, table: str) -> list[str]:
    """The columns of ``table``'s primary key, in the key's order."""
    index = next(row[1] for row in db.execute(f"PRAGMA index_list({table})") if row[3] == "pk")
    return [row[2] for row in db.execute(f"PRAGMA index_info({index})")]


def test_a_store_from_before_claims_keyed_by_start_is_upgraded(tmp_path: Path) -> None:
    """Dedupe claims were keyed by fingerprint first, so each claim of a transaction dirtied
    its own page of the key's tree; a store from then opens with every claim kept (still a
    duplicate, still pruned by age) under a key that starts with the alert's start."""
    from datetime import UTC, datetime

    from remediator.store.sqlite import MIGRATIONS, SEEN_BY_START

    path = tmp_path / "audit.db"
    old = _store_at(path, MIGRATIONS.index(SEEN_BY_START))
    assert _columns_of_key(old, "guard_seen")[:2] == ["fingerprint", "starts_at"]
    old.executemany("INSERT INTO guard_seen VALUES (?, ?, 'firing', 'live', ?, ?, ?)", [
        ("fp1", "2026-11-27T08:59:00Z", "rec-1", "2026-11-27T09:00:00.000+00:00", "~Disk"),
        ("fp2", "2026-10-01T08:00:00Z", "rec-2", "2026-10-01T08:00:00.000+00:00", "~Disk")])
    old.close()

    store = SqliteStore(path)
    now = datetime(2026, 11, 27, 9, 1, tzinfo=UTC)
    with store.guard(now, 3600) as session:
        assert session.seen("fp1", "2026-11-27T08:59:00Z", "firing", "live",
                            entry="~Disk") == "rec-1"
        # older than the mirror: read from the table through the new key
        assert session.seen("fp2", "2026-10-01T08:00:00Z", "firing", "live",
                            entry="~Disk") == "rec-2"
        session.claim("fp3", "2026-11-27T09:00:30Z", "firing", "live", "rec-3", now,
                      entry="~Disk")
        session.claim("fp1", "2026-11-27T08:59:00Z", "firing", "live", "rec-9", now,
                      entry="~Disk")  # already claimed: kept as it was
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert _columns_of_key(check, "guard_seen") == ["starts_at", "fingerprint", "status",
                                                    "mode"]
    assert sorted(check.execute("SELECT fingerprint, record_id, entry FROM guard_seen")) == [
        ("fp1", "rec-1", "~Disk"), ("fp2", "rec-2", "~Disk"), ("fp3", "rec-3", "~Disk")]
    plan = " ".join(row[3] for row in check.execute(
        "EXPLAIN QUERY PLAN SELECT MIN(claimed_at) FROM guard_seen"))
    assert "guard_seen_claimed" in plan  # pruning still finds the oldest by its index
    check.close()
    assert store.prune_guard("2026-11-01T00:00:00.000+00:00", 1) == (1, 0)
    store.close()


def test_records_whose_chain_order_was_swapped_are_named(tmp_path: Path) -> None:
    """Swapping two rows' seq (the order lists and reports use) breaks the walk in seq order."""
    filled(tmp_path)
    db = sqlite3.connect(tmp_path / "audit.db")
    (one,), (two,) = db.execute("SELECT seq FROM records WHERE id IN ('rec0001', 'rec0002')"
                                " ORDER BY seq").fetchall()
    db.close()
    for sql in (f"UPDATE records SET seq = -1 WHERE seq = {one}",
                f"UPDATE records SET seq = {one} WHERE seq = {two}",
                f"UPDATE records SET seq = {two} WHERE seq = -1"):
        tamper(tmp_path / "audit.db", sql)
    with pytest.raises(ChainError, match="rec0002: prev_hash does not match"):
        SqliteStore(tmp_path / "audit.db").verify()


def test_a_store_from_before_sealed_requests_is_upgraded(tmp_path: Path) -> None:
    """A store at the previous schema opens at the current one: its requests have no seal
    (checked against their pending record instead) and verify reads its host index by seq."""
    from remediator.store.sqlite import MIGRATIONS, SEALS

    path = tmp_path / "audit.db"
    old = _store_at(path, MIGRATIONS.index(SEALS))
    old.execute("INSERT INTO requests (id, entry, hosts, variables, preview, created_at,"
                " expires_at, state) VALUES ('rec-1', 'disk', '[\"web-1\"]', '{}', '{}',"
                " '2026-11-27T09:00:00Z', '2026-11-27T10:00:00Z', 'pending')")
    old.close()
    store = SqliteStore(path)
    assert store.get_request("rec-1").seal is None
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert check.execute("SELECT 1 FROM sqlite_master WHERE name = 'record_hosts_seq'"
                         ).fetchall()
    check.close()
    store.close()


def test_a_serve_batch_under_a_full_disk_is_recorded_once_the_disk_has_room(
        project: Project, tiny_fs: Path) -> None:
    """A worker's batch whose records meet a full disk: the records wait in the spool, the
    payloads stay taken; once the store answers again the worker stores them and marks the
    payloads done, with nothing recorded twice (in-process: no server)."""
    from remediator.common import iso, utc_now
    from remediator.config import load
    from remediator.server.metrics import Metrics
    from remediator.server.workers import Pool
    from remediator.store import open_intake
    from remediator.store.intake import Accepted

    use_store(project, tiny_fs / "audit.db")
    project.fake_runs().on_run = lambda plan: fill(tiny_fs)
    project.write_catalog({"name": "fill", "match": {"alertname": "Fill"},
                           "playbook": "noop.yml", "stage": "oversight"})
    config = load(project.config)
    engine = project.engine()
    queue = open_intake(config.store)
    try:
        body = json.dumps(alertmanager_payload([{"labels": {"alertname": "Fill",
                                                            "instance": "demo-web-01"}}]))
        queue.accept([Accepted(iso(utc_now()), "alertmanager", body, None)])
        rows = queue.claim("test", iso(utc_now()))
        lines: list[str] = []
        pool = Pool(config, Metrics(queue.counts), log=lines.append)
        pool._handle(engine, queue, rows)
        assert pool.stranded == [rows[0].id]
        [kept] = (project.runs / "unsaved").iterdir()
        assert not pool._release_stranded(queue, engine)  # still full: nothing lost
        (tiny_fs / "filler").unlink()
        assert pool._release_stranded(queue, engine)
        [record] = list(engine.store.records())
        assert record["outcome"] == "succeeded" and f"{record['id']}.json" == kept.name
        assert queue.row(rows[0].id)["state"] == "done"
        assert queue.row(rows[0].id)["result"] == {"recovered": [record["id"]]}
        assert not (project.runs / "unsaved").exists() or \
            list((project.runs / "unsaved").iterdir()) == []
        assert any("stored 1 record(s) kept while the store failed" in line for line in lines)
    finally:
        queue.close()
        engine.store.close()
