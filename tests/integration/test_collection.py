"""The collection remediator.fixes: built and installed offline, run by FQCN, its version gated.

Each test builds a project whose ansible.cfg points collections_path at its own ``collections/``
folder, installs the tarball ``remediator collection build`` makes (``ansible-galaxy collection
install -p``, no network), pins the version in a committed requirements.yml, and runs the real
disk-space fix on the sandbox host through ``remediator handle``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from remediator import bootstrap, galaxy
from remediator.models import Mode

from ..conftest import Project, alertmanager_payload, disk_alert, disk_entry
from ..nodemixin import COVERED

pytestmark = [pytest.mark.ansible, pytest.mark.any_store]

FQCN = "remediator.fixes.disk_space_cleanup"
VERSION = bootstrap.collection_info()[1]
BUMPED = "9.9.9"  # a version the pin does not allow
REMEDIATOR = shutil.which("remediator") or "remediator"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          cwd=root, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def tarballs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bundled collection's tarball (`remediator collection build`), and one of a copy whose
    galaxy.yml says BUMPED."""
    out = tmp_path_factory.mktemp("tarballs")
    source = out / "bumped-source"
    shutil.copytree(bootstrap.COLLECTION, source)
    galaxy = yaml.safe_load((source / "galaxy.yml").read_text(encoding="utf-8"))
    galaxy["version"] = BUMPED
    (source / "galaxy.yml").write_text(yaml.safe_dump(galaxy), encoding="utf-8")
    built = subprocess.run([REMEDIATOR, "collection", "build", str(out / "built")],
                           capture_output=True, text=True, check=True).stdout.strip()
    return {VERSION: Path(built), BUMPED: bootstrap.build(out / "bumped", source)}


@pytest.fixture
def repo(project: Project, tarballs: dict[str, Path]) -> Project:
    """The test project as a committed git checkout whose catalog runs the FQCN playbook live,
    with the collection installed from its tarball and pinned in requirements.yml."""
    root = project.root
    (root / "ansible.cfg").write_text("[defaults]\ncollections_path = collections\n")
    (root / "requirements.yml").write_text(yaml.safe_dump(
        {"collections": [{"name": "remediator.fixes", "version": f"=={VERSION}"}]}))
    (root / ".gitignore").write_text("state/\n/collections/ansible_collections/\n")
    bootstrap.install(tarballs[VERSION], root / "collections")
    project.write_catalog(disk_entry("oversight", playbook=FQCN))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return project


def test_tarball_installs_offline_with_every_fix(repo: Project, tarballs: dict[str, Path]
                                                 ) -> None:
    """`remediator collection build` writes remediator-fixes-VERSION.tar.gz; installed with
    ansible-galaxy -p it holds the seven FQCN playbooks, their roles and the two modules."""
    assert tarballs[VERSION].name == f"remediator-fixes-{VERSION}.tar.gz"
    folder = repo.root / "collections" / "ansible_collections" / "remediator" / "fixes"
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["version"] == VERSION
    fixes = {"disk_space_cleanup", "inode_cleanup", "log_rotate", "runaway_process",
             "service_restart", "systemd_unit_restart", "clock_resync"}
    assert {p.stem for p in (folder / "playbooks").glob("*.yml")} == fixes
    assert {p.name for p in (folder / "roles").iterdir()} == fixes
    assert all((folder / "roles" / f / "meta" / "argument_specs.yml").is_file() for f in fixes)
    assert {p.name for p in (folder / "plugins" / "modules").glob("*.py")} == \
        {"runaway_processes.py", "kernel_clock.py"}


def test_fqcn_entry_runs_live_and_the_record_names_the_collection(repo: Project) -> None:
    """An entry naming remediator.fixes.disk_space_cleanup runs the installed playbook live;
    its record carries the collection's name and version and the playbook's sha256."""
    before = set(repo.snapshot())
    (record,) = repo.handle(alertmanager_payload([disk_alert()]))
    assert (record["decision"]["action"], record["mode"], record["outcome"]) == \
        ("run", "live", "succeeded"), record["decision"]
    installed = repo.root / "collections" / "ansible_collections" / "remediator" / "fixes"
    playbook = installed / "playbooks" / "disk_space_cleanup.yml"
    assert record["remediation"]["playbook"] == FQCN
    assert record["remediation"]["collection"] == {
        "name": "remediator.fixes", "version": VERSION,
        "sha256": galaxy.collection_sha256(installed)}
    assert record["remediation"]["playbook_sha256"] == \
        hashlib.sha256(playbook.read_bytes()).hexdigest()
    assert set(repo.snapshot()) < before  # the stale cache files are gone


def test_installed_version_outside_the_pin_runs_in_check_mode_and_says_why(
        repo: Project, tarballs: dict[str, Path]) -> None:
    """With a version installed that requirements.yml does not allow, a live stage falls back
    to check mode, escalated, naming the collection, the installed and the reviewed version."""
    runs = repo.fake_runs()  # the gate decides before any run: no playbook is needed
    bootstrap.install(tarballs[BUMPED], repo.root / "collections")
    before = repo.snapshot()
    (record,) = repo.handle(alertmanager_payload([disk_alert()]))
    assert (record["decision"]["action"], record["mode"]) == ("escalate", "check")
    assert record["decision"]["code"] == "uncommitted"
    assert f"collection remediator.fixes is installed at {BUMPED}, the reviewed version is " \
           f"=={VERSION} (requirements.yml:2)" in record["decision"]["reason"]
    assert record["remediation"]["collection"]["version"] == BUMPED
    assert record["remediation"]["catalog_revision"]["dirty"] is False  # the repo is clean
    assert repo.snapshot() == before
    assert [plan.mode for plan in runs.plans] == [Mode.CHECK]  # nothing ran live


