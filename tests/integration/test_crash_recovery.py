"""Every run that starts ends as a record, whatever dies meanwhile; an owner's playbook dies
with it, and holds its hosts' locks until it is gone.

Crashes are real: a `remediator handle` process (tests.fakecli: its runs take a minute and run
no playbook) or one running ansible-playbook is killed with SIGKILL mid-run, and the next
command that opens the engine records the run as interrupted. The reaper that ties a
playbook's processes to their owner is tested on real process groups.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from remediator import runproc
from remediator.limits import Guardrails
from remediator.store.owners import NODE
from tests.conftest import REPO, Project, alertmanager_payload, disk_alert

SLOW = {"name": "slow-fix", "match": {"alertname": "SlowAlert"}, "playbook": "sleep.yml",
        "stage": "oversight", "timeout": 120}
SLOW_ALERT = {"labels": {"alertname": "SlowAlert", "instance": "demo-web-01:9100"},
              "fingerprint": "fp-slow", "startsAt": "2026-12-07T09:00:00Z"}


def wait_for(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def group_alive(pgid: int) -> bool:
    """True while any process of group ``pgid`` lives (zombies count as gone)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes().rpartition(b")")[2].split()
        except OSError:
            continue
        if int(stat[2]) == pgid and stat[0] not in (b"Z", b"X"):
            return True
    return False


def open_runs(project: Project, entry: str = "slow-fix") -> list[str]:
    try:
        rows = project.query("SELECT ident FROM guard_runs WHERE finished_at IS NULL AND"
                             " entry = ?", (entry,))
    except Exception:  # noqa: BLE001 - the store is still being created
        return []
    return [row[0] for row in rows]


# -- the reaper --

OWNER = """
import subprocess, sys, time
from remediator import runproc
# a session of its own, as ansible-runner's pexpect gives the playbook
child = subprocess.Popen(runproc.wrap(sys.argv[1], ["sh", "-c", sys.argv[2]], sys.executable),
                         start_new_session=True)
print(child.pid, flush=True)
time.sleep(300)
"""


