"""The Mitogen accelerator: real runs give what ansible's own strategy gives, faster.

Every run here is real ansible-runner and ansible-core with Mitogen's strategy plugins from this
Python's site-packages; nothing is mocked. The comparisons run the same playbook with and
without the accelerator and require the same per-host, per-task results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from remediator.executor import RunPlan
from remediator.executor.local import LocalExecutor
from remediator.models import Mode, RunResult

from ..conftest import DATA, REPO, Project, alertmanager_payload, disk_alert, disk_entry

LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
MIXED_HOSTS = {
    "first": LOCAL, "second": LOCAL,
    "gone": {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh",
             "ansible_ssh_common_args": "-o ConnectTimeout=2"},
}
SECRET = "hunter2-SECRET-mitogen"


def shape(run: RunResult) -> dict[str, Any]:
    """What a record keeps of a run, without what differs between any two runs."""
    return {"status": str(run.status), "rc": run.rc, "outcome": str(run.outcome),
            "hosts": {name: {"ok": h.ok, "changed": h.changed, "failed": h.failed,
                             "unreachable": h.unreachable, "skipped": h.skipped,
                             "tasks": [(t.name, t.action, t.status, t.changed)
                                       for t in h.tasks]}
                      for name, h in run.hosts.items()}}


def mixed_run(tmp_path: Path, accelerator: str, mode: Mode) -> tuple[RunResult, Path]:
    """tests/data/playbooks/mixed.yml over two local hosts and one unreachable one."""
    root = tmp_path / f"{accelerator}-{mode}"
    (root / "out").mkdir(parents=True)
    inventory = root / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": MIXED_HOSTS}}))
    executor = LocalExecutor(root / "runs", accelerator=accelerator)
    plan = RunPlan(ident=f"mixed-{accelerator}-{mode}", playbook=DATA / "playbooks" / "mixed.yml",
                   inventory=(inventory,), hosts=("first", "second", "gone"), mode=mode,
                   trusted_vars={"out_dir": str(root / "out"), "secret_password": SECRET})
    return executor.run(plan), root / "out"


@pytest.mark.ansible
@pytest.mark.parametrize("mode", [Mode.CHECK, Mode.LIVE])
def test_mitogen_gives_the_results_of_ansibles_own_strategy(tmp_path: Path, mode: Mode) -> None:
    """ok, changed with a diff, a loop, skipped, no_log, ignored, failed and unreachable hosts:
    the same per-host, per-task results and the same files, and the strategy is recorded."""
    plain, plain_out = mixed_run(tmp_path, "none", mode)
    fast, fast_out = mixed_run(tmp_path, "mitogen", mode)
    assert plain.strategy is None
    assert fast.strategy == "mitogen_linear"
    assert shape(fast) == shape(plain)
    assert shape(fast)["hosts"]["second"]["failed"] == 1
    assert shape(fast)["hosts"]["gone"]["unreachable"] == 1
    assert sorted(p.name for p in fast_out.iterdir()) == sorted(p.name for p in plain_out.iterdir())
    if mode is Mode.CHECK:
        assert list(fast_out.iterdir()) == []
    else:
        assert (fast_out / "first.txt").read_text() == "new content\n"
    artifacts = Path(fast.artifacts or "")
    assert SECRET not in "".join(p.read_text(errors="replace")
                                 for p in artifacts.rglob("*") if p.is_file())


@pytest.mark.ansible
@pytest.mark.parametrize(("accelerator", "shared"), [("none", False), ("mitogen", True)])
def test_mitogen_really_runs_a_hosts_tasks_in_one_interpreter(tmp_path: Path, accelerator: str,
                                                              shared: bool) -> None:
    """Proof the accelerator took effect, not only its name in the record: under Mitogen two
    tasks' commands share a parent process; under ansible's own strategy they never do."""
    out = tmp_path / "out"
    out.mkdir()
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"one": LOCAL, "two": LOCAL}}}))
    run = LocalExecutor(tmp_path / "runs", accelerator=accelerator).run(RunPlan(
        ident="pids", playbook=DATA / "playbooks" / "interpreters.yml", inventory=(inventory,),
        hosts=("one", "two"), mode=Mode.LIVE, trusted_vars={"out_dir": str(out)}))
    assert str(run.outcome) == "succeeded", run.error
    pids = {host: (out / f"{host}.pids").read_text().split() for host in ("one", "two")}
    assert all((first == second) is shared for first, second in pids.values()), pids


@pytest.mark.ansible
def test_a_storm_under_mitogen_fixes_each_host_once_with_one_record_each(
        project: Project, tmp_path: Path) -> None:
    """The config's accelerator: one coalesced live run over several hosts, each alert's record
    pointing at it with the strategy, and each host's marker written."""
    markers = tmp_path / "markers"
    markers.mkdir()
    hosts = [f"storm-{n}" for n in range(6)]
    (project.root / "inventory.yml").write_text(yaml.safe_dump(
        {"all": {"hosts": dict.fromkeys(hosts, LOCAL)}}))
    (project.root / "playbooks" / "touch.yml").write_text(
        (REPO / "bench" / "playbooks" / "touch.yml").read_text())
    project.configure({"accelerator": "mitogen"})
    project.write_catalog({"name": "touch", "match": {"alertname": "Storm"},
                           "playbook": "touch.yml", "stage": "oversight",
                           "static_vars": {"marker_dir": str(markers)},
                           "guardrails": {"blast_radius": {"max_hosts": len(hosts)}}})
    records = project.handle(alertmanager_payload([
        {"labels": {"alertname": "Storm", "instance": f"{h}:9100"}, "fingerprint": f"fp-{h}"}
        for h in hosts]))
    assert len(records) == len(hosts)
    assert {r["outcome"] for r in records} == {"succeeded"}
    assert len({r["runner"]["ident"] for r in records}) == 1
    assert {r["runner"]["strategy"] for r in records} == {"mitogen_linear"}
    assert sorted(p.name for p in markers.iterdir()) == hosts
    schema = json.loads((REPO / "remediator" / "schema" / "audit-record-v1.json").read_text())
    for record in records:
        jsonschema.validate(record, schema)
    assert project.cli("audit", "verify").exit_code == 0


