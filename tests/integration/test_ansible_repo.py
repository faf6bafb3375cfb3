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


@pytest.mark.ansible
def test_missing_role_is_a_setup_failure_and_the_next_delivery_runs(repo: Repo,
                                                                    tmp_path: Path) -> None:
    """A committed catalog whose role is gone: the run stops before touching any host, the
    record says why in plain words and names no ansible column marker; once the role is back,
    the same alert delivered again runs live (the failed setup used up no dedupe claim)."""
    shutil.move(repo.root / "roles" / "load_relief", tmp_path / "load_relief")
    repo.git("commit", "-qam", "the role moves away")
    broken = repo.handle()
    runner = broken["runner"]
    assert (broken["outcome"], runner["setup_failure"]) == ("failed", "missing-role")
    assert runner["failure"].startswith("a role the playbook uses is not installed: ")
    assert "load_relief" in runner["failure"]
    shown = repo.cli("audit", "show", broken["id"])
    assert "failure:  a role the playbook uses is not installed" in shown.output

    shutil.move(tmp_path / "load_relief", repo.root / "roles" / "load_relief")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "the role is back")
    fixed = repo.handle()
    assert (fixed["mode"], fixed["outcome"]) == ("live", "succeeded"), fixed["decision"]


@pytest.mark.ansible
def test_target_outside_the_play_hosts_is_named(repo: Repo) -> None:
    """An alert for db-01 matched to a playbook whose play runs on ``web``: ansible runs no
    task (rc 0); the record names the target and the play's pattern."""
    catalog = repo.root / "remediations.yml"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace(
        "label: instance", "label: host"), encoding="utf-8")
    repo.git("commit", "-qam", "target by host label")
    payload = alertmanager_payload([{"labels": {"alertname": "HighLoad", "host": "db-01",
                                                "load": "1.0"},
                                     "status": "firing"}])
    result = repo.cli("handle", "--json", "-", stdin=json.dumps(payload))
    (record,) = json.loads(result.stdout)
    runner = record["runner"]
    assert runner is not None, record["decision"]
    assert (record["outcome"], runner["rc"], runner["setup_failure"]) == (
        "failed", 0, "no-hosts-matched")
    assert runner["failure"] == (
        "no host matched: db-01 is not in the hosts of play 'Relieve load on a web host' "
        "(hosts: web); the playbook ran no task (fix the play's hosts: pattern or the entry)")


@pytest.mark.ansible
def test_failed_task_line_names_task_host_and_message(repo: Repo) -> None:
    """A task that fails on the host: the terminal shows the task, the host and ansible's
    message, not the last line of ansible's output; --json carries the same line."""
    record = repo.handle(load="not-a-number")
    assert record["outcome"] == "failed"
    failure = record["runner"]["failure"]
    assert failure.startswith("web-01: task 'Score the load against the host's CPUs' failed: ")
    assert "not-a-number" in failure
    shown = repo.cli("audit", "show", record["id"])
    # the line wraps at the terminal's width: compare its words
    assert " ".join(f"failure: {failure}".split()) in " ".join(shown.output.split())


@pytest.mark.ansible
def test_vault_ids_in_the_config_instead_of_ansible_cfg(repo: Repo) -> None:
    """Without vault_password_file in ansible.cfg, validate names the vaulted file; with the
    config's ``vault_ids`` (an executable, as Ansible accepts) it passes and a run decrypts."""
    cfg = repo.root / "ansible.cfg"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        "vault_password_file = vault-password.sh\n", ""), encoding="utf-8")
    missing = repo.cli("catalog", "validate")
    assert missing.exit_code == 2
    assert "inventory/prod/group_vars/web/vault.yml: vaulted file cannot be decrypted" \
        in missing.output
    config = repo.root / "remediator.yml"
    config.write_text(config.read_text(encoding="utf-8") +
                      "vault_ids: [shop@vault-password.sh]\n", encoding="utf-8")
    ok = repo.cli("catalog", "validate")
    assert ok.exit_code == 0, ok.output
    record = repo.handle("--max-stage", "observe")
    assert (record["mode"], record["outcome"]) == ("check", "succeeded"), record["runner"]
    assert SECRET not in repo.everything_written()