@pytest.fixture
def owner() -> Iterator[Callable[[str, str], tuple[subprocess.Popen[str], int]]]:
    """Start an owner process that runs a shell command under the reaper: (owner, reaper pid)."""
    started: list[tuple[subprocess.Popen[str], int]] = []

    def start(ident: str, script: str) -> tuple[subprocess.Popen[str], int]:
        env = {**os.environ, "PYTHONPATH": str(REPO), "REMEDIATOR_REAPER_GRACE_S": "1"}
        proc = subprocess.Popen([sys.executable, "-c", OWNER, ident, script],
                                stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        reaper = int(proc.stdout.readline())
        started.append((proc, reaper))
        return proc, reaper

    yield start
    for proc, reaper in started:
        proc.kill()
        proc.wait()
        if group_alive(reaper):
            os.killpg(reaper, signal.SIGKILL)


def test_a_playbook_dies_with_its_owner(owner: Callable[[str, str], tuple[subprocess.Popen[str], int]]) -> None:
    """SIGKILL of the owner: the reaper takes its whole group down (the command and what it
    forked), and the run's processes are no longer found by their marker."""
    proc, reaper = owner("run-a", "sleep 300 & sleep 301; wait")
    wait_for(lambda: len(runproc.processes(["run-a"]).get("run-a", [])) == 1, 10, "the reaper")
    wait_for(lambda: sum(1 for p in os.listdir("/proc") if p.isdigit() and
                         _cmdline(p).startswith(b"sleep\x00301")), 10, "the playbook's sleep")
    assert group_alive(reaper)
    proc.kill()
    wait_for(lambda: not group_alive(reaper), 10, "the group to go")
    assert runproc.processes(["run-a"]) == {}


def test_what_left_the_group_dies_with_the_owner_too(
        owner: Callable[[str, str], tuple[subprocess.Popen[str], int]]) -> None:
    """ansible-playbook's workers call setsid (a session and group of their own) and count on
    the playbook passing SIGTERM on: a process of the run outside the reaper's group, whose
    parent ignores SIGTERM (a playbook too slow to pass it on), still dies with the owner."""
    proc, reaper = owner("run-f", "trap '' TERM; setsid sleep 302.5 & wait")
    wait_for(lambda: runproc.processes(["run-f"]), 10, "the reaper")
    wait_for(lambda: _sleeping("302.5"), 10, "the setsid sleep")
    proc.kill()
    wait_for(lambda: not group_alive(reaper), 10, "the group to go")
    wait_for(lambda: not _sleeping("302.5"), 10, "the sleep in its own session to go")


def _sleeping(seconds: str) -> list[str]:
    return [p for p in os.listdir("/proc") if p.isdigit() and
            _cmdline(p) == b"sleep\x00" + seconds.encode() + b"\x00"]


def test_what_ignores_sigterm_is_killed_after_the_grace(
        owner: Callable[[str, str], tuple[subprocess.Popen[str], int]]) -> None:
    proc, reaper = owner("run-b", "trap '' TERM; sleep 300 & wait; sleep 300")
    wait_for(lambda: runproc.processes(["run-b"]), 10, "the reaper")
    time.sleep(0.3)  # the shell has set its trap
    proc.kill()
    started = time.monotonic()
    wait_for(lambda: not group_alive(reaper), 10, "the group to go")
    assert time.monotonic() - started >= 0.8  # SIGTERM was ignored: the grace ran out first


def test_stop_takes_down_the_processes_of_a_run(
        owner: Callable[[str, str], tuple[subprocess.Popen[str], int]]) -> None:
    """What recovery calls when the reaper itself was not reached (or another remediator
    finds the run first): stop() ends the marked processes and their groups."""
    _proc, reaper = owner("run-c", "sleep 300")
    wait_for(lambda: runproc.processes(["run-c"]), 10, "the reaper")
    assert runproc.stop(["run-c", "run-none"], grace_s=5) == {}
    wait_for(lambda: not group_alive(reaper), 10, "the group to go")


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


# -- locks --

def test_a_dead_owners_lock_holds_while_its_playbook_lives(
        project: Project, owner: Callable[[str, str], tuple[subprocess.Popen[str], int]]) -> None:
    """An unfinished run whose owner is gone is stale at once, unless processes of that run
    still live on this machine: then it still locks its host."""
    now = datetime.now(UTC)
    store = project.store()
    try:
        with store.guard(now, 3600) as session:
            session.reserve("run-d", "slow-fix", "demo-web-01", "live", now, 3600)
        project_update = "UPDATE guard_runs SET pid = ?, node = ? WHERE ident = ?"
        _write(project, project_update, (dead_pid(), NODE, "run-d"))
    finally:
        store.close()
    _proc, reaper = owner("run-d", "sleep 300")
    wait_for(lambda: runproc.processes(["run-d"]), 10, "the reaper")

    def in_progress() -> str | None:
        fresh = project.store()  # a new mirror: no cached view of the run
        try:
            with fresh.guard(datetime.now(UTC), 3600) as session:
                return session.facts("slow-fix", "demo-web-01", Guardrails(),
                                     datetime.now(UTC)).in_progress
        finally:
            fresh.close()

    assert in_progress() == "run-d"
    os.killpg(reaper, signal.SIGKILL)
    wait_for(lambda: not runproc.processes(["run-d"]), 10, "the run's processes to go")
    assert in_progress() is None


def _write(project: Project, sql: str, args: tuple[object, ...]) -> None:
    """One statement on the project's store, outside remediator (as an operator could)."""
    location = project.location
    if isinstance(location, Path):
        import sqlite3

        with sqlite3.connect(location) as db:
            db.execute(sql, args)
        return
    import psycopg

    with psycopg.connect(str(location)) as db:
        db.execute(sql.replace("?", "%s"), args)


# -- killed commands --

def start_cli(project: Project, *args: str, stdin: str | None = None
              ) -> subprocess.Popen[str]:
    """`remediator ARGS` in a process of its own (tests.fakecli: its runs last a minute)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH")])), "REMEDIATOR_FAKE_RUN_S": "60"}
    env.pop("REMEDIATOR_MAX_STAGE", None)
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakecli", "--config",
                             str(project.config), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdin is not None
    if stdin is not None:
        proc.stdin.write(stdin)
    proc.stdin.close()
    return proc


def start_handle(project: Project, payload: object) -> subprocess.Popen[str]:
    """`remediator handle -` in a process of its own, fed ``payload``."""
    return start_cli(project, "handle", "-", stdin=json.dumps(payload))


def test_a_killed_handle_is_recorded_interrupted_at_the_next_start(project: Project) -> None:
    """SIGKILL of `handle` mid live run: the store keeps its journalled decision; the next
    command records the run as interrupted, releases the host, and a re-delivery's dedupe
    answer names that record, which `audit show` finds."""
    project.write_catalog(SLOW, {"name": "disk", "match": {"alertname": "DiskSpaceLow"},
                                 "playbook": "disk_space_cleanup.yml", "stage": "observe"})
    payload = alertmanager_payload([SLOW_ALERT, disk_alert()])
    proc = start_handle(project, payload)
    try:
        wait_for(lambda: open_runs(project), 60, "the run to start")
        [ident] = open_runs(project)
        project.fake_runs()
        meanwhile = project.cli("handle", "--json", "-", stdin=json.dumps(
            alertmanager_payload([SLOW_ALERT])))  # its owner lives: nothing to recover
        [duplicate] = json.loads(meanwhile.stdout)
        assert duplicate["decision"]["reason"].endswith(
            f"in record {ident} (its run is still going: that record is written when it ends)")
    finally:
        proc.kill()
        proc.wait()
    assert project.query("SELECT COUNT(*) FROM records")[0][0] == 1  # the duplicate alone
    assert project.query("SELECT COUNT(*) FROM run_journal")[0][0] == 1

    project.fake_runs()
    result = project.cli("handle", "--json", "-", stdin=json.dumps(payload))
    assert result.exit_code == 0, result.output
    store = project.store()
    try:
        stored = list(store.records())
        interrupted = store.get(ident)
        assert interrupted["outcome"] == "interrupted"
        assert f"pid {proc.pid} on {NODE}" in " ".join(interrupted["decision"]["notes"])
        disk = next(r for r in stored if (r.get("remediation") or {}).get("name") == "disk")
        assert disk["decision"]["action"] != "skip"  # decided before the crash, recorded now
        again = json.loads(result.stdout)
        duplicate = next(r for r in again if r["alert"]["fingerprint"] == "fp-slow")
        assert ident in duplicate["decision"]["reason"]
        assert store.verify()[0] == len(stored) == 5
    finally:
        store.close()
    shown = project.cli("audit", "show", ident)
    assert shown.exit_code == 0 and "interrupted" in shown.output
    assert open_runs(project) == [] and open_runs(project, "disk") == []
    assert project.query("SELECT COUNT(*) FROM run_journal")[0][0] == 0


def test_a_killed_manual_run_is_recorded_interrupted(project: Project) -> None:
    """`run --live` killed mid-run: recorded as the person's run, interrupted."""
    project.write_catalog(SLOW)
    proc = start_cli(project, "run", "slow-fix", "--limit", "demo-web-01", "--live")
    try:
        wait_for(lambda: open_runs(project), 60, "the run to start")
    finally:
        proc.kill()
        proc.wait()
    [ident] = open_runs(project)
    project.fake_runs()
    listed = project.cli("pending")  # any command that opens the engine recovers
    assert listed.exit_code == 0, listed.output
    store = project.store()
    try:
        record = store.get(ident)
    finally:
        store.close()
    assert record["outcome"] == "interrupted" and record["mode"] == "live"
    assert record["initiated_by"] != "automation"
    assert open_runs(project) == []


def test_a_run_left_by_another_machine_waits_for_its_lease(project: Project) -> None:
    """A journal row of another machine is its owner's until its lease ends."""
    project.write_catalog(SLOW)
    proc = start_handle(project, alertmanager_payload([SLOW_ALERT]))
    try:
        wait_for(lambda: open_runs(project), 60, "the run to start")
    finally:
        proc.kill()
        proc.wait()
    _write(project, "UPDATE run_journal SET owner = ?", ("elsewhere:1",))
    project.fake_runs()
    assert project.cli("pending").exit_code == 0
    assert project.query("SELECT COUNT(*) FROM records")[0][0] == 0
    _write(project, "UPDATE run_journal SET expires_at = ?", ("2000-01-01T00:00:00.000+00:00",))
    assert project.cli("pending").exit_code == 0
    [(outcome,)] = project.query("SELECT outcome FROM records")
    assert outcome == "interrupted"


# -- real playbooks --

@pytest.mark.ansible
def test_sigkill_of_handle_takes_its_playbook_down(project: Project) -> None:
    """The real thing: `remediator handle` running ansible-playbook live is killed; the
    playbook and its task's process go within seconds, and the next start records the run."""
    (project.root / "playbooks" / "crash_sleep.yml").write_text(CRASH_SLEEP, encoding="utf-8")
    project.write_catalog({**SLOW, "playbook": "crash_sleep.yml"})
    env = {**os.environ}
    env.pop("REMEDIATOR_MAX_STAGE", None)
    proc = subprocess.Popen([sys.executable, "-m", "remediator", "--config",
                             str(project.config), "handle", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                            env=env)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(alertmanager_payload([SLOW_ALERT])))
    proc.stdin.close()
    try:
        wait_for(lambda: list(project.runs.glob("*/artifacts/*/job_events/*.json")), 90,
                 "the playbook's first event")
        [ident] = open_runs(project)
        wait_for(_sleepers, 30, "the task's sleep")
        assert runproc.processes([ident])
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: not runproc.processes([ident]) and not _sleepers(), 15,
             "the playbook to stop")
    project.fake_runs()
    assert project.cli("pending").exit_code == 0
    store = project.store()
    try:
        assert store.get(ident)["outcome"] == "interrupted"
    finally:
        store.close()