@pytest.mark.ansible
def test_an_entry_opts_out_of_the_configs_accelerator(project: Project) -> None:
    """``accelerator: none`` on an entry runs it with ansible's own strategy; ``catalog list``
    shows each entry's effective accelerator."""
    project.configure({"accelerator": "mitogen"})
    project.write_catalog(disk_entry("oversight", accelerator="none"),
                          {**disk_entry("oversight"), "name": "default-fast",
                           "match": {"alertname": "Other"}})
    listed = json.loads(project.cli("catalog", "list", "--json").stdout)
    assert [(row["name"], row["accelerator"]) for row in listed] == [
        ("disk-space-cleanup", "none"), ("default-fast", "mitogen")]
    before = project.snapshot()
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    assert record["outcome"] == "succeeded"
    assert "strategy" not in record["runner"]
    assert project.snapshot() != before


@pytest.mark.ansible
def test_an_entry_opts_in_and_check_mode_still_changes_nothing(project: Project) -> None:
    """An observe-stage entry with Mitogen runs in check mode: the sandbox is untouched."""
    project.write_catalog(disk_entry("observe", accelerator="mitogen"))
    before = project.snapshot()
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    assert record["mode"] == "check"
    assert record["runner"]["strategy"] == "mitogen_linear"
    assert record["hosts"]["demo-web-01"]["changed"] > 0  # it would have changed files
    assert project.snapshot() == before


@pytest.mark.ansible
def test_the_strategy_chosen_in_the_environment_keeps_its_kind(project: Project) -> None:
    """ANSIBLE_STRATEGY=free becomes mitogen_free; a strategy Mitogen lacks stops ``handle``
    before it accepts anything, naming the entry that asked for the accelerator."""
    project.write_catalog(disk_entry("observe", accelerator="mitogen",
                                     guardrails={"cooldown": 0}))
    payload = json.dumps(alertmanager_payload([disk_alert()]))
    result = project.cli("handle", "--json", "-", env={"ANSIBLE_STRATEGY": "free"},
                         stdin=payload)
    (record,) = json.loads(result.stdout)
    assert record["runner"]["strategy"] == "mitogen_free"
    assert record["outcome"] == "succeeded"
    result = project.cli("handle", "--json", "-", env={"ANSIBLE_STRATEGY": "debug"},
                         stdin=payload.replace("fp0000", "another"))
    assert result.exit_code == 2
    assert "no Mitogen counterpart" in result.stderr
    assert "entry 'disk-space-cleanup': key 'accelerator'" in result.stderr
    assert project.query("SELECT count(*) FROM records")[0][0] == 1


def test_a_broken_mitogen_install_is_a_config_error_naming_the_key(project: Project,
                                                                    tmp_path: Path) -> None:
    """An ``ansible_mitogen`` without its strategy plugins (a half-removed install) stops
    ``handle`` before it accepts anything: exit 2, naming the config file and key; ``check``
    lists the same problem."""
    broken = tmp_path / "broken" / "ansible_mitogen"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("")
    project.configure({"accelerator": "mitogen"})
    env = {**os.environ, "PYTHONPATH": str(broken.parent)}
    env.pop("REMEDIATOR_MAX_STAGE", None)

    def remediator(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "remediator", "--config",
                               str(project.config), *args], env=env, capture_output=True,
                              text=True, check=False, timeout=120,
                              input=json.dumps(alertmanager_payload([disk_alert()])))

    handled = remediator("handle", "--json", "-")
    assert handled.returncode == 2, handled.stderr
    assert f"{project.config}: key 'accelerator': accelerator 'mitogen' is not installed" \
        in handled.stderr
    assert handled.stdout == ""
    assert not project.has_store()
    checked = remediator("catalog", "validate")
    assert checked.returncode == 2
    assert f"{project.config}: key 'accelerator'" in checked.stdout + checked.stderr
