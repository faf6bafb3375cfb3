"""Each bundled playbook driven by its example alert through `remediator handle`, on a podman container.

The target is a real container from the local Debian image (``scripts/setup-molecule.sh``), reached
with ``containers.podman.podman``. The broken state comes from the playbook's molecule ``prepare.yml``,
and the molecule ``verify.yml`` files judge the result: ``NAME/verify.yml`` that the fix worked,
``NAME/verify_check.yml`` that a check-mode run left everything as it was. The catalog entry (match,
target, variables) is the repository's own; its static_vars give way to the scenario's host vars, sized
for the container.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from remediator.cli import cli
from remediator.store import StoreLocation

from ..molecule.podenv import IMAGE, MOLECULE, REPO, SETUP_HINT, env, missing

pytestmark = [pytest.mark.ansible, pytest.mark.container]

ALERTS = REPO / "tests" / "data" / "alerts"
HOST = "app-01"  # the example alerts' instance label is app-01:9100

# playbook -> (example alert, tasks a live run changes, tasks a check run reports as changing)
CASES: dict[str, tuple[str, set[str], set[str]]] = {
    "disk_space_cleanup": ("disk-space-low.json", {"Remove the stale files"},
                           {"Remove the stale files"}),
    "service_restart": ("service-down.json",
                        {"Report what is wrong", "Stop the hung process gently (TERM)",
                         "Stop the hung process firmly (KILL) when TERM was not enough",
                         "Start the service in the background"},
                        {"Report what is wrong"}),
    "log_rotate": ("log-file-too-large.json",
                   {"Copy the log to its rotation",
                    "Truncate the log in place (its writers keep their open file)",
                    "Compress the rotation", "Remove the oldest rotations beyond log_keep"},
                   {"Copy the log to its rotation", "Compress the rotation",
                    "Remove the oldest rotations beyond log_keep"}),
    "runaway_process": ("process-runaway.json",
                        {"Stop the runaway processes (TERM, then KILL after the grace period)"},
                        {"Stop the runaway processes (TERM, then KILL after the grace period)"}),
    "inode_cleanup": ("inodes-low.json", {"Delete the stale files"}, {"Delete the stale files"}),
}


@dataclass
class Scenario:
    """What a playbook's molecule scenario says about its container."""

    options: list[str]  # podman run options
    volumes: list[str]  # "NAME:PATH", each made by the dependency command
    dependency: str  # the shell command that creates the volumes ("" when none)
    host_vars: dict[str, Any]


def scenario_settings(playbook: str) -> Scenario:
    """Read molecule/PLAYBOOK/molecule.yml."""
    config = yaml.safe_load((MOLECULE / playbook / "molecule.yml").read_text(encoding="utf-8"))
    (platform,) = config["platforms"]
    (host_vars,) = config["provisioner"]["inventory"]["host_vars"].values()
    return Scenario(list(platform.get("extra_opts", [])), list(platform.get("volumes", [])),
                    config.get("dependency", {}).get("command", ""), dict(host_vars))


