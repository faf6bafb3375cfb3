"""A reused runs folder never carries check mode or variables from one run into the next."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator.errors import ExecutionError
from remediator.executor import RunPlan
from remediator.executor.local import LocalExecutor
from remediator.models import Mode

from ..conftest import Project, alertmanager_payload, disk_alert, disk_entry


@pytest.mark.ansible
def test_live_run_after_check_run_is_really_live(project: Project) -> None:
    """A check run then a live run in the same runs folder: the live one removes files."""
    before = project.snapshot()
    (check,) = project.handle(alertmanager_payload([disk_alert()]))
    assert check["mode"] == "check"
    assert project.snapshot() == before
    project.write_catalog(disk_entry("oversight"))
    (live,) = project.handle(alertmanager_payload([disk_alert()]))
    assert live["mode"] == "live"
    assert project.snapshot() != before
    assert live["runner"]["ident"] != check["runner"]["ident"]
    check_cmd = (project.runs / check["id"] / "env" / "cmdline").read_text()
    live_cmd = (project.runs / live["id"] / "env" / "cmdline").read_text()
    assert "--check" in check_cmd and "--check" not in live_cmd


@pytest.mark.ansible
def test_variables_do_not_leak_between_runs(project: Project, tmp_path: Path) -> None:
    """A variable given to one run is absent from the next run that does not give it."""
    out = tmp_path / "out"
    project.write_catalog({
        "name": "echo", "match": {"alertname": "Echo"}, "playbook": "echo_vars.yml",
        "stage": "oversight",
        "vars": {"note": "labels.note",
                 "detail": {"from": "annotations.detail", "required": False}},
        "static_vars": {"out_dir": str(out)}, "guardrails": {"cooldown": 0},
    })
    first = {"labels": {"alertname": "Echo", "instance": "demo-web-01", "note": "one"},
             "annotations": {"detail": "secret-from-run-one"}}
    second = {"labels": {"alertname": "Echo", "instance": "demo-web-01", "note": "two"},
              "fingerprint": "another-alert"}
    project.handle(alertmanager_payload([first]))
    assert (out / "detail.txt").read_text() == "secret-from-run-one"
    (record,) = project.handle(alertmanager_payload([second]))
    assert record["outcome"] == "succeeded"
    assert (out / "note.txt").read_text() == "two"
    assert (out / "detail.txt").read_text() == ""


def test_an_existing_run_folder_is_never_reused(tmp_path: Path) -> None:
    """Preparing a run whose folder exists is refused instead of reusing its env files."""
    executor = LocalExecutor(tmp_path / "runs")
    plan = RunPlan(ident="abc", playbook=tmp_path / "p.yml", inventory=(tmp_path / "i.yml",),
                   hosts=("h",), mode=Mode.CHECK)
    executor.prepare(plan)
    with pytest.raises(ExecutionError, match="already exists"):
        executor.prepare(plan)


def test_rotation_keeps_the_newest_runs_and_only_its_own(project: Project, tmp_path: Path
                                                         ) -> None:
    """Rotation removes the oldest run folders beyond keep_runs and leaves foreign folders."""
    runs = tmp_path / "runs"
    executor = LocalExecutor(runs, keep_runs=2)
    foreign = runs / "not-ours"
    foreign.mkdir(parents=True)
    for n in range(4):
        executor.prepare(RunPlan(ident=f"r{n}", playbook=tmp_path / "p.yml",
                                 inventory=(tmp_path / "i.yml",), hosts=("h",), mode=Mode.CHECK))
    removed = executor.rotate()
    assert len(removed) == 2
    assert foreign.is_dir()
    assert len([p for p in runs.iterdir() if p.name.startswith("r")]) == 2
