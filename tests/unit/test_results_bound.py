"""The bounded task lists of a large run, from the recorded runner events on disk."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import chain
from pathlib import Path

import jsonschema
import pytest

from remediator import audit
from remediator.cli.output import record_text
from remediator.models import Action, Decision, HostResult, Mode, Outcome, RunnerStatus, RunResult
from remediator.notify.message import plan
from remediator.reasons import Reason
from remediator.results import MAX_ROUTINE_PER_HOST, MAX_TASKS, ResultCollector, outcome_of
from remediator.stages import track_record

EVENTS = Path(__file__).resolve().parents[1] / "data" / "events"
SCHEMA = json.loads((Path(audit.__file__).parent / "schema" / "audit-record-v1.json")
                    .read_text(encoding="utf-8"))
RESULT_EVENTS = 16  # task results in one recorded live run: 7 + 7 on two hosts, 2 unreachable
RANK = {"failed": 2, "unreachable": 2, "changed": 1, "ignored": 1, "ok": 0, "skipped": 0}
UNBOUNDED = {"max_tasks": 10**9, "max_routine_per_host": 10**9}


def run_events(copies: int, *, mode: str = "live", only: tuple[str, ...] = (),
               rename: bool = True) -> Iterator[dict]:
    """The recorded run's events ``copies`` times over, read from disk one line at a time;
    each pass on its own hosts (``first-3``) unless ``rename`` is off; ``only`` keeps those
    recorded hosts. The recap is left out: it names the recorded hosts."""
    for copy in range(copies):
        with (EVENTS / f"mixed-{mode}.jsonl").open(encoding="utf-8") as handle:
            for line in handle:
                event = json.loads(line)
                host = event["event_data"].get("host")
                if event["event"] == "playbook_on_stats" or (only and host and host not in only):
                    continue
                if rename and host:
                    event["event_data"]["host"] = f"{host}-{copy}"
                yield event


def collect(events: Iterable[dict], **limits: int) -> dict[str, HostResult]:
    """Feed ``events`` to a collector with ``limits``; its per-host results."""
    collector = ResultCollector(**limits)
    for event in events:
        collector.feed(event)
    return collector.hosts()


def listed(hosts: dict[str, HostResult]) -> Counter[str]:
    """Listed tasks by status, over all hosts."""
    return Counter(t.status for h in hosts.values() for t in h.tasks)


def omitted(hosts: dict[str, HostResult]) -> Counter[str]:
    """Omitted tasks by status, over all hosts."""
    total: Counter[str] = Counter()
    for host in hosts.values():
        total.update(host.omitted)
    return total


def run_result(hosts: dict[str, HostResult], status: RunnerStatus = RunnerStatus.FAILED
               ) -> RunResult:
    """A RunResult around ``hosts``, as the local executor makes it."""
    return RunResult(ident="big", status=status, rc=2, started_at="2026-01-05T12:00:00+00:00",
                     finished_at="2026-01-05T12:01:00+00:00", duration_s=60.0, hosts=hosts,
                     outcome=outcome_of(status, hosts, hosts), artifacts="/runs/big/artifacts/big")


def record_of(run: RunResult) -> dict:
    """The sealed audit record of a person's run of ``run``."""
    decision = Decision(Action.RUN, Reason.MANUAL, "started by ann in live mode", Mode.LIVE, None,
                        hosts=tuple(run.hosts))
    return audit.seal(audit.build(
        record_id="r1", created_at="2026-01-05T12:01:00+00:00", alert=None, hosts=run.hosts,
        remediation=None, playbook_sha256=None, catalog_revision=None, decision=decision,
        initiated_by="ann", run=run), audit.GENESIS_HASH)


def test_the_recorded_run_has_the_expected_number_of_task_results() -> None:
    """The fixture behind the cap arithmetic below: 16 task results per recorded run."""
    assert sum(listed(collect(run_events(1))).values()) == RESULT_EVENTS


def test_small_runs_are_recorded_whole() -> None:
    """A run under both caps lists every task, and its record has no bound marker at all."""
    hosts = collect(run_events(1))
    assert not omitted(hosts)
    record = record_of(run_result(hosts))
    assert "truncated" not in record
    assert all("tasks_omitted" not in h for h in record["hosts"].values())


