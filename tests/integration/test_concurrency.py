"""Guardrails across processes: real `remediator handle` processes racing on one store (their
runs a RecordingExecutor's that take half a second, so the processes overlap), and a storm's
real ansible run over eight hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO, Project, alertmanager_payload, shared_inventory, write_inventory

HOSTS = [f"node-{n}" for n in range(8)]
INVENTORY = shared_inventory({"all": {"hosts": {
    h: {"ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}"} for h in HOSTS}}})


@pytest.fixture
def racing(project: Project, tmp_path: Path) -> Project:
    """The project with eight local hosts and the fast echo playbook at oversight."""
    write_inventory(project.root, INVENTORY)
    project.write_catalog({"name": "echo", "match": {"alertname": "Echo"},
                           "playbook": "echo_vars.yml", "stage": "oversight",
                           "vars": {"note": "labels.note"},
                           "static_vars": {"out_dir": str(tmp_path / "out")}})
    return project


def race(project: Project, payloads: list[dict]) -> list[subprocess.CompletedProcess[str]]:
    """Start one `remediator handle` process per payload at once (tests.fakecli); wait for
    all."""
    env = {**os.environ, "REMEDIATOR_CONFIG": str(project.config), "PYTHONPATH": str(REPO),
           "REMEDIATOR_FAKE_RUN_S": "0.5"}
    env.pop("REMEDIATOR_MAX_STAGE", None)
    procs = []
    for n, payload in enumerate(payloads):
        path = project.root / f"payload-{n}.json"
        path.write_text(json.dumps(payload))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tests.fakecli", "handle", "--json", "-q", str(path)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def echo(host: str, fingerprint: str) -> dict:
    """An Echo alert for ``host``."""
    return {"labels": {"alertname": "Echo", "instance": host, "note": host},
            "fingerprint": fingerprint}


def test_eight_processes_one_alert_one_run(racing: Project) -> None:
    """Eight processes handling the same alert at once produce exactly one playbook run."""
    payload = alertmanager_payload([echo("node-0", "same-alert")])
    results = race(racing, [payload] * 8)
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    records = list(racing.store().records())
    assert len(records) == 8
    ran = [r for r in records if r["runner"] is not None]
    assert len(ran) == 1
    assert ran[0]["outcome"] == "succeeded"
    skipped = [r for r in records if r["runner"] is None]
    assert all("duplicate" in r["decision"]["reason"] for r in skipped)
    assert racing.store().verify()[0] == 8


def test_eight_processes_eight_hosts_all_run(racing: Project) -> None:
    """Eight processes, each for another host, all run: the locks are per (entry, host)."""
    payloads = [alertmanager_payload([echo(h, f"fp-{h}")]) for h in HOSTS]
    results = race(racing, payloads)
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    records = list(racing.store().records())
    assert sorted(r["alert"]["hosts"][0] for r in records if r["outcome"] == "succeeded") == \
        HOSTS
    assert racing.store().verify()[0] == 8


@pytest.mark.ansible
def test_a_storm_in_one_payload_is_one_run(racing: Project) -> None:
    """Eight alerts of one entry in one payload run as one ansible run over eight hosts."""
    payload = alertmanager_payload([{**echo(h, f"fp-{h}"), "labels": {
        "alertname": "Echo", "instance": h, "note": "same"}} for h in HOSTS])
    records = racing.handle(payload)
    assert len(records) == 8
    idents = {r["runner"]["ident"] for r in records}
    assert len(idents) == 1
    assert all(r["batch"]["hosts"] == HOSTS for r in records)
    assert all(r["outcome"] == "succeeded" for r in records)
    assert [list(r["hosts"]) for r in records] == [[h] for h in HOSTS]
    assert len(list(racing.runs.iterdir())) == 1
