"""FQCN playbooks in the catalog, found like ansible-core finds them; the collection review gate."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediator import bootstrap, catalog, galaxy
from remediator.ansible_project import setup as ansible_setup
from remediator.errors import CatalogError, UsageError
from remediator.inventory import Inventory
from remediator.models import Action, CollectionRef, Mode
from remediator.policy import PolicyContext, decide, decide_manual
from remediator.sealing import previewed
from remediator.testing import alert


def install(base: Path, name: str, version: str, playbooks: tuple[str, ...] = ("fix",)) -> Path:
    """A collection folder as ansible-galaxy leaves it: MANIFEST.json and playbooks/."""
    namespace, coll = name.split(".")
    folder = base / "ansible_collections" / namespace / coll
    (folder / "playbooks").mkdir(parents=True)
    (folder / "MANIFEST.json").write_text(json.dumps({"collection_info": {
        "namespace": namespace, "name": coll, "version": version}}))
    for playbook in playbooks:
        (folder / "playbooks" / f"{playbook}.yml").write_text("- hosts: all\n  tasks: []\n")
    return folder


def load(tmp_path: Path, playbook: str, collections: list[Path]) -> catalog.Catalog:
    path = tmp_path / "remediations.yml"
    path.write_text(yaml.safe_dump({"version": 1, "remediations": [
        {"name": "fix", "match": {"alertname": "A"}, "playbook": playbook,
         "stage": "oversight"}]}))
    (tmp_path / "playbooks").mkdir(exist_ok=True)
    return catalog.load(path, tmp_path / "playbooks", collections=collections)


def problems(tmp_path: Path, playbook: str, collections: list[Path]) -> str:
    with pytest.raises(CatalogError) as caught:
        load(tmp_path, playbook, collections)
    return "\n".join(caught.value.problems)


@pytest.mark.parametrize(("name", "fqcn"), [
    ("remediator.fixes.disk_space_cleanup", True), ("acme.ops.sub.fix", True),
    ("disk_space_cleanup.yml", False), ("acme.ops.yml", False), ("Acme.ops.fix", False),
    ("acme/ops/fix", False)])
def test_fqcn_is_told_from_a_file_name(name: str, fqcn: bool) -> None:
    """ns.coll.name (and ns.coll.dir.name) is a collection playbook; a .yml name is a file."""
    assert galaxy.is_fqcn(name) is fqcn


def test_an_fqcn_entry_runs_the_first_installed_collections_playbook(tmp_path: Path) -> None:
    """The playbook comes from the first collections-path folder that holds the collection,
    with its version; a later copy of another version is not used."""
    first = install(tmp_path / "a", "acme.ops", "1.2.0")
    install(tmp_path / "b", "acme.ops", "2.0.0")
    (entry,) = load(tmp_path, "acme.ops.fix", [tmp_path / "a", tmp_path / "b"])
    assert entry.playbook == "acme.ops.fix"
    assert entry.playbook_path == str((first / "playbooks" / "fix.yml").resolve())
    assert entry.collection == CollectionRef("acme.ops", "1.2.0", str(first.resolve()),
                                             galaxy.collection_sha256(first))


def test_a_subfolder_playbook_and_an_ansible_collections_path_entry(tmp_path: Path) -> None:
    """ns.coll.dir.name is playbooks/dir/name.yml; a path entry may name ansible_collections."""
    folder = install(tmp_path / "a", "acme.ops", "1.0.0", ())
    (folder / "playbooks" / "disk").mkdir()
    (folder / "playbooks" / "disk" / "clean.yaml").write_text("- hosts: all\n  tasks: []\n")
    (entry,) = load(tmp_path, "acme.ops.disk.clean", [tmp_path / "a" / "ansible_collections"])
    assert entry.playbook_path.endswith("playbooks/disk/clean.yaml")


def test_validate_names_a_missing_collection_and_where_it_looked(tmp_path: Path) -> None:
    """A collection installed nowhere on the collections path: the entry's problem says so,
    with the folders searched and how to install it."""
    text = problems(tmp_path, "acme.ops.fix", [tmp_path / "collections"])
    assert "entry 'fix': key 'playbook': collection acme.ops is not installed" in text
    assert str(tmp_path / "collections") in text
    assert "ansible-galaxy collection install" in text


def test_validate_names_a_playbook_the_collection_lacks(tmp_path: Path) -> None:
    """The collection is there but not the playbook: the problem lists the ones it has (and
    Ansible would not look further along the path, so neither does remediator)."""
    install(tmp_path / "a", "acme.ops", "1.0.0", ("fix", "other"))
    install(tmp_path / "b", "acme.ops", "1.0.0", ("missing",))
    text = problems(tmp_path, "acme.ops.missing", [tmp_path / "a", tmp_path / "b"])
    assert "collection acme.ops 1.0.0" in text
    assert "has no playbook playbooks/missing.yml; its playbooks: acme.ops.fix, " \
           "acme.ops.other" in text


def test_a_path_playbook_still_may_not_leave_the_playbook_folder(tmp_path: Path) -> None:
    """A file path stays a path: ../ out of the playbook folder is refused as before."""
    assert "is outside the playbook folder" in problems(tmp_path, "../x.yml", [])


@pytest.mark.parametrize(("pin", "installed", "problem"), [
    ("==1.0.0", "1.0.0", None),
    (">=1.0.0,<2.0.0", "1.4.2", None),
    ("*", "3.0.0", None),
    ("==1.0.0", "1.1.0", "collection acme.ops is installed at 1.1.0, the reviewed version is "
                         "==1.0.0 (requirements.yml:3)"),
    (None, "1.0.0", "collection acme.ops is installed at 1.0.0, and no committed requirements "
                    "file pins a reviewed version"),
])
def test_the_reviewed_version_is_what_requirements_yml_pins(
        tmp_path: Path, pin: str | None, installed: str, problem: str | None) -> None:
    """An installed version inside the pinned range is reviewed; outside it, or unpinned, not."""
    listed = [{"name": "acme.ops", "version": pin}] if pin else [{"name": "other.coll"}]
    (tmp_path / "requirements.yml").write_text("---\n" + yaml.safe_dump({"collections": listed}))
    ref = CollectionRef("acme.ops", installed, "/x")
    pins = galaxy.pins([tmp_path / "requirements.yml"], tmp_path)
    assert galaxy.review_problem(ref, pins) == problem


def entry(tmp_path: Path) -> catalog.Catalog:
    install(tmp_path / "c", "acme.ops", "1.1.0")
    (tmp_path / "inventory.yml").write_text("")
    return load(tmp_path, "acme.ops.fix", [tmp_path / "c"])


def test_an_unreviewed_collection_turns_a_live_stage_into_check_mode(tmp_path: Path) -> None:
    """The policy: a live stage whose collection is not at the reviewed version runs in
    check mode, escalated, with the reason; --allow-uncommitted lets it run live."""
    (remediation,) = entry(tmp_path)
    inventory = Inventory(sources=(tmp_path / "inventory.yml",),
                          groups={"all": frozenset({"web-01"})})
    why = "collection acme.ops is installed at 1.1.0, the reviewed version is ==1.0.0"
    ctx = PolicyContext(inventory=inventory, unreviewed={"acme.ops": why})
    fired = alert("A", "web-01")
    decision = decide(fired, remediation, ctx)
    assert (decision.action, decision.mode) == (Action.ESCALATE, Mode.CHECK)
    assert decision.reason.startswith(f"stage oversight: live run refused, {why}; ran in check")
    allowed = PolicyContext(inventory=inventory, unreviewed={"acme.ops": why},
                            allow_uncommitted=True)
    assert decide(fired, remediation, allowed).mode is Mode.LIVE
    manual = decide_manual(remediation, ("web-01",), Mode.LIVE, "ann", {}, ctx)
    assert (manual.action, manual.mode) == (Action.ESCALATE, Mode.NONE)
    assert why in manual.reason
    assert decide_manual(remediation, ("web-01",), Mode.CHECK, "ann", {}, ctx).mode is Mode.CHECK


def test_the_seal_covers_the_collection_only_when_there_is_one() -> None:
    """What a preview ran includes the collection's name and version; a record without one
    seals as before (earlier requests keep their seals)."""
    remediation = {"name": "fix", "playbook": "fix.yml", "playbook_sha256": None,
                   "catalog_revision": {"vcs": "none", "dirty": False}}
    record: dict = {"remediation": remediation}
    assert "collection" not in previewed(record)  # type: ignore[arg-type]
    remediation["collection"] = {"name": "acme.ops", "version": "1.0.0"}
    assert previewed(record)["collection"] == {"name": "acme.ops",  # type: ignore[arg-type]
                                               "version": "1.0.0"}


def test_init_overwrites_nothing(tmp_path: Path) -> None:
    """`remediator init` into a folder holding one of its files refuses before writing."""
    (tmp_path / "remediations.yml").write_text("mine\n")
    with pytest.raises(UsageError, match=r"already has remediations\.yml"):
        bootstrap.init(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["remediations.yml"]
    assert (tmp_path / "remediations.yml").read_text() == "mine\n"


def test_the_starter_catalog_names_only_the_bundled_collections_playbooks() -> None:
    """Every starter entry names an FQCN playbook the bundled collection has, at observe."""
    data = yaml.safe_load(bootstrap.STARTER_CATALOG.read_text(encoding="utf-8"))
    name, _ = bootstrap.collection_info()
    have = {f"{name}.{p.stem}" for p in (bootstrap.COLLECTION / "playbooks").glob("*.yml")}
    assert data["remediations"]
    assert {e["playbook"] for e in data["remediations"]} <= have
    assert {e["stage"] for e in data["remediations"]} == {"observe"}


@pytest.mark.parametrize("role", sorted(p.name for p in (bootstrap.COLLECTION / "roles").iterdir()))
def test_each_roles_public_variables_are_its_defaults_and_no_role_var_shadows_one(role: str
                                                                                  ) -> None:
    """A role's argument specs, defaults/main.yml (same names, same defaults) and vars/main.yml
    agree: a vars/main.yml entry named like a public variable would override the inventory's
    value (and, written as ``X: "{{ X | default(..) }}"``, recurse)."""
    folder = bootstrap.COLLECTION / "roles" / role

    def read(name: str) -> dict[str, Any]:
        return dict(yaml.safe_load((folder / name).read_text(encoding="utf-8")) or {})

    options = read("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert read("defaults/main.yml") == {k: o.get("default") for k, o in options.items()}
    assert set(read("vars/main.yml")) & set(options) == set()


@pytest.mark.parametrize("module", sorted(
    p.name for p in (bootstrap.COLLECTION / "plugins" / "modules").glob("*.py")))
def test_each_modules_documentation_is_yaml_naming_the_module(module: str) -> None:
    """A module's DOCUMENTATION and RETURN parse as YAML (what ansible-doc and ansible-lint
    read; unparsable, ansible-doc shows nothing) and DOCUMENTATION names the module."""
    tree = ast.parse((bootstrap.COLLECTION / "plugins" / "modules" / module).read_text(
        encoding="utf-8"))
    docs = {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name) and isinstance(node.value, ast.Constant)}
    assert yaml.safe_load(docs["DOCUMENTATION"])["module"] == module.removesuffix(".py")
    assert isinstance(yaml.safe_load(docs["RETURN"]), dict)


def test_ansible_home_moves_the_default_collections_path(tmp_path: Path) -> None:
    """Without collections_path, FQCN playbooks are looked for where Ansible looks by default:
    $ANSIBLE_HOME/collections (not ~/.ansible when ANSIBLE_HOME is set), then /usr/share."""
    setup = ansible_setup(tmp_path, None, {"ANSIBLE_HOME": str(tmp_path / "home")})
    assert setup.collections_paths() == (tmp_path / "home" / "collections",
                                         Path("/usr/share/ansible/collections"))


def test_the_collection_digest_covers_its_files_but_not_pythons_caches(tmp_path: Path) -> None:
    """Any file's bytes or name change the digest; a __pycache__ folder does not."""
    folder = install(tmp_path / "a", "acme.ops", "1.2.0")
    first = galaxy.collection_sha256(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert galaxy.collection_sha256(folder) == first
    playbook = folder / "playbooks" / "fix.yml"
    playbook.write_text(playbook.read_text() + "\n")
    assert galaxy.collection_sha256(folder) != first
