"""Runner events -> per-host, per-task results, from events recorded on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from remediator.models import HostResult, Outcome, RunnerStatus
from remediator.results import MAX_TEXT, ResultCollector, diffs_of, message_of, outcome_of

EVENTS = Path(__file__).resolve().parents[1] / "data" / "events"
TARGETS = ("first", "second", "gone")


def events(mode: str) -> Iterator[dict]:
    """Stream the recorded events of the mixed playbook's ``mode`` run, one at a time."""
    with (EVENTS / f"mixed-{mode}.jsonl").open() as fh:
        for line in fh:
            yield json.loads(line)


def collect(mode: str) -> dict[str, HostResult]:
    """Feed every recorded event of ``mode`` to a collector."""
    collector = ResultCollector()
    for event in events(mode):
        collector.feed(event)
    return collector.hosts(TARGETS)


def task(hosts: dict[str, HostResult], host: str, name: str):
    """The task called ``name`` on ``host``."""
    return next(t for t in hosts[host].tasks if t.name == name)


def test_counters_come_from_the_recap() -> None:
    """Per-host counters match ansible's own PLAY RECAP."""
    hosts = collect("live")
    assert (hosts["first"].ok, hosts["first"].changed, hosts["first"].failed) == (6, 2, 0)
    assert hosts["second"].failed == 1
    assert hosts["gone"].unreachable == 1


def test_check_mode_diffs_are_kept() -> None:
    """A check-mode copy task is 'changed' and carries its before/after diff."""
    hosts = collect("check")
    written = task(hosts, "first", "Write a file")
    assert (written.status, written.changed, written.action) == (
        "changed", True, "ansible.builtin.copy")
    assert written.diff[0]["after"] == "new content\n"


def test_loop_items_diffs_are_gathered() -> None:
    """A loop's per-item diffs are collected into the task's diff list."""
    looped = task(collect("live"), "second", "Write files in a loop")
    assert looped.changed
    assert sorted(d["after"] for d in looped.diff) == ["a\n", "b\n"]


def test_command_is_skipped_in_check_mode() -> None:
    """A command task is skipped under --check and ok when live."""
    assert task(collect("check"), "first", "Run a command").status == "skipped"
    assert task(collect("live"), "first", "Run a command").status == "ok"


def test_no_log_output_stays_hidden() -> None:
    """A no_log task's message is ansible's censored notice, never the secret."""
    hidden = task(collect("live"), "first", "Use a secret")
    assert "no_log" in (hidden.msg or "")
    assert hidden.diff is None
    assert "hunter2" not in json.dumps([t.as_dict() for h in collect("live").values()
                                        for t in h.tasks])


def test_ignored_failure_and_real_failure() -> None:
    """ignore_errors failures are 'ignored'; a real failure is 'failed' with its message."""
    hosts = collect("live")
    assert task(hosts, "first", "Fail but carry on").status == "ignored"
    failed = task(hosts, "second", "Fail for real on the second host")
    assert (failed.status, failed.msg) == ("failed", "second host refuses")


def test_unreachable_host_is_recorded() -> None:
    """The unreachable host has an 'unreachable' task naming the connection failure."""
    gone = task(collect("check"), "gone", "Write a file")
    assert gone.status == "unreachable"
    assert "Failed to connect" in (gone.msg or "")


def test_collector_streams_one_event_at_a_time() -> None:
    """feed() returns the finished task for result events and None for the rest."""
    collector = ResultCollector()
    returned = [collector.feed(e) for e in events("live")]
    finished = [t for t in returned if t is not None]
    assert len(finished) == sum(len(h.tasks) for h in collector.hosts().values())
    assert any(t is None for t in returned)


def test_targets_never_reached_appear_empty() -> None:
    """A targeted host with no events is listed with no tasks."""
    hosts = ResultCollector().hosts(["lonely"])
    assert hosts == {"lonely": HostResult()}


@pytest.mark.parametrize(("status", "hosts", "expected"), [
    (RunnerStatus.SUCCESSFUL, {"a": HostResult(ok=1, tasks=(None,))}, Outcome.SUCCEEDED),
    (RunnerStatus.FAILED, {"a": HostResult(failed=1, tasks=(None,))}, Outcome.FAILED),
    (RunnerStatus.FAILED, {"a": HostResult(unreachable=1, tasks=(None,))}, Outcome.UNREACHABLE),
    (RunnerStatus.FAILED, {"a": HostResult(failed=1, tasks=(None,)),
                           "b": HostResult(unreachable=1, tasks=(None,))}, Outcome.FAILED),
    (RunnerStatus.TIMEOUT, {"a": HostResult(ok=1, tasks=(None,))}, Outcome.FAILED),
    (RunnerStatus.SUCCESSFUL, {"a": HostResult()}, Outcome.FAILED),
])
def test_outcome_rules(status: RunnerStatus, hosts: dict, expected: Outcome) -> None:
    """Failures beat unreachable beats success; timeouts and unreached targets fail."""
    assert outcome_of(status, hosts, hosts) is expected


def test_recorded_runs_have_the_expected_outcome() -> None:
    """The recorded mixed run (one failure, one unreachable host) is 'failed'."""
    assert outcome_of(RunnerStatus.FAILED, collect("live"), TARGETS) is Outcome.FAILED


def test_long_texts_are_clipped() -> None:
    """Messages and diff sides longer than MAX_TEXT are cut with a marker."""
    res = {"msg": "x" * (MAX_TEXT + 10), "diff": {"before": "y" * (MAX_TEXT * 2), "after": ""}}
    assert message_of(res).endswith("[10 more characters]")
    (diff,) = diffs_of(res)
    assert len(diff["before"]) < MAX_TEXT + 50


def test_failure_message_includes_stderr() -> None:
    """A failed command's stderr follows its message."""
    assert message_of({"failed": True, "msg": "non-zero return code", "stderr": "boom\n"}) == (
        "non-zero return code; stderr: boom")
