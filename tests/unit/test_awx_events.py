"""AWX job events the collector does not know, translated: from the recorded job events."""

from __future__ import annotations

import copy
from typing import Any

from remediator.executor.awx_events import AwxEvents
from remediator.executor.awx_launch import launch_error, slicing
from remediator.results import ResultCollector
from tests.awxserver import recorded


def events(name: str, rename: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The recorded events of ``name``, with event types renamed by ``rename``."""
    found = copy.deepcopy(recorded(f"events/{name}.json"))
    for event in found:
        event["event"] = (rename or {}).get(event["event"], event["event"])
    return found


def feed(*runs: list[dict[str, Any]]) -> tuple[AwxEvents, ResultCollector]:
    collector = ResultCollector()
    adapter = AwxEvents(collector)
    for run in runs:
        for event in run:
            adapter.feed(event)
    adapter.finish()
    return adapter, collector


def test_runner_on_error_is_a_failed_task() -> None:
    """AWX lists runner_on_error ('Host Failure') among its FAILED_EVENTS."""
    _, collector = feed(events("failed", {"runner_on_failed": "runner_on_error"}))
    task = collector.hosts()["demo-web-01"].tasks[-1]
    assert (task.status, task.msg) == ("failed", "demo-web-01: the service did not come back")


def test_job_level_errors_are_kept_whether_error_or_verbose_events() -> None:
    """ansible-core 2.19 prints a syntax error as verbose lines; older ones as error events."""
    for rename in ({}, {"verbose": "error"}):
        adapter, collector = feed(events("syntax-error", rename))
        assert any("conflicting action statements" in e for e in adapter.errors), rename
        assert not collector.touched


def test_the_recaps_of_several_jobs_are_summed() -> None:
    """Two slice jobs' playbook_on_stats: each host counted once per job, not the last only."""
    one = [e for e in events("live") if e["host_name"] in ("", "demo-web-01")]
    two = [e for e in events("live") if e["host_name"] in ("", "demo-web-02")]
    for event in one:
        if event["event"] == "playbook_on_stats":
            event["event_data"] = {k: ({"demo-web-01": v["demo-web-01"]}
                                       if isinstance(v, dict) and "demo-web-01" in v else v)
                                   for k, v in event["event_data"].items()}
    for event in two:
        if event["event"] == "playbook_on_stats":
            event["event_data"] = {k: ({"demo-web-02": v["demo-web-02"]}
                                       if isinstance(v, dict) and "demo-web-02" in v else v)
                                   for k, v in event["event_data"].items()}
    _, collector = feed(one, two)
    hosts = collector.hosts()
    assert (hosts["demo-web-01"].changed, hosts["demo-web-02"].changed) == (2, 2)


def test_a_dropped_result_is_rebuilt_from_its_item_events() -> None:
    """A loop task whose res arrived as {}: its items' events say which item failed."""
    run = events("edge-cases")
    for event in run:
        if event["event"] == "runner_on_failed":
            event["event_data"]["res"] = {}
    adapter, collector = feed(run)
    loop = next(t for t in collector.hosts()["demo-web-01"].tasks
                if t.name == "Restart each worker")
    assert loop.msg is not None and "rebuilt from its item events" in loop.msg
    assert loop.msg.endswith("1 of 3 items failed: b: non-zero return code")
    assert "demo-web-01: Restart each worker" in adapter.stripped


def test_launch_error_names_known_causes_only() -> None:
    """A 400 without a known key is left to the generic message."""
    assert launch_error({"detail": "odd"}) is None
    assert launch_error("text") is None
    both = launch_error({"playbook": ["Missing a revision"], "limit": ["x"]})
    assert both is not None and both.endswith('; also {"limit": ["x"]}')


def test_slicing_is_reported_only_when_the_launch_would_slice() -> None:
    """job_slice_count above 1, not prompted for, and an inventory of 2+ hosts."""
    launch = recorded("job_template_7_launch.json")
    assert slicing(launch, 5) is None
    launch["defaults"]["job_slice_count"] = 3
    assert "workflow job of up to 3 slice jobs" in (slicing(launch, 5) or "")
    assert slicing(launch, 1) is None
    assert slicing({**launch, "ask_job_slice_count_on_launch": True}, 5) is None
