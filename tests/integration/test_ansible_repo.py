"""A shop's Ansible repository as it is (examples/ansible-repo): ansible.cfg with roles_path,
collections_path and an executable vault_password_file, a directory inventory whose addresses
live in host_vars/, a role, a filter of the repository's own collection and a vaulted token.
Driven end to end through the real CLI and real ansible-playbook runs."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from remediator import config as config_mod
from remediator.testing import invoke

from ..conftest import REPO, alertmanager_payload

EXAMPLE = REPO / "examples" / "ansible-repo"
SECRET = "qtok-7f3a9c-example-secret"  # the vaulted queue_api_token's plaintext


class Repo:
    """A git checkout of the example repository in a temporary folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org",
                               *args], cwd=self.root, check=True, capture_output=True,
                              text=True).stdout

    def cli(self, *args: str, stdin: str | None = None, env: dict[str, str | None] | None = None
            ) -> Any:
        return invoke(["--config", str(self.root / "remediator.yml"), *args], stdin=stdin,
                      env={"REMEDIATOR_MAX_STAGE": None, **(env or {})})

    def handle(self, *before: str, load: str = "3.5") -> dict[str, Any]:
        alert = {"labels": {"alertname": "HighLoad", "instance": "10.20.0.11:9100",
                            "load": load}, "status": "firing"}
        result = self.cli(*before, "handle", "--json", "-",
                          stdin=json.dumps(alertmanager_payload([alert])))
        assert result.exit_code in (0, 3), result.output
        (record,) = json.loads(result.stdout)
        return dict(record)

    def everything_written(self) -> str:
        """Every byte remediator wrote: the store, the runs folders, the cache."""
        chunks = []
        for path in sorted((self.root / ".remediator").rglob("*")):
            if path.is_file():
                chunks.append(path.read_bytes().decode("utf-8", "replace"))
        db = sqlite3.connect(self.root / ".remediator" / "audit.db")
        try:
            chunks += [json.dumps(row) for row in db.execute("SELECT * FROM records")]
        finally:
            db.close()
        return "\n".join(chunks)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    root = tmp_path / "ops"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".remediator", "sandbox"))
    checkout = Repo(root)
    checkout.git("init", "-q")
    checkout.git("add", "-A")
    checkout.git("commit", "-qm", "the shop's repository")
    return checkout


def test_config_reads_the_repository_ansible_cfg(repo: Repo) -> None:
    """No inventory in remediator.yml: ansible.cfg's folder inventory applies, and the paths
    the review gate covers come from it (no ansible run)."""
    loaded = config_mod.load(repo.root / "remediator.yml", env={})
    assert loaded.ansible_setup.config_file == repo.root / "ansible.cfg"
    assert loaded.inventory == (repo.root / "inventory" / "prod",)
    assert loaded.ansible_setup.roles_paths() == (repo.root / "roles",)
    assert loaded.ansible_setup.collections_paths() == (repo.root / "collections",)
    assert loaded.ansible_setup.vault_identities() == (
        ("default", repo.root / "vault-password.sh"),)


def test_world_writable_root_is_refused_by_name(repo: Repo) -> None:
    """Ansible silently ignores an ansible.cfg in a world-writable folder; remediator says so
    and stops (exit 2) instead of running without it."""
    os.chmod(repo.root, 0o777)
    try:
        result = repo.cli("stages")
    finally:
        os.chmod(repo.root, 0o755)
    assert result.exit_code == 2
    assert "world-writable" in result.output and str(repo.root / "ansible.cfg") in result.output