CRASH_SLEEP = """\
- name: Sleep where a crash test finds it
  hosts: all
  gather_facts: false
  tasks:
    - name: Sleep
      ansible.builtin.command: sleep 47.25
"""


def _sleepers() -> list[str]:
    """The task processes of crash_sleep.yml (`sleep 47.25`)."""
    return [p for p in os.listdir("/proc")
            if p.isdigit() and _cmdline(p) == b"sleep\x0047.25\x00"]


@pytest.mark.postgresql
@pytest.mark.sqlite_only  # its own database through a proxy: once is enough
def test_a_database_lost_mid_run_keeps_the_record_until_it_is_back(project: Project,
                                                                   pg_url: str) -> None:
    """The PostgreSQL server goes away while a live run is going: `handle` exits 5 and keeps
    the record beside the runs; once the server is back the next command stores it, and the
    run's guard state ends with the outcome the record says."""
    from urllib.parse import urlsplit

    from tests.tcpproxy import Proxy

    real = urlsplit(pg_url)
    proxy = Proxy((real.hostname or "127.0.0.1", real.port or 5432)).start()
    project.use_store(pg_url.replace(f"@{real.hostname}:{real.port}/",
                                     f"@127.0.0.1:{proxy.port}/"))
    project.write_catalog({**SLOW, "playbook": "noop.yml"})
    project.fake_runs().on_run = lambda plan: proxy.cut()
    payload = json.dumps(alertmanager_payload([SLOW_ALERT]))
    result = project.cli("handle", "-", stdin=payload)
    assert result.exit_code == 5, result.output
    assert f"kept in {project.runs / 'unsaved'}" in result.stderr
    assert (real.password or "") not in result.stderr
    [kept] = (project.runs / "unsaved").iterdir()

    proxy = Proxy(proxy.target, port=proxy.port).start()
    try:
        assert project.executor is not None
        project.executor.on_run = None
        _write(project, "UPDATE run_journal SET owner = ?", (f"{NODE}:{dead_pid()}",))
        again = project.cli("handle", "--json", "-", stdin=payload)  # as a new process would
        assert again.exit_code == 0, again.output
        [duplicate] = json.loads(again.stdout)
        record_id = kept.name.removesuffix(".json")
        assert f"in record {record_id}" in duplicate["decision"]["reason"]
        store = project.store()
        try:
            assert store.get(record_id)["outcome"] == "succeeded"
            assert store.verify()[0] == 2
        finally:
            store.close()
        assert project.query("SELECT outcome FROM guard_runs") == [("succeeded",)]
        assert project.query("SELECT COUNT(*) FROM run_journal")[0][0] == 0
    finally:
        proxy.cut()