def test_the_run_cap_kicks_in_at_the_cap_and_not_before() -> None:
    """Exactly MAX_TASKS task results are all listed; one more and one is counted instead."""
    copies = MAX_TASKS // RESULT_EVENTS
    assert copies * RESULT_EVENTS == MAX_TASKS  # the cap is a whole number of runs
    full = collect(run_events(copies))
    assert (sum(listed(full).values()), sum(omitted(full).values())) == (MAX_TASKS, 0)
    one_more = next(e for e in run_events(1, only=("first",)) if e["event"] == "runner_on_ok")
    over = collect(chain(run_events(copies), [one_more]))
    assert (sum(listed(over).values()), sum(omitted(over).values())) == (MAX_TASKS, 1)


def test_the_routine_cap_per_host_kicks_in_at_the_cap_and_not_before() -> None:
    """One host's ok/skipped entries stop at MAX_ROUTINE_PER_HOST; its others go on."""
    # host "first" of the recorded run: 4 routine tasks (ok, ok, ok, skipped) out of 7
    passes = MAX_ROUTINE_PER_HOST // 4
    at_cap = collect(run_events(passes, only=("first",), rename=False))["first"]
    assert not at_cap.omitted
    assert sum(t.status in ("ok", "skipped") for t in at_cap.tasks) == MAX_ROUTINE_PER_HOST
    beyond = collect(run_events(passes + 1, only=("first",), rename=False))["first"]
    assert dict(beyond.omitted) == {"ok": 3, "skipped": 1}
    assert Counter(t.status for t in beyond.tasks)["changed"] == 2 * (passes + 1)


@pytest.mark.parametrize("cap", [1, 3, 7, 20, 45, 200])
def test_counters_stay_exact_beyond_the_cap(cap: int) -> None:
    """Whatever is listed, per host the counters match an unbounded collector's, and listed
    plus omitted tasks are every task, status by status."""
    bounded = collect(run_events(6), max_tasks=cap, max_routine_per_host=2)
    whole = collect(run_events(6), **UNBOUNDED)
    assert bounded.keys() == whole.keys()
    for name, host in bounded.items():
        full = whole[name]
        counters = ("ok", "changed", "failed", "unreachable", "skipped")
        assert [getattr(host, c) for c in counters] == [getattr(full, c) for c in counters]
        mine = Counter(t.status for t in host.tasks) + Counter(host.omitted)
        assert mine == Counter(t.status for t in full.tasks)
    assert sum(listed(bounded).values()) <= cap


@pytest.mark.parametrize("cap", [1, 4, 7, 12, 30, 60, 95])
def test_failed_and_changed_tasks_are_never_dropped_for_ok_ones(cap: int) -> None:
    """Failed and unreachable tasks are listed before changed and ignored ones, and those
    before ok and skipped ones: an entry of lower rank is listed only when every task of a
    higher rank is, even when the important ones come last in the run."""
    hosts = collect(run_events(6), max_tasks=cap)
    shown, hidden = listed(hosts), omitted(hosts)
    for status, count in shown.items():
        for other in RANK:
            if RANK[other] > RANK[status]:
                assert hidden[other] == 0, f"{other} omitted while {count} {status} listed"


def test_a_full_run_keeps_each_host_in_run_order() -> None:
    """Dropping entries to make room leaves each host's listed tasks in the order they ran."""
    hosts = collect(run_events(3), max_tasks=10)
    whole = collect(run_events(3), **UNBOUNDED)
    for name, host in hosts.items():
        order = [t.name for t in whole[name].tasks]
        positions = [order.index(t.name) for t in host.tasks]
        assert positions == sorted(positions)


def test_feed_reports_every_task_listed_or_not() -> None:
    """feed() returns a result for every task (progress shows them all); an unlisted one
    carries no diff and no message."""
    collector = ResultCollector(max_tasks=5)
    returned = [t for t in (collector.feed(e) for e in run_events(2)) if t is not None]
    assert len(returned) == 2 * RESULT_EVENTS
    assert any(t.status == "changed" and (t.diff, t.msg) == (None, None) for t in returned)
    assert all(t.diff for h in collector.hosts().values() for t in h.tasks if t.changed)


def test_a_host_with_every_task_omitted_still_counts_as_reached() -> None:
    """A host whose tasks are all counted but none listed did run: the outcome is not failed
    for an unreached target."""
    hosts = collect(run_events(5, only=("first",)), max_tasks=7)
    assert not hosts["first-4"].tasks and hosts["first-4"].reached
    assert outcome_of(RunnerStatus.SUCCESSFUL, hosts, hosts) is Outcome.SUCCEEDED