def test_an_installed_collection_edited_in_place_is_not_the_reviewed_version(
        repo: Project) -> None:
    """A task file of the installed collection edited after the install (its version unchanged):
    not what FILES.json lists, so not what was reviewed: check mode, and the reason names the
    file, as `ansible-galaxy collection verify --offline` would."""
    runs = repo.fake_runs()  # the gate decides before any run: no playbook is needed
    installed = repo.root / "collections" / "ansible_collections" / "remediator" / "fixes"
    tasks = installed / "roles" / "disk_space_cleanup" / "tasks" / "main.yml"
    tasks.write_text(tasks.read_text() + "\n# edited on the host\n")
    before = repo.snapshot()
    (record,) = repo.handle(alertmanager_payload([disk_alert()]))
    assert (record["decision"]["action"], record["mode"]) == ("escalate", "check")
    assert (f"collection remediator.fixes {VERSION} was changed after it was installed "
            "(roles/disk_space_cleanup/tasks/main.yml: not as its FILES.json lists them"
            ) in record["decision"]["reason"]
    assert record["remediation"]["collection"]["sha256"] == galaxy.collection_sha256(installed)
    assert repo.snapshot() == before
    assert [plan.mode for plan in runs.plans] == [Mode.CHECK]  # nothing ran live


def test_approval_is_refused_when_the_collection_files_changed_since_the_preview(
        repo: Project, tarballs: dict[str, Path]) -> None:
    """The same version installed again from a different build (another tarball saying the same
    version): its files differ from the preview's, so approve refuses, and nothing runs."""
    runs = repo.fake_runs()  # the gate decides before any run: no playbook is needed
    repo.write_catalog(disk_entry("human-initiated", playbook=FQCN))
    git(repo.root, "commit", "-qam", "human-initiated")
    (pending,) = repo.handle(alertmanager_payload([disk_alert()]))
    assert pending["decision"]["action"] == "pending"
    source = repo.root.parent / "same-version-source"
    shutil.copytree(bootstrap.COLLECTION, source)
    role = source / "roles" / "disk_space_cleanup" / "defaults" / "main.yml"
    role.write_text(role.read_text() + "\n# rebuilt\n")
    bootstrap.install(bootstrap.build(repo.root.parent / "same-version", source),
                      repo.root / "collections")
    before = repo.snapshot()
    result = repo.cli("approve", pending["id"])
    assert result.exit_code == 4, result.output
    assert f"collection remediator.fixes {VERSION} changed since the preview" in result.output
    assert repo.snapshot() == before
    assert [plan.mode for plan in runs.plans] == [Mode.CHECK]  # nothing ran live


def test_approval_is_refused_when_the_collection_version_changed_since_the_preview(
        repo: Project, tarballs: dict[str, Path]) -> None:
    """A human-initiated preview sealed with one version is not approved after another one is
    installed: approve refuses, naming both versions, and nothing runs."""
    runs = repo.fake_runs()  # the gate decides before any run: no playbook is needed
    repo.write_catalog(disk_entry("human-initiated", playbook=FQCN))
    git(repo.root, "commit", "-qam", "human-initiated")
    (pending,) = repo.handle(alertmanager_payload([disk_alert()]))
    assert pending["decision"]["action"] == "pending"
    # the pin moves with it: only the seal can tell the preview's version from this one
    (repo.root / "requirements.yml").write_text(yaml.safe_dump(
        {"collections": [{"name": "remediator.fixes", "version": f"=={BUMPED}"}]}))
    git(repo.root, "commit", "-qam", "bump")
    bootstrap.install(tarballs[BUMPED], repo.root / "collections")
    before = repo.snapshot()
    result = repo.cli("approve", pending["id"])
    assert result.exit_code == 4, result.output
    assert f"collection remediator.fixes is at {BUMPED} now, the preview ran {VERSION}" \
        in result.output
    assert repo.snapshot() == before
    assert [plan.mode for plan in runs.plans] == [Mode.CHECK]  # nothing ran live


def test_init_writes_a_project_that_validates(tmp_path: Path) -> None:
    """`remediator init DIR` writes a starter project with the collection installed into it;
    `remediator catalog validate` there passes, every entry naming an FQCN playbook; the
    entries are the node_exporter mixin's (its alerts are covered out of the box)."""
    folder = tmp_path / "ops"
    proc = subprocess.run([REMEDIATOR, "init", str(folder)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    catalog = yaml.safe_load((folder / "remediations.yml").read_text())
    assert {e["playbook"].rpartition(".")[0] for e in catalog["remediations"]} == \
        {"remediator.fixes"}
    assert {e["name"] for e in catalog["remediations"]} == set(COVERED.values())
    assert yaml.safe_load((folder / "requirements.yml").read_text()) == \
        {"collections": [{"name": "remediator.fixes", "version": f"=={VERSION}"}]}
    proc = subprocess.run([REMEDIATOR, "catalog", "validate"],
                          cwd=folder, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"catalog OK: {len(catalog['remediations'])} entries" in proc.stdout
