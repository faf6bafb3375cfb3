"""The closed-loop example end to end, with the example's own files: dirsize.py -> node_exporter
-> Prometheus (rules.yml) -> Alertmanager -> `remediator serve` (remediations.yml) -> the disk
playbook frees the sandbox -> the alert resolves. Real daemons on free loopback ports."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from remediator.audit import REQUIRED_FIELDS
from remediator.demo import MARKER, make_sandbox
from tests.conftest import REPO, Project
from tests.monitoring import Alertmanager, NodeExporter, Prometheus, wait_for
from tests.serving import Server

pytestmark = [pytest.mark.ansible, pytest.mark.daemon]
COLLECTION = REPO / "remediator" / "collection"  # remediator.fixes, as the playbooks import it

EXAMPLE = REPO / "examples" / "closed-loop"
SCHEMA = json.loads((REPO / "remediator" / "schema" / "audit-record-v1.json").read_text())
HOST = "demo-web-01"
# The example's fixed loopback addresses; the test renders them to free ports.
FIXED = {"alertmanager": "127.0.0.1:19093", "node_exporter": "127.0.0.1:19100",
         "remediator": "127.0.0.1:19095"}


def render(name: str, **addresses: str) -> dict[str, Any]:
    """The example's YAML file ``name`` with its fixed addresses replaced by ``addresses``."""
    text = (EXAMPLE / name).read_text(encoding="utf-8")
    for daemon, address in addresses.items():
        assert FIXED[daemon] in text, f"{name} does not mention {FIXED[daemon]}"
        text = text.replace(FIXED[daemon], address)
    return dict(yaml.safe_load(text))


class ExampleAlertmanager(Alertmanager):
    """Alertmanager with the example's alertmanager.yml, posting to ``remediator`` with the
    bearer token in the file the config names (relative to the config, as run.sh lays it out)."""

    def __init__(self, workdir: Path, *, remediator: str, token: str) -> None:
        super().__init__(workdir)
        self.remediator = remediator
        self.token = token

    def config(self) -> dict[str, Any]:
        """The example's alertmanager.yml, posting to this test's serve."""
        return render("alertmanager.yml", remediator=self.remediator)

    def args(self) -> list[str]:
        """Write the token file the config names, then the config."""
        (hook,) = self.config()["receivers"][0]["webhook_configs"]
        token_file = self.workdir / hook["http_config"]["authorization"]["credentials_file"]
        token_file.write_text(self.token + "\n", encoding="utf-8")
        return super().args()


class ExamplePrometheus(Prometheus):
    """Prometheus with the example's prometheus.yml and rules.yml (copied next to it)."""

    def __init__(self, workdir: Path, *, alertmanager: str, node_exporter: str) -> None:
        super().__init__(workdir, alertmanager=alertmanager)
        self.node_exporter = node_exporter

    def config(self) -> dict[str, Any]:
        """The example's prometheus.yml, with this test's Alertmanager and node_exporter."""
        return render("prometheus.yml", alertmanager=str(self.alertmanager),
                      node_exporter=self.node_exporter)

    def args(self) -> list[str]:
        """Copy the rule files next to the config, then write it."""
        for rules in self.config()["rule_files"]:
            shutil.copy(EXAMPLE / rules, self.workdir / rules)
        return super().args()


@dataclass
class Loop:
    """The running loop."""

    server: Server
    alertmanager: Alertmanager
    prometheus: Prometheus
    dirsize: subprocess.Popen[bytes]


