"""bench/overhead: what `remediator handle` adds to a plain `ansible-playbook` run.

Runs the bundled disk-space playbook against the same sandbox host, in check mode (so every
iteration does identical work), once via plain `ansible-playbook` and once via `remediator
handle` of the example alert, interleaved, and prints the median wall-clock ratio.

    .venv/bin/python bench/overhead.py [--rounds 10]

Target (issue 2): ratio under 1.10. Not a timed test: a figure to report, measured as a ratio
in one script because the machine is noisy.
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

import yaml

from remediator.demo import make_sandbox

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def setup(tmp: Path) -> dict[str, Path]:
    """A project in ``tmp``: catalog (observe), playbooks, inventory, sandbox, alert, vars."""
    root = tmp / "project"
    (root / "playbooks").mkdir(parents=True)
    shutil.copy(REPO / "playbooks" / "disk_space_cleanup.yml", root / "playbooks")
    sandbox = tmp / "sandbox" / "demo-web-01"
    make_sandbox(sandbox)
    inventory = {"all": {"hosts": {"demo-web-01": {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "disk_root_prefix": str(sandbox), "disk_capacity_bytes": 6291456,
        "cleanup_paths": ["/var/cache/app"]}}}}
    (root / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (root / "remediations.yml").write_text(yaml.safe_dump({"version": 1, "remediations": [{
        "name": "disk-space-cleanup", "match": {"alertname": "DiskSpaceLow"},
        "playbook": "disk_space_cleanup.yml", "stage": "observe",
        "vars": {"disk_mountpoint": "labels.mountpoint"},
        "static_vars": {"disk_threshold_pct": 80},
        # every round is a new alert on the same host: let the guardrails allow them all
        "guardrails": {"throttle": {"per_host": 1000, "per_entry": 1000}}}]}))
    (root / "remediator.yml").write_text(
        "catalog: remediations.yml\ninventory: inventory.yml\nplaybooks: playbooks\n"
        "store: state/audit.db\nruns: state/runs\nkeep_runs: 5\n")
    (root / "vars.yml").write_text(yaml.safe_dump({"disk_mountpoint": "/",
                                                   "disk_threshold_pct": 80}))
    return {"root": root, "alert": REPO / "examples" / "alerts" / "disk-space-low.json"}


def fresh_alert(template: Path, dest: Path, n: int) -> Path:
    """The example alert with a new fingerprint, so dedupe does not skip it."""
    body = json.loads(template.read_text())
    for alert in body["alerts"]:
        alert["fingerprint"] = f"overhead-{n:04d}"
    dest.write_text(json.dumps(body))
    return dest


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall-clock seconds of one command, which must succeed (and, for us, really run)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    if "remediator" in cmd[0] and "outcome:  succeeded (runner" not in proc.stdout:
        raise SystemExit(f"remediator did not run the playbook:\n{proc.stdout}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1"}
    env.pop("REMEDIATOR_MAX_STAGE", None)
    with tempfile.TemporaryDirectory() as tmp:
        paths = setup(Path(tmp))
        root = paths["root"]
        env["ANSIBLE_HOME"] = str(Path(tmp) / "ansible-home")
        plain = [str(BIN / "ansible-playbook"), "--check", "--diff", "-i", "inventory.yml",
                 "--limit", "demo-web-01", "-e", "@vars.yml", "playbooks/disk_space_cleanup.yml"]
        alerts = [fresh_alert(paths["alert"], root / f"alert-{n}.json", n)
                  for n in range(args.rounds + 1)]

        def ours(n: int) -> list[str]:
            return [str(BIN / "remediator"), "--config", "remediator.yml", "handle", "-q",
                    str(alerts[n])]

        timed(plain, root, env)  # warm both paths (page cache, .pyc)
        timed(ours(args.rounds), root, env)
        plain_s, ours_s = [], []
        for n in range(args.rounds):
            first_plain = n % 2 == 0  # alternate the order to cancel drift
            for command, times in ((plain, plain_s), (ours(n), ours_s)) if first_plain else (
                    (ours(n), ours_s), (plain, plain_s)):
                times.append(timed(command, root, env))
            print(f"round {n + 1}/{args.rounds}: ansible-playbook {plain_s[-1]:.2f}s  "
                  f"remediator {ours_s[-1]:.2f}s", file=sys.stderr)
        ratios = [o / p for o, p in zip(ours_s, plain_s, strict=True)]
        result = {
            "rounds": args.rounds,
            "ansible_playbook_median_s": round(statistics.median(plain_s), 3),
            "remediator_median_s": round(statistics.median(ours_s), 3),
            "median_ratio": round(statistics.median(ours_s) / statistics.median(plain_s), 3),
            "median_of_pair_ratios": round(statistics.median(ratios), 3),
            "target": "< 1.10",
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
