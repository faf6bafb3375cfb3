"""Shared fixtures: a throw-away project (catalog, playbooks, inventory, sandbox) and its CLI."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from remediator.cli import cli
from remediator.demo import make_sandbox
from remediator.store.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
PAYLOADS = DATA / "payloads"

# ansible-runner needs ansible-playbook on PATH: the venv's bin folder.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def disk_entry(stage: str = "observe", **extra: Any) -> dict[str, Any]:
    """The catalog entry for the bundled disk-space playbook, at ``stage``."""
    entry: dict[str, Any] = {
        "name": "disk-space-cleanup",
        "match": {"alertname": "DiskSpaceLow"},
        "playbook": "disk_space_cleanup.yml",
        "stage": stage,
        "vars": {"disk_mountpoint": "labels.mountpoint"},
        "static_vars": {"disk_threshold_pct": 80},
        "timeout": 300,
    }
    entry.update(extra)
    return entry


def alertmanager_payload(alerts: list[Mapping[str, Any]]) -> dict[str, Any]:
    """An Alertmanager v4 webhook payload around ``alerts`` (each: labels, annotations, status)."""
    return {
        "version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "remediator",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093", "truncatedAlerts": 0,
        "alerts": [{
            "status": a.get("status", "firing"),
            "labels": dict(a["labels"]),
            "annotations": dict(a.get("annotations", {})),
            "startsAt": a.get("startsAt", "2026-11-26T09:00:00Z"),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": a.get("fingerprint", f"fp{i:04d}"),
        } for i, a in enumerate(alerts)],
    }


def disk_alert(host: str = "demo-web-01", status: str = "firing", **labels: str) -> dict[str, Any]:
    """One DiskSpaceLow alert for ``host``."""
    return {"status": status, "labels": {"alertname": "DiskSpaceLow", "instance": f"{host}:9100",
                                         "mountpoint": "/", "severity": "warning", **labels},
            "annotations": {"summary": f"Disk space low on {host}"}}


@dataclass
class Project:
    """A project folder laid out like a user's: config, catalog, playbooks, inventory."""

    root: Path
    sandbox: Path

    @property
    def config(self) -> Path:
        return self.root / "remediator.yml"

    @property
    def store_path(self) -> Path:
        return self.root / "state" / "audit.db"

    @property
    def runs(self) -> Path:
        return self.root / "state" / "runs"

    def configure(self, extra: Mapping[str, Any]) -> None:
        """Add settings (e.g. notifications) to the project's config file."""
        text = self.config.read_text(encoding="utf-8") + yaml.safe_dump(dict(extra))
        self.config.write_text(text, encoding="utf-8")

    def write_catalog(self, *entries: Mapping[str, Any]) -> None:
        """Replace the catalog with ``entries``."""
        text = yaml.safe_dump({"version": 1, "remediations": list(entries)}, sort_keys=False)
        (self.root / "remediations.yml").write_text(text, encoding="utf-8")

    def cli(self, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None
            ) -> Result:
        """Run the real CLI in-process with this project's config."""
        runner = CliRunner()
        return runner.invoke(cli, ["--config", str(self.config), *args], input=stdin,
                             env={"REMEDIATOR_MAX_STAGE": None, **(env or {})},
                             catch_exceptions=False)

    def handle(self, payload: Mapping[str, Any] | list[Any], *args: str) -> list[dict[str, Any]]:
        """Feed ``payload`` to ``handle --json`` and return the records (asserting exit 0)."""
        result = self.cli("handle", "--json", *args, "-", stdin=json.dumps(payload))
        assert result.exit_code == 0, result.output
        return list(json.loads(result.stdout))

    def store(self) -> SqliteStore:
        return SqliteStore(self.store_path)

    def snapshot(self) -> dict[str, tuple[int, float]]:
        """Every file under the sandbox with its size and mtime."""
        return {str(p.relative_to(self.sandbox)): (p.stat().st_size, p.stat().st_mtime)
                for p in sorted(self.sandbox.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A fresh project with the bundled disk playbook, the test playbooks and a sandbox host."""
    root = tmp_path / "project"
    (root / "playbooks").mkdir(parents=True)
    shutil.copy(REPO / "playbooks" / "disk_space_cleanup.yml", root / "playbooks")
    for playbook in (DATA / "playbooks").glob("*.yml"):
        shutil.copy(playbook, root / "playbooks")
    sandbox = tmp_path / "sandbox" / "demo-web-01"
    make_sandbox(sandbox)
    (tmp_path / "out").mkdir()
    inventory = {"all": {"children": {"web": {"hosts": {
        "demo-web-01": {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "disk_root_prefix": str(sandbox),
            "disk_capacity_bytes": 6291456,
            "cleanup_paths": ["/var/cache/app"],
        },
        "demo-web-02": {
            "ansible_connection": "local",
            "ansible_host": "10.99.0.2",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        },
    }}}}}
    (root / "inventory.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    (root / "remediator.yml").write_text(
        "catalog: remediations.yml\ninventory: inventory.yml\nplaybooks: playbooks\n"
        "store: state/audit.db\nruns: state/runs\n", encoding="utf-8")
    project = Project(root=root, sandbox=sandbox)
    project.write_catalog(disk_entry())
    yield project


@pytest.fixture
def sink() -> Iterator[Any]:
    """A real HTTP receiver on loopback recording every request."""
    from .httpsink import serve

    yield from serve()