def capacity(project: Project) -> int:
    """The simulated disk size the inventory gives the playbook."""
    inventory = yaml.safe_load((project.root / "inventory.yml").read_text())
    return int(inventory["all"]["children"]["web"]["hosts"][HOST]["disk_capacity_bytes"])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc``; kill it if it has not exited after a few seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def loop(project: Project, tmp_path: Path) -> Iterator[Loop]:
    """The example's loop over the project's (empty) sandbox host, ready to see a full disk."""
    shutil.copy(EXAMPLE / "remediations.yml", project.root)
    shutil.copy(EXAMPLE / "remediator.yml", project.root)  # same paths as the project's
    project.use_store(project.location)  # the store of this run's backend (--store)
    shutil.rmtree(project.sandbox)
    project.sandbox.mkdir()  # an empty disk: nothing fires until the test fills it
    token = secrets.token_urlsafe(32)
    with ExitStack() as stack:
        server = Server(project.config, {"REMEDIATOR_AM_TOKEN": token})
        stack.callback(server.close)
        server.start()
        alertmanager = stack.enter_context(ExampleAlertmanager(
            tmp_path / "alertmanager", remediator=f"127.0.0.1:{server.port}", token=token))
        node = stack.enter_context(NodeExporter(tmp_path / "node-exporter"))
        dirsize = subprocess.Popen(
            [sys.executable, str(EXAMPLE / "dirsize.py"), "--root", str(project.sandbox),
             "--size", str(capacity(project)), "--instance", HOST, "--mountpoint", "/",
             "--out", str(node.textfile_dir)])
        stack.callback(_stop, dirsize)
        prometheus = stack.enter_context(ExamplePrometheus(
            tmp_path / "prometheus", alertmanager=alertmanager.address,
            node_exporter=node.address))
        prometheus.wait_ready("sandbox_used_bytes")
        yield Loop(server, alertmanager, prometheus, dirsize)


def active(loop: Loop) -> list[dict[str, Any]]:
    """The DiskSpaceLow alerts Alertmanager holds as active."""
    return [a for a in loop.alertmanager.alerts(active="true")
            if a["labels"]["alertname"] == "DiskSpaceLow"]


def firing_in_prometheus(loop: Loop) -> list[dict[str, Any]]:
    """Prometheus's firing DiskSpaceLow series (ALERTS)."""
    return loop.prometheus.query('ALERTS{alertname="DiskSpaceLow",alertstate="firing"}')


def records(project: Project) -> list[dict[str, Any]]:
    """Every record in the project's store, in chain order."""
    store = project.store()
    try:
        return list(store.records())
    finally:
        store.close()


def intake_results(project: Project) -> list[dict[str, Any] | None]:
    """Each accepted webhook's result (None while it is not handled yet)."""
    rows = project.query("SELECT result FROM intake ORDER BY id")
    return [json.loads(r) if r else None for (r,) in rows]


def files(root: Path) -> dict[str, int]:
    """The sandbox's files (without the marker) and their sizes."""
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")
            if p.is_file() and p.name != MARKER}


def playbook_task_names(path: Path) -> set[str]:
    """The names of the tasks the playbook runs, those inside blocks included (not the
    blocks'), through ``import_playbook`` of a remediator.fixes playbook and its roles (the
    collection's source: remediator/collection)."""
    def walk(tasks: list[dict[str, Any]]) -> Iterator[str]:
        for task in tasks:
            if "block" in task:
                yield from walk(task["block"])
            else:
                yield task["name"]

    def plays(playbook: Path) -> Iterator[str]:
        for play in yaml.safe_load(playbook.read_text()):
            imported = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
            if imported:
                yield from plays(COLLECTION / "playbooks" / f"{imported.rpartition('.')[2]}.yml")
                continue
            for role in play.get("roles") or ():
                name = (role["role"] if isinstance(role, dict) else role).rpartition(".")[2]
                specs = COLLECTION / "roles" / name / "meta" / "argument_specs.yml"
                if specs.is_file():  # Ansible checks a role's variables in a task of its own
                    main = yaml.safe_load(specs.read_text())["argument_specs"]["main"]
                    yield ("Validating arguments against arg spec 'main' - "
                           f"{main['short_description']}")
                yield from walk(yaml.safe_load(
                    (COLLECTION / "roles" / name / "tasks" / "main.yml").read_text()))
            yield from walk(play.get("tasks") or [])
    return set(plays(path))