def test_a_killed_approval_is_recorded_and_linked_to_its_request(project: Project) -> None:
    """`approve` killed mid live run: the next command records the run as interrupted and
    links it to the request, so a second `approve` shows that run instead of waiting."""
    from tests.conftest import disk_entry

    project.write_catalog(disk_entry("human-initiated"))
    project.fake_runs()
    assert project.cli("handle", "-", stdin=json.dumps(
        alertmanager_payload([disk_alert()]))).exit_code == 0
    [request] = json.loads(project.cli("pending", "--json").stdout)
    proc = start_cli(project, "approve", request["id"], "--by", "alice")
    try:
        wait_for(lambda: open_runs(project, "disk-space-cleanup"), 60, "the approved run")
    finally:
        proc.kill()
        proc.wait()
    [ident] = open_runs(project, "disk-space-cleanup")
    started = time.monotonic()
    again = project.cli("approve", request["id"], "--by", "bob", "--json")
    assert time.monotonic() - started < 30  # the winner's run is found, not waited for
    assert again.exit_code == 0, again.output
    assert ident in again.output and "interrupted" in again.output
    store = project.store()
    try:
        record = store.get(ident)
        assert record["outcome"] == "interrupted" and record["request"]["state"] == "approved"
        assert store.get_request(request["id"]).result_record == ident
    finally:
        store.close()


