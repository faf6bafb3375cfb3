"""bench/storm: an alert storm handled as one coalesced run versus one run per alert.

200 alerts of one type for 200 hosts (local-connection aliases of this machine), each fix one
module call per host. Coalesced: one `remediator handle` of one payload holding all 200
alerts (one ansible run, bounded by the blast radius, set to 200 here). One run per alert: 10
alerts handled one payload each, timed, and the mean extrapolated to 200.

    .venv/bin/python bench/storm.py [--hosts 200] [--sample 10] [--forks 20]
                                    [--accelerator none|mitogen|both]

Both variants run with the same accelerator, so each figure compares like with like: with
``both`` (the default) the script prints one figure with ansible's own strategy and one with
Mitogen's (``accelerator: mitogen`` in remediator.yml).

Target (issue 4): a speed-up of at least 20x.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def project(root: Path, hosts: int, accelerator: str) -> Path:
    """A project: the touch playbook, ``hosts`` local hosts, one oversight entry."""
    (root / "playbooks").mkdir(parents=True)
    shutil.copy(HERE / "playbooks" / "touch.yml", root / "playbooks")
    (root / "markers").mkdir()
    local = {"ansible_connection": "local",
             "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    inventory = {"all": {"hosts": {f"storm-{n:03d}": local for n in range(hosts)}}}
    (root / "inventory.yml").write_text(yaml.safe_dump(inventory))
    entry = {"name": "touch", "match": {"alertname": "Storm"}, "playbook": "touch.yml",
             "stage": "oversight", "static_vars": {"marker_dir": str(root / "markers")},
             "guardrails": {"blast_radius": {"max_hosts": hosts},
                            "throttle": {"per_entry": 10 * hosts},
                            "recurrence": {"overall": 10 * hosts}}}
    (root / "remediations.yml").write_text(yaml.safe_dump({"version": 1,
                                                           "remediations": [entry]}))
    (root / "remediator.yml").write_text(
        "catalog: remediations.yml\ninventory: inventory.yml\nplaybooks: playbooks\n"
        f"store: state/audit.db\nruns: state/runs\naccelerator: {accelerator}\n")
    return root / "remediator.yml"


def payload(hosts: list[str], tag: str) -> str:
    """One Alertmanager webhook body with a Storm alert per host."""
    return json.dumps({"version": "4", "groupKey": "{}:{}", "status": "firing",
                       "receiver": "remediator", "alerts": [
                           {"status": "firing", "labels": {"alertname": "Storm",
                                                           "instance": f"{h}:9100"},
                            "annotations": {}, "startsAt": "2026-11-26T10:00:00Z",
                            "fingerprint": f"{tag}-{h}"} for h in hosts]})


def handle(config: Path, body: str, env: dict[str, str]) -> tuple[float, list[dict]]:
    """Time one `remediator handle --json` of ``body``; its records."""
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "remediator"), "--config", str(config), "handle", "--json",
                           "-q", "-"], input=body, env=env, capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return elapsed, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--sample", type=int, default=10)
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--no-pipelining", action="store_true",
                        help="leave ANSIBLE_PIPELINING off (it is on for both variants)")
    parser.add_argument("--accelerator", choices=["none", "mitogen", "both"], default="both",
                        help="the project's accelerator for both variants (both: one figure each)")
    args = parser.parse_args()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "ANSIBLE_FORKS": str(args.forks),
           "ANSIBLE_PIPELINING": "0" if args.no_pipelining else "1"}
    env.pop("REMEDIATOR_MAX_STAGE", None)
    accelerators = ["none", "mitogen"] if args.accelerator == "both" else [args.accelerator]
    results = [storm(args, env, accelerator) for accelerator in accelerators]
    if len(results) == 1:
        print(json.dumps(results[0], indent=2))
        return
    # the strictest figure: the best coalesced run against the fastest way to run one alert
    coalesced = min(results, key=lambda r: r["coalesced_s"])
    single = min(results, key=lambda r: r["one_run_per_alert_mean_s"])
    print(json.dumps({"figures": results, "best_against_fastest": {
        "coalesced": coalesced["accelerator"], "coalesced_s": coalesced["coalesced_s"],
        "one_run_per_alert": single["accelerator"],
        "one_run_per_alert_extrapolated_s": single["one_run_per_alert_extrapolated_s"],
        "speedup": round(single["one_run_per_alert_extrapolated_s"] / coalesced["coalesced_s"],
                         1),
        "target": ">= 20"}}, indent=2))


def storm(args: argparse.Namespace, env: dict[str, str], accelerator: str) -> dict[str, Any]:
    """Both variants with one accelerator: the sample of single runs, then the coalesced run."""
    hosts = [f"storm-{n:03d}" for n in range(args.hosts)]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**env, "ANSIBLE_HOME": str(Path(tmp) / "ansible-home")}
        single = project(Path(tmp) / "single", args.hosts, accelerator)
        times = []
        for n, host in enumerate(hosts[: args.sample]):
            elapsed, records = handle(single, payload([host], "one"), env)
            assert records[0]["outcome"] == "succeeded", records[0]
            times.append(elapsed)
            print(f"  [{accelerator}] one alert, one run {n + 1}/{args.sample}: {elapsed:.2f}s",
                  file=sys.stderr)
        storm_project = project(Path(tmp) / "storm", args.hosts, accelerator)
        elapsed, records = handle(storm_project, payload(hosts, "storm"), env)
        print(f"  [{accelerator}] {args.hosts} alerts, coalesced: {elapsed:.2f}s",
              file=sys.stderr)
        runs = {r["runner"]["ident"] for r in records if r["runner"]}
        strategies = sorted({r["runner"].get("strategy") or "linear"
                             for r in records if r["runner"]})
        succeeded = sum(r["outcome"] == "succeeded" for r in records)
        markers = len(list((Path(tmp) / "storm" / "markers").iterdir()))
    per_alert = statistics.mean(times)
    return {
        "accelerator": accelerator, "strategy": ",".join(strategies),
        "hosts": args.hosts, "forks": args.forks, "pipelining": not args.no_pipelining,
        "one_run_per_alert_mean_s": round(per_alert, 2),
        "one_run_per_alert_extrapolated_s": round(per_alert * args.hosts, 1),
        "coalesced_s": round(elapsed, 2),
        "coalesced_runs": len(runs), "coalesced_records": len(records),
        "coalesced_succeeded": succeeded, "hosts_fixed": markers,
        "speedup": round(per_alert * args.hosts / elapsed, 1),
        "target": ">= 20",
    }


if __name__ == "__main__":
    main()
