"""Re-record the runner events used by tests/unit/test_results.py (run from the repo root).

    .venv/bin/python tests/data/events/record_events.py

Runs tests/data/playbooks/mixed.yml through the real LocalExecutor in check and live mode
against two local hosts and one unreachable host, and saves each run's job events as JSON lines.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from remediator.executor import RunPlan
from remediator.executor.local import LocalExecutor
from remediator.models import Mode

HERE = Path(__file__).resolve().parent
PLAYBOOK = HERE.parent / "playbooks" / "mixed.yml"
INVENTORY = """
all:
  hosts:
    first: {ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}"}
    second: {ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}"}
    gone: {ansible_host: 127.0.0.1, ansible_port: 1, ansible_connection: ssh,
           ansible_ssh_common_args: "-o ConnectTimeout=2"}
"""


def main() -> None:
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "out").mkdir()
        inventory = tmp_path / "hosts.yml"
        inventory.write_text(INVENTORY)
        executor = LocalExecutor(tmp_path / "runs")
        for mode in (Mode.CHECK, Mode.LIVE):
            plan = RunPlan(ident=f"mixed-{mode}", playbook=PLAYBOOK, inventory=(inventory,),
                           hosts=("first", "second", "gone"), mode=mode,
                           trusted_vars={"out_dir": str(tmp_path / "out"),
                                         "secret_password": "hunter2-SECRET"})
            result = executor.run(plan)
            events_dir = Path(result.artifacts or "") / "job_events"
            events = [json.loads(p.read_text()) for p in events_dir.glob("*.json")]
            events.sort(key=lambda e: e["counter"])
            out = HERE / f"mixed-{mode}.jsonl"
            with out.open("w") as fh:
                for event in events:
                    fh.write(json.dumps(event, sort_keys=True) + "\n")
            print(f"{out.name}: {len(events)} events, status {result.status}, rc {result.rc}",
                  file=sys.stderr)


if __name__ == "__main__":
    main()