def test_playbooks_at_the_root_do_not_count_remediator_state(repo: Repo) -> None:
    """``playbooks: .`` (playbooks at the repository root, as many shops keep them): the
    store, run folders and cache remediator writes there, ignored by git, are not changes;
    another ignored file there is (no ansible run)."""
    from remediator.revision import config_revision

    (repo.root / "load_relief.yml").write_text(
        (repo.root / "playbooks" / "load_relief.yml").read_text(encoding="utf-8"),
        encoding="utf-8")
    config = repo.root / "remediator.yml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "playbooks: playbooks", "playbooks: .").replace(
        "store: .remediator/audit.db", "store: audit.db"), encoding="utf-8")
    (repo.root / ".gitignore").write_text("/audit.db*\n.remediator/\n*.local\n",
                                          encoding="utf-8")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "playbooks at the root")
    for name in ("audit.db", "audit.db-wal", ".remediator/runs/r1/x", ".remediator/cache/c"):
        (repo.root / name).parent.mkdir(parents=True, exist_ok=True)
        (repo.root / name).write_text("state\n", encoding="utf-8")
    loaded = config_mod.load(config, env={})
    assert config_revision(loaded)["dirty_paths"] == []
    (repo.root / "tuning.local").write_text("x\n", encoding="utf-8")
    assert config_revision(loaded)["dirty_paths"] == ["tuning.local"]


def test_vaulted_files_anywhere_in_the_project_are_found_and_gated(repo: Repo) -> None:
    """A vaulted vars file outside the inventory and playbooks (``vars/``, as a playbook's
    ``vars_files`` may name it) is found and covered by the review gate; hidden folders and a
    nested project of its own are not searched (no ansible run)."""
    from remediator import vault
    from remediator.revision import config_revision

    sealed = (repo.root / "inventory" / "prod" / "group_vars" / "web" / "vault.yml").read_bytes()
    for name in ("vars/secrets.yml", ".hidden/secrets.yml", "nested/group_vars/x.yml"):
        (repo.root / name).parent.mkdir(parents=True, exist_ok=True)
        (repo.root / name).write_bytes(sealed)
    (repo.root / "nested" / "ansible.cfg").write_text("[defaults]\n", encoding="utf-8")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "more vaulted files")
    loaded = config_mod.load(repo.root / "remediator.yml", env={})
    found = vault.project_vaulted(loaded)
    assert [str(p.relative_to(repo.root)) for p in found] == [
        "inventory/prod/group_vars/web/vault.yml", "vars/secrets.yml"]
    (repo.root / "vars" / "secrets.yml").write_bytes(sealed + b"\n")
    revision = config_revision(loaded, found)
    assert revision["dirty_paths"] == ["vars/secrets.yml"]


def test_vault_search_never_opens_remediator_state(repo: Repo) -> None:
    """The store and its journals are never opened by the search (closing a descriptor of a
    SQLite file drops the locks the process holds on it), nor FIFOs (an open would block)."""
    from remediator import vault

    loaded = config_mod.load(repo.root / "remediator.yml", env={})
    assert isinstance(loaded.store, Path)
    config = repo.root / "remediator.yml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "store: .remediator/audit.db", "store: audit.db"), encoding="utf-8")
    loaded = config_mod.load(config, env={})
    sealed = (repo.root / "inventory" / "prod" / "group_vars" / "web" / "vault.yml").read_bytes()
    for name in ("audit.db", "audit.db-wal"):  # vault-looking bytes: would be found if read
        (repo.root / name).write_bytes(sealed)
    os.mkfifo(repo.root / "pipe")
    found = [str(p.relative_to(repo.root)) for p in vault.project_vaulted(loaded)]
    assert found == ["inventory/prod/group_vars/web/vault.yml"]


def test_outside_git_the_tree_hash_skips_remediator_state(tmp_path: Path) -> None:
    """Outside git, the revision is a hash of the catalog and playbooks: with the playbooks
    at the root, remediator's own store there is neither read nor counted."""
    from remediator.revision import config_revision

    root = tmp_path / "plain"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".remediator", "sandbox"))
    config = root / "remediator.yml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "playbooks: playbooks", "playbooks: .").replace(
        "store: .remediator/audit.db", "store: audit.db"), encoding="utf-8")
    loaded = config_mod.load(config, env={})
    before = config_revision(loaded)
    (root / "audit.db").write_bytes(b"SQLite format 3\0")
    (root / "audit.db-wal").write_bytes(b"changed")
    after = config_revision(loaded)
    assert before["vcs"] == "none" and before["sha256"] == after["sha256"]
    (root / "load_relief.yml").write_text("[]\n", encoding="utf-8")
    assert config_revision(loaded)["sha256"] != before["sha256"]