def test_an_awx_runs_hosts_stay_locked_until_its_lease(project: Project) -> None:
    """A dead owner's AWX job is not ours to stop: its hosts stay locked until the lease ends,
    and its record says so; a local run's processes are stopped and its hosts released."""
    engine = project.engine()
    try:
        stuck = engine.recovery._stop_orphans(
            {"run-awx": ["demo-web-01"], "run-local": ["demo-web-01"]},
            [{"batch": {"ident": "run-awx"}, "remediation": {"job_template": "fix"}},
             {"batch": {"ident": "run-local"}, "remediation": {"job_template": None}}])
    finally:
        engine.store.close()
    assert list(stuck) == ["run-awx"]
    assert "AWX job may still be running" in stuck["run-awx"]


def test_recovery_keeps_the_outcome_of_a_run_that_finished(project: Project) -> None:
    """A run whose guard state was written but whose records were lost (a crash between the
    two) is recorded as interrupted, yet its guard state keeps the outcome it ended with (the
    breaker and cooldowns count what happened)."""
    from remediator.models import Alert

    project.write_catalog(SLOW)
    engine = project.engine()
    try:
        items, [batch] = engine.plan([Alert(
            source="alertmanager", name="SlowAlert", status="firing", fingerprint="fp-f",
            labels={"alertname": "SlowAlert", "instance": "demo-web-01:9100"},
            starts_at="2026-12-07T09:00:00Z")])
        engine.store.finish_runs([(batch.ident, "demo-web-01", "succeeded",
                                   "2026-12-07T09:01:00.000+00:00")])
        draft = engine._draft(items[0], "automation", False)
        [record] = engine.recover({"drafts": [draft], "batches": [
            {"ident": batch.ident, "hosts": ["demo-web-01"]}]}, "interrupted: a test")
    finally:
        engine.store.close()
    assert record["outcome"] == "interrupted"
    assert project.query("SELECT outcome FROM guard_runs") == [("succeeded",)]