@dataclass
class Target:
    """A podman container acting as host app-01 of a throw-away remediator project."""

    playbook: str
    container: str
    root: Path

    def ansible(self, playbook: Path) -> subprocess.CompletedProcess[str]:
        """Run ``playbook`` (a molecule prepare or verify) against the container."""
        return subprocess.run(
            ["ansible-playbook", "-i", str(self.root / "inventory.yml"), str(playbook)],
            cwd=self.root, env=env(), capture_output=True, text=True, timeout=300, check=False)

    def prepare(self) -> None:
        """Create the broken state with the scenario's prepare playbook."""
        proc = self.ansible(MOLECULE / self.playbook / "prepare.yml")
        assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]

    def verify(self, playbook: str) -> subprocess.CompletedProcess[str]:
        """Run a verify playbook of this playbook's scenario: verify.yml (fixed) or
        verify_check.yml (the broken state intact)."""
        return self.ansible(MOLECULE / self.playbook / playbook)

    def handle(self, stage: str) -> dict[str, Any]:
        """Feed the example alert to `remediator handle --json` with the entry at ``stage``."""
        self.write_catalog(stage)
        alert = ALERTS / CASES[self.playbook][0]
        result = CliRunner().invoke(
            cli, ["--config", str(self.root / "remediator.yml"), "handle", "--json", str(alert)],
            env={**env(), "REMEDIATOR_MAX_STAGE": None}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        (record,) = json.loads(result.stdout)
        assert record["alert"]["hosts"] == [HOST]
        return dict(record)

    def write_catalog(self, stage: str) -> None:
        """The repository's catalog entry for this playbook, at ``stage``, without static_vars."""
        catalog = yaml.safe_load((REPO / "remediations.yml").read_text(encoding="utf-8"))
        # the first: the entry the example alert is for (the node mixin's entries come later)
        entry = next(e for e in catalog["remediations"] if e["playbook"] == f"{self.playbook}.yml")
        entry = {**entry, "stage": stage}
        entry.pop("static_vars", None)
        text = yaml.safe_dump({"version": 1, "remediations": [entry]}, sort_keys=False)
        (self.root / "remediations.yml").write_text(text, encoding="utf-8")


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run podman with the project's containers.conf."""
    proc = subprocess.run(["podman", *args], env=env(), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0 or not check, f"podman {' '.join(args)}: {proc.stderr}"
    return proc


@pytest.fixture(params=sorted(CASES))
def target(request: pytest.FixtureRequest, tmp_path: Path,
           store_location: StoreLocation) -> Iterator[Target]:
    """A fresh container and project for one playbook, removed afterwards."""
    gaps = missing()
    assert not gaps, f"missing {', '.join(gaps)}: {SETUP_HINT}"
    playbook: str = request.param
    scenario = scenario_settings(playbook)
    name = f"remediator-it-{uuid.uuid4().hex[:8]}"
    options, volumes, dependency = list(scenario.options), [], scenario.dependency
    for i, spec in enumerate(scenario.volumes):  # fresh volumes (e.g. the inode one) of our own
        old, path = spec.split(":", 1)
        volumes.append(f"{name}-{i}")
        dependency = dependency.replace(old, volumes[-1])
        options.append(f"--volume={volumes[-1]}:{path}")
    if volumes:
        subprocess.run(["sh", "-c", dependency], env=env(), check=True, timeout=60,
                       capture_output=True)
    podman("run", "-d", "--name", name, *options, IMAGE, "sleep", "infinity")
    root = tmp_path / "project"
    shutil.copytree(REPO / "playbooks", root / "playbooks",
                    ignore=shutil.ignore_patterns("README.md", "__pycache__"))
    inventory = {"all": {"hosts": {HOST: {
        **scenario.host_vars, "ansible_connection": "containers.podman.podman", "ansible_host": name}}}}
    (root / "inventory.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    (root / "remediator.yml").write_text(
        "catalog: remediations.yml\ninventory: inventory.yml\nplaybooks: playbooks\n"
        f"store: {store_location}\nruns: state/runs\n", encoding="utf-8")
    try:
        yield Target(playbook, name, root)
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)
        for volume in volumes:
            podman("volume", "rm", "-f", volume, check=False)


def changed_tasks(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The record's tasks on app-01 that changed (or, in check mode, would change), by name."""
    return {t["name"]: t for t in record["hosts"][HOST]["tasks"] if t["changed"]}


def test_observe_changes_nothing_then_oversight_fixes_the_host(target: Target) -> None:
    """observe: a check-mode run, its would-be changes in the record, the broken state intact
    (the check scenario's verify passes); then oversight, on that same broken state: a live run
    fixes the container (the scenario's verify passes) and the record names the changes."""
    target.prepare()
    record = target.handle("observe")
    assert (record["mode"], record["outcome"]) == ("check", "succeeded"), record["hosts"]
    would = changed_tasks(record)
    assert set(would) == CASES[target.playbook][2], sorted(would)
    intact = target.verify("verify_check.yml")
    assert intact.returncode == 0, intact.stdout[-5000:]
    record = target.handle("oversight")
    assert (record["mode"], record["outcome"]) == ("live", "succeeded"), record["hosts"]
    assert set(changed_tasks(record)) == CASES[target.playbook][1]
    fixed = target.verify("verify.yml")
    assert fixed.returncode == 0, fixed.stdout[-5000:]


@pytest.mark.parametrize("target", ["service_restart"], indirect=True)
def test_service_still_unhealthy_after_restart_fails_for_a_person(target: Target) -> None:
    """A restart that does not bring the health URL back is a failed outcome whose message says so."""
    target.prepare()
    inventory = yaml.safe_load((target.root / "inventory.yml").read_text(encoding="utf-8"))
    web = inventory["all"]["hosts"][HOST]["restartable_services"]["web"]
    web["health_url"] = "http://127.0.0.1:8080/missing.txt"  # the restarted server answers 404
    web["start_wait_s"] = 2
    (target.root / "inventory.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    record = target.handle("oversight")
    assert record["outcome"] == "failed"
    (failed,) = [t for t in record["hosts"][HOST]["tasks"] if t["status"] == "failed"]
    assert failed["name"] == "Check that the service is healthy after the restart"
    assert "service web is still not healthy after the restart" in failed["msg"]
    assert "a person must look" in failed["msg"]