def when(stamp: str) -> datetime:
    """An RFC 3339 time (Alertmanager's or remediator's) as an aware datetime."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_the_disk_fills_the_alert_fires_the_fix_runs_once_and_the_alert_resolves(
        project: Project, loop: Loop) -> None:
    """A full sandbox disk fires DiskSpaceLow; serve runs the disk playbook live exactly once
    (Alertmanager's re-deliveries add nothing); the freed disk resolves the alert, and the
    resolution is recorded without a second run."""
    assert active(loop) == [] and records(project) == []
    summary = make_sandbox(project.sandbox)
    before = files(project.sandbox)

    # 1. the alert fires, before any fix
    wait_for("DiskSpaceLow firing in Alertmanager", lambda: bool(active(loop)), 20)
    (fired,) = active(loop)
    assert fired["labels"]["instance"] == HOST and fired["labels"]["mountpoint"] == "/"
    assert [a["metric"]["instance"] for a in firing_in_prometheus(loop)] == [HOST]
    assert [r for r in records(project) if r["mode"] == "live"] == []
    assert files(project.sandbox) == before

    # 2. the fix runs
    fingerprint = fired["fingerprint"]

    def of_alert(status: str) -> list[dict[str, Any]]:
        return [r for r in records(project) if r["alert"]["fingerprint"] == fingerprint
                and r["alert"]["status"] == status]

    wait_for("the live run's record", lambda: bool(of_alert("firing")), 60)

    # 4. the alert resolves: Alertmanager drops it and tells serve
    wait_for("DiskSpaceLow resolved in Alertmanager", lambda: not active(loop), 30)
    wait_for("the resolved alert's record", lambda: bool(of_alert("resolved")), 15)
    assert firing_in_prometheus(loop) == []
    wait_for("every webhook handled", lambda: None not in intake_results(project), 15)
    # Alertmanager authenticated with the token from its credentials_file: no 401 or 403
    metrics = loop.server.request("GET", "/metrics").body.decode()
    codes = re.findall(r'^remediator_webhook_requests_total\{code="(\d+)"', metrics, re.M)
    assert codes == ["202"], metrics
    assert loop.server.stop() == 0
    loop.dirsize.terminate()
    assert loop.dirsize.wait(5) == 0  # dirsize.py stops cleanly on SIGTERM

    # 2 and 5. exactly one run, for this alert; re-deliveries were absorbed
    stored = records(project)
    (fix,) = of_alert("firing")
    (resolved,) = of_alert("resolved")
    assert {r["id"] for r in stored} == {fix["id"], resolved["id"]}
    assert (fix["mode"], fix["decision"]["action"], fix["outcome"]) == ("live", "run",
                                                                        "succeeded")
    assert [p.name for p in project.runs.iterdir()] == [fix["id"]]
    results = intake_results(project)
    assert sum(len(r["records"]) for r in results if r) == 2
    assert sum(r["duplicates"] for r in results if r) >= 1, (
        "no re-delivery reached serve: repeat_interval should re-send the firing alert")
    after = files(project.sandbox)
    assert sum(after.values()) == summary["bytes_fresh"]
    assert len(after) == summary["files_fresh"]
    assert set(after) <= set(before)

    # 3. the record is complete
    for record in stored:
        assert set(REQUIRED_FIELDS) <= set(record)
        jsonschema.validate(record, SCHEMA)
    alert = fix["alert"]
    assert (alert["source"], alert["name"], alert["fingerprint"]) == (
        "alertmanager", "DiskSpaceLow", fingerprint)
    assert alert["labels"] == fired["labels"]
    assert alert["starts_at"] == resolved["alert"]["starts_at"]
    assert when(fix["started_at"]) >= when(fired["startsAt"])  # the fix came after the alert
    assert alert["hosts"] == [HOST]
    assert fix["decision"]["variables"] == {"disk_mountpoint": "/"}
    assert fix["remediation"]["name"] == "disk-space-cleanup"
    assert fix["runner"]["status"] == "successful" and fix["runner"]["ident"] == fix["id"]
    host = fix["hosts"][HOST]
    assert (host["failed"], host["unreachable"], host["changed"]) == (0, 0, 1)
    tasks = {t["name"]: t for t in host["tasks"]}
    assert set(tasks) == playbook_task_names(project.root / "playbooks" /
                                             "disk_space_cleanup.yml")
    assert tasks["Remove the stale files"]["changed"] is True
    assert [(n["channel"], n["status"]) for n in fix["notifications"]] == [("console", "sent")]
    assert f"full record: remediator audit show {fix['id']}" in loop.server.log
    assert (resolved["decision"]["action"], resolved["outcome"]) == ("skip", "not-run")
    assert "alert is resolved" in resolved["decision"]["reason"]
    verify = project.cli("audit", "verify")
    assert verify.exit_code == 0 and "audit chain OK: 2 records" in verify.output