def test_a_bounded_record_is_schema_valid_and_says_so() -> None:
    """The record of a bounded run validates against the schema and names what it left out."""
    hosts = collect(run_events(4), max_tasks=20)
    record = record_of(run_result(hosts))
    jsonschema.validate(record, SCHEMA)
    assert record["truncated"] == {"tasks_listed": 20, "tasks_omitted": 4 * RESULT_EVENTS - 20,
                                   "job_events": "/runs/big/artifacts/big/job_events"}
    assert sum(sum(h.get("tasks_omitted", {}).values()) for h in record["hosts"].values()) == \
        4 * RESULT_EVENTS - 20
    assert audit.record_hash(record) == record["hash"]


def test_an_awx_run_points_at_its_job_events_endpoint() -> None:
    """A bounded AWX run's record points at the job's job_events endpoint."""
    run = replace(run_result(collect(run_events(2), max_tasks=8)),
                  artifacts="https://awx.example/api/v2/jobs/42/", job={"kind": "awx", "id": 42})
    truncated = audit.truncation(run)
    assert truncated is not None
    assert truncated.get("job_events") == "https://awx.example/api/v2/jobs/42/job_events/"


def test_audit_show_says_what_is_not_listed() -> None:
    """The readable record names each host's unlisted tasks and the run's totals."""
    text = record_text(record_of(run_result(collect(run_events(2), max_tasks=8))))
    assert "  first-1: ok=6 changed=2 failed=0 unreachable=0 skipped=1\n    tasks not listed: " \
        "changed=2 ignored=1 ok=3 skipped=1\n" in text
    assert "  tasks:    8 listed, 24 not (every event: /runs/big/artifacts/big/job_events)" in text


def test_a_notification_says_when_changes_are_not_listed() -> None:
    """A failure notice for a bounded record counts the changed/failed tasks it cannot show."""
    hosts = collect(run_events(4), max_tasks=8)
    record = record_of(run_result(hosts))
    record["remediation"] = {"name": "disk"}
    message = plan(record)
    assert message is not None
    hidden = sum(omitted(hosts)[s] for s in ("changed", "failed", "unreachable"))
    assert hidden and message.lines[-1].startswith(f"... {hidden} more changed, failed")


def test_a_bounded_record_neither_holds_nor_misses_a_prediction() -> None:
    """stages: when a record does not list every changed task, its check prediction is not
    compared (it would look missed)."""
    def rec(n: int, mode: str, omitted_changed: int) -> dict:
        host = {"tasks": [{"name": "a", "changed": True}]}
        if omitted_changed:
            host["tasks_omitted"] = {"changed": omitted_changed}
        return {"id": f"r{n}", "created_at": f"t{n}", "mode": mode, "outcome": "succeeded",
                "decision": {"action": "run", "reason": "x"}, "hosts": {"h": host}}

    assert track_record([rec(1, "check", 0), rec(2, "live", 0)]).predictions_held == 1
    for pair in ([rec(1, "check", 3), rec(2, "live", 0)], [rec(1, "check", 0), rec(2, "live", 3)]):
        track = track_record(pair)
        assert (track.predictions_held, track.predictions_missed) == (0, 0)


def _retained(events: int) -> int:
    """Bytes a default collector still holds after ``events`` ok/skipped task results of one
    host (the recorded host "first"'s routine tasks, decoded afresh each time), by
    tracemalloc."""
    lines = [json.dumps(e) for e in run_events(1, only=("first",), rename=False)
             if e["event"] in ("runner_on_ok", "runner_on_skipped")
             and not (e["event_data"].get("res") or {}).get("changed")]
    assert len(lines) == 4
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        collector = ResultCollector()
        for _ in range(events // len(lines)):
            for line in lines:
                collector.feed(json.loads(line))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert collector.hosts()["first"].ok > 0
    return held


def test_collector_memory_does_not_grow_with_events_past_the_cap() -> None:
    """Ten times the ok/skipped task results past the routine cap: the collector holds about
    the same memory (the unbounded collector held ten times as much)."""
    small, large = _retained(4 * MAX_ROUTINE_PER_HOST), _retained(40 * MAX_ROUTINE_PER_HOST)
    assert large < small * 1.3, (small, large)
