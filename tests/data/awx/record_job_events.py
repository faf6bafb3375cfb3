"""Re-record the AWX job events the contract server serves (run from the repo root).

    .venv/bin/python tests/data/awx/record_job_events.py

Runs tests/data/awx/project/fix_service.yml for real through ansible-runner (the same
ansible-runner AWX runs inside its execution environments) on two local hosts named like the
test project's inventory, in check mode, live, and live with a failure on demo-web-01, then
turns each runner event into the job event AWX's API serves for it: the runner event's own
``event``, ``counter``, ``uuid``, ``event_data`` and ``stdout`` (AWX stores them as they come),
plus the fields AWX's JobEventSerializer adds (id, type, url, related, summary_fields, job,
event_display, event_level, failed, changed, host, host_name, playbook, play, task, role,
verbosity). Job 1 and host ids 1, 2 are placeholders: the server rewrites the job id.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from remediator.executor import RunPlan
from remediator.executor.local import LocalExecutor
from remediator.models import Mode

HERE = Path(__file__).resolve().parent
PLAYBOOK = HERE / "project" / "fix_service.yml"
EDGE_CASES = HERE / "project" / "edge_cases.yml"
BROKEN = HERE / "project" / "broken.yml"
HOST_IDS = {"demo-web-01": 1, "demo-web-02": 2}
INVENTORY = """
all:
  hosts:
    demo-web-01: {ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}"}
    demo-web-02: {ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}"}
"""
# AWX's JobEvent.EVENT_TYPES: (level, event, display name, failed by itself)
EVENT_TYPES = {
    "runner_on_failed": (3, "Host Failed", True),
    "runner_on_start": (3, "Host Started", False),
    "runner_on_ok": (3, "Host OK", False),
    "runner_on_error": (3, "Host Failure", True),
    "runner_on_skipped": (3, "Host Skipped", False),
    "runner_on_unreachable": (3, "Host Unreachable", True),
    "runner_on_no_hosts": (3, "No Hosts Remaining", False),
    "runner_on_async_poll": (3, "Host Polling", False),
    "runner_on_async_ok": (3, "Host Async OK", False),
    "runner_on_async_failed": (3, "Host Async Failure", True),
    "runner_retry": (3, "Host Retry", False),
    "playbook_on_no_hosts_matched": (2, "No Hosts Matched", False),
    "warning": (0, "Warning", False),
    "error": (0, "Error", True),
    "runner_item_on_ok": (3, "Item OK", False),
    "runner_item_on_failed": (3, "Item Failed", True),
    "runner_item_on_skipped": (3, "Item Skipped", False),
    "playbook_on_start": (0, "Playbook Started", False),
    "playbook_on_play_start": (1, "Play Started", False),
    "playbook_on_task_start": (2, "Task Started", False),
    "playbook_on_stats": (1, "Playbook Complete", False),
    "verbose": (0, "Verbose", False),
}
SCENARIOS = {  # name -> (mode, extra vars, playbook, limit)
    "check": (Mode.CHECK, {}, PLAYBOOK, tuple(HOST_IDS)),
    "live": (Mode.LIVE, {}, PLAYBOOK, tuple(HOST_IDS)),
    "failed": (Mode.LIVE, {"fail_host": "demo-web-01"}, PLAYBOOK, tuple(HOST_IDS)),
    # retries, async, a result over AWX's MAX_EVENT_RES_DATA, a loop with a failed item
    "edge-cases": (Mode.LIVE, {}, EDGE_CASES, tuple(HOST_IDS)),
    # job-level "error" events and no host event: a syntax error, a limit matching no host
    # (what a slice of a sliced template runs when its share holds none of the targets)
    "syntax-error": (Mode.LIVE, {}, BROKEN, tuple(HOST_IDS)),
    "no-hosts": (Mode.LIVE, {}, PLAYBOOK, ("demo-db-01",)),
}
NOTE = "{{ lookup('pipe', 'id') }} from the alert"


def awx_event(event: dict[str, Any], job_id: int = 1) -> dict[str, Any]:
    """The job event AWX's API shows for one ansible-runner event."""
    data = event.get("event_data") or {}
    level, display, failed = EVENT_TYPES.get(event["event"], (0, event["event"], False))
    res = data.get("res") or {}
    if event["event"] == "runner_on_failed" and data.get("ignore_errors"):
        failed = False
    if event["event"] == "playbook_on_stats":
        failed = bool(data.get("failures") or data.get("dark"))
    host_name = data.get("host", "")
    host_id = HOST_IDS.get(host_name)
    event_id = 9000 + event["counter"]
    related = {"job": f"/api/v2/jobs/{job_id}/",
               "children": f"/api/v2/job_events/{event_id}/children/"}
    summary: dict[str, Any] = {"job": {"id": job_id, "name": "fix-service", "status": "running",
                                       "failed": False, "job_template_id": 7,
                                       "job_template_name": "fix-service"},
                               "role": {}}
    if host_id is not None:
        related["host"] = f"/api/v2/hosts/{host_id}/"
        summary["host"] = {"id": host_id, "name": host_name, "description": ""}
    return {
        "id": event_id, "type": "job_event", "url": f"/api/v2/job_events/{event_id}/",
        "related": related, "summary_fields": summary,
        "created": event["created"], "modified": event["created"],
        "job": job_id, "event": event["event"], "counter": event["counter"],
        "event_display": display, "event_data": data, "event_level": level,
        "failed": failed, "changed": bool(res.get("changed")) or (
            event["event"] == "playbook_on_stats" and bool(data.get("changed"))),
        "uuid": event.get("uuid", ""), "parent_uuid": event.get("parent_uuid", ""),
        "host": host_id, "host_name": host_name, "playbook": data.get("playbook", ""),
        "play": data.get("play", ""), "task": data.get("task", ""), "role": data.get("role", ""),
        "stdout": event.get("stdout", ""), "start_line": event.get("start_line", 0),
        "end_line": event.get("end_line", 0), "verbosity": 0,
    }


def main() -> None:
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        out = root / "out"
        inventory = root / "hosts.yml"
        inventory.write_text(INVENTORY)
        executor = LocalExecutor(root / "runs")
        for name, (mode, extra, playbook, limit) in SCENARIOS.items():
            out.mkdir(exist_ok=True)
            for host in HOST_IDS:
                (out / f"{host}.conf").write_text("workers = 2\n")
            plan = RunPlan(ident=f"awx-{name}", playbook=playbook, inventory=(inventory,),
                           hosts=limit, mode=mode, untrusted_vars={"note": NOTE},
                           trusted_vars={"out_dir": str(out), **extra})
            result = executor.run(plan)
            events_dir = Path(result.artifacts or "") / "job_events"
            events = sorted((json.loads(p.read_text()) for p in events_dir.glob("*.json")),
                            key=lambda e: e["counter"])
            text = json.dumps([awx_event(e) for e in events], indent=1, sort_keys=True)
            # paths as they would read inside an AWX execution environment
            text = text.replace(str(out), "/srv/app").replace(str(PLAYBOOK.parent),
                                                              "/runner/project")
            text = text.replace(str(Path(sys.executable).parents[1]), "/usr")
            (HERE / "events" / f"{name}.json").write_text(text + "\n")
            print(f"{name}: {len(events)} events, status {result.status}", file=sys.stderr)


if __name__ == "__main__":
    main()
