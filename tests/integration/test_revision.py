"""Version control is the review gate: live runs refuse uncommitted catalog or playbook changes.

The runs are a RecordingExecutor's (the gate decides the mode; the runner's modes are tested in
test_handle_e2e.py): each test checks the mode of what would have run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from remediator.models import Mode
from remediator.revision import catalog_revision
from remediator.testing import RecordingExecutor

from ..conftest import REPO, Project, alertmanager_payload, disk_alert, disk_entry


@pytest.fixture(autouse=True)
def runs(project: Project) -> RecordingExecutor:
    """What the commands run: recorded plans."""
    return project.fake_runs()


def git(project: Project, *args: str) -> str:
    """Run git in the project and return its output."""
    return subprocess.run(["git", *args], cwd=project.root, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(project: Project) -> Project:
    """The project as a git checkout with everything committed."""
    (project.root / ".gitignore").write_text("state/\n")
    git(project, "init", "-q")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.org", "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "init")
    return project


def test_clean_checkout_records_the_commit_and_runs_live(repo: Project,
                                                         runs: RecordingExecutor) -> None:
    """With everything committed the live run happens and the record names the commit."""
    repo.write_catalog(disk_entry("oversight"))
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "live")
    head = git(repo, "rev-parse", "HEAD").strip()
    (record,) = repo.handle(alertmanager_payload([disk_alert()]))
    assert record["mode"] == "live"
    assert [p.mode for p in runs.plans] == [Mode.LIVE]
    assert record["remediation"]["catalog_revision"] == {
        "vcs": "git", "commit": head, "dirty": False, "dirty_paths": [], "ansible_cfg": None}


def test_uncommitted_catalog_turns_handle_into_an_escalated_check_run(
        repo: Project, runs: RecordingExecutor) -> None:
    """An uncommitted stage change never runs live from `handle`: check mode, escalated."""
    repo.write_catalog(disk_entry("oversight"))  # not committed
    (record,) = repo.handle(alertmanager_payload([disk_alert()]))
    assert [p.mode for p in runs.plans] == [Mode.CHECK]
    assert (record["decision"]["action"], record["mode"]) == ("escalate", "check")
    assert "uncommitted" in record["decision"]["reason"]
    assert record["remediation"]["catalog_revision"]["dirty"] is True


def test_uncommitted_playbook_edit_counts_too(repo: Project) -> None:
    """Editing a playbook without committing is caught like a catalog edit."""
    playbook = repo.root / "playbooks" / "disk_space_cleanup.yml"
    playbook.write_text(playbook.read_text() + "\n# edited\n")
    assert catalog_revision(repo.root / "remediations.yml", repo.root / "playbooks")["dirty"]


def test_a_catalog_git_ignores_is_not_committed(repo: Project) -> None:
    """A catalog or playbook in an ignored folder is used but in no commit: dirty. Caches
    (bytecode, retry files) under the playbooks do not count."""
    revision = catalog_revision(repo.root / "remediations.yml", repo.root / "playbooks")
    assert revision["dirty"] is False
    cache = repo.root / "playbooks" / "library" / "__pycache__"
    cache.mkdir(parents=True)
    (cache / "mod.cpython-311.pyc").write_bytes(b"\0")
    (repo.root / "playbooks" / "disk_space_cleanup.retry").write_text("demo-web-01\n")
    (repo.root / ".gitignore").write_text("state/\n__pycache__/\n*.retry\nlocal/\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "ign")
    assert catalog_revision(repo.root / "remediations.yml",
                            repo.root / "playbooks")["dirty"] is False
    local = repo.root / "local"
    (local / "playbooks").mkdir(parents=True)
    (local / "remediations.yml").write_text((repo.root / "remediations.yml").read_text())
    (local / "playbooks" / "noop.yml").write_text("- hosts: all\n  tasks: []\n")
    revision = catalog_revision(local / "remediations.yml", local / "playbooks")
    assert revision["vcs"] == "git" and revision["dirty"] is True


def test_manual_live_run_is_refused_exit_4_and_recorded(repo: Project,
                                                        runs: RecordingExecutor) -> None:
    """`run --live` from a dirty catalog exits 4, runs nothing, and is still recorded."""
    repo.write_catalog(disk_entry("oversight", description="edited"))
    result = repo.cli("run", "disk-space-cleanup", "--limit", "demo-web-01", "--live",
                      "--var", "disk_mountpoint=/", "--by", "bob")
    assert result.exit_code == 4
    assert "uncommitted" in result.stderr
    assert runs.plans == []
    (record,) = list(repo.store().records())
    assert (record["decision"]["action"], record["mode"], record["initiated_by"]) == (
        "escalate", "none", "bob")


def test_allow_uncommitted_runs_live_and_says_so(repo: Project, runs: RecordingExecutor) -> None:
    """--allow-uncommitted lets the live run happen and records that it was allowed."""
    repo.write_catalog(disk_entry("oversight"))
    result = repo.cli("run", "disk-space-cleanup", "--limit", "demo-web-01", "--live", "--var",
                      "disk_mountpoint=/", "--allow-uncommitted", "--json", "-q")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)  # run --json: an array, as handle's
    assert record["mode"] == "live"
    assert record["remediation"]["catalog_revision"]["allow_uncommitted"] is True
    assert record["outcome"] == "succeeded"
    assert [p.mode for p in runs.plans] == [Mode.LIVE]


def test_outside_git_the_revision_is_a_content_hash(project: Project) -> None:
    """Outside a checkout the revision is a sha256 that changes when a playbook changes."""
    first = catalog_revision(project.root / "remediations.yml", project.root / "playbooks")
    assert first["vcs"] == "none" and len(first["sha256"]) == 64
    playbook = project.root / "playbooks" / "echo_vars.yml"
    playbook.write_text(playbook.read_text() + "\n")
    second = catalog_revision(project.root / "remediations.yml", project.root / "playbooks")
    assert second["sha256"] != first["sha256"]


def test_an_edit_to_the_collection_linked_beside_the_playbooks_is_uncommitted(
        project: Project, runs: RecordingExecutor) -> None:
    """playbooks/collections may link to a collection elsewhere in the repository (as this
    repository's does to remediator/collection): an edit there is an uncommitted change, though
    git status on the playbook folder does not follow the link."""
    link = project.root / "playbooks" / "collections" / "ansible_collections" / "remediator" / \
        "fixes"
    link.unlink()
    shutil.copytree(REPO / "remediator" / "collection", project.root / "fixes")
    link.symlink_to(Path("../../../../fixes"))
    (project.root / ".gitignore").write_text("state/\n")
    project.write_catalog(disk_entry("oversight"))
    git(project, "init", "-q")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.org", "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "init")
    tasks = project.root / "fixes" / "roles" / "disk_space_cleanup" / "tasks" / "main.yml"
    tasks.write_text(tasks.read_text() + "# edited\n")
    (record,) = project.handle(alertmanager_payload([disk_alert()]))
    assert [p.mode for p in runs.plans] == [Mode.CHECK]
    assert record["remediation"]["catalog_revision"]["dirty_paths"] == \
        ["fixes/roles/disk_space_cleanup/tasks/main.yml"]