@pytest.mark.ansible
def test_validate_passes_only_when_runs_can_work(repo: Repo, tmp_path: Path) -> None:
    """validate passes on the repository; without the collection it names requirements.yml's
    line and the role line using the filter; with a wrong vault password it names the vaulted
    file; without the role it names the missing role."""
    ok = repo.cli("catalog", "validate")
    assert ok.exit_code == 0, ok.output

    shutil.move(repo.root / "collections", tmp_path / "collections")
    missing = repo.cli("catalog", "validate")
    shutil.move(tmp_path / "collections", repo.root / "collections")
    assert missing.exit_code == 2
    assert "requirements.yml:4: collection acme.ops (>=1.2.0,<2.0.0) is not installed" \
        in missing.output
    assert "roles/load_relief/tasks/main.yml:4: uses acme.ops.load_score" in missing.output
    assert "ansible-galaxy collection install -r requirements.yml" in missing.output

    wrong = repo.cli("catalog", "validate", env={"EXAMPLE_VAULT_PASSWORD": "not-it"})
    assert wrong.exit_code == 2
    assert "inventory/prod/group_vars/web/vault.yml: vaulted file cannot be decrypted" \
        in wrong.output

    shutil.move(repo.root / "roles" / "load_relief", tmp_path / "load_relief")
    no_role = repo.cli("catalog", "validate")
    assert no_role.exit_code == 2
    assert "the role 'load_relief' was not found" in no_role.output


@pytest.mark.ansible
def test_preview_then_live_run_through_role_filter_and_vault(repo: Repo) -> None:
    """An alert naming web-01 only by its host_vars address: a check-mode preview changes
    nothing, the live run writes the drain file through the role, the collection's filter and
    the vaulted token; the token's plaintext is nowhere in what remediator wrote."""
    preview = repo.handle("--max-stage", "observe")
    assert (preview["alert"]["hosts"], preview["mode"], preview["outcome"]) == (
        ["web-01"], "check", "succeeded")
    drain = repo.root / "sandbox" / "web-01" / "drain.conf"
    assert not drain.exists()

    live = repo.handle()
    assert (live["mode"], live["outcome"]) == ("live", "succeeded"), live
    assert drain.read_text(encoding="utf-8") == f"score=1.75\ntoken={SECRET}\n"
    revision = live["remediation"]["catalog_revision"]
    assert revision["ansible_cfg"] == "ansible.cfg" and revision["dirty"] is False
    tasks = {t["name"]: t for t in live["hosts"]["web-01"]["tasks"]}
    diff = tasks["Ask the queue to drain (the API token is vaulted in group_vars/web/vault.yml)"]
    assert "token=********" in json.dumps(diff["diff"])
    written = repo.everything_written()
    assert SECRET not in written
    assert list((repo.root / ".remediator" / "runs").rglob("job_events/*.json"))
    shown = repo.cli("audit", "show", live["id"])
    assert SECRET not in shown.output


@pytest.mark.ansible
def test_uncommitted_role_edit_does_not_run_live(repo: Repo) -> None:
    """An uncommitted edit to the role's tasks refuses the live run (check mode instead), and
    the record names the dirty path."""
    tasks = repo.root / "roles" / "load_relief" / "tasks" / "main.yml"
    tasks.write_text(tasks.read_text(encoding="utf-8") + "# tuned by hand\n", encoding="utf-8")
    record = repo.handle()
    assert record["mode"] == "check" and record["decision"]["action"] == "escalate"
    assert "roles/load_relief/tasks/main.yml" in record["decision"]["reason"]
    assert record["remediation"]["catalog_revision"]["dirty_paths"] == [
        "roles/load_relief/tasks/main.yml"]
    assert not (repo.root / "sandbox" / "web-01" / "drain.conf").exists()


@pytest.mark.parametrize("path", ["ansible.cfg", "inventory/prod/host_vars/web-01.yml",
                                  "collections/ansible_collections/acme/ops/plugins/filter/ops.py",
                                  "requirements.yml", "inventory/prod/group_vars/web/vault.yml"])
def test_review_gate_covers_what_a_run_reads(repo: Repo, path: str) -> None:
    """An uncommitted change anywhere a run reads makes the revision dirty, naming the path
    (git only: no ansible run)."""
    from remediator.revision import catalog_revision, review_paths

    loaded = config_mod.load(repo.root / "remediator.yml", env={})
    clean = catalog_revision(loaded.catalog, loaded.playbooks, review_paths(loaded))
    assert clean["dirty"] is False
    target = repo.root / path
    target.write_bytes(target.read_bytes() + b"\n# edited\n")
    dirty = catalog_revision(loaded.catalog, loaded.playbooks, review_paths(loaded))
    assert dirty["dirty"] is True and dirty["dirty_paths"] == [path]
