"""The inventory as ansible-core reads it: listings recorded under tests/data/inventories
(``hosts.list.json`` is ``ansible-inventory -i hosts.yml --list``), then real ansible-inventory
runs over files, folders, plugins and scripts, and the listing cache."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediator import inventory
from remediator.ansible_project import AnsibleSetup, setup
from remediator.errors import InventoryError
from remediator.inventory import Inventory

INVENTORIES = Path(__file__).resolve().parent.parent / "data" / "inventories"
YAML_FILE = INVENTORIES / "hosts.yml"
INI_FILE = INVENTORIES / "hosts.ini"
LISTING = INVENTORIES / "hosts.list.json"

WEB = frozenset({"web01", "web02"})
DB = frozenset({"db01", "db02", "db03"})
EXPECTED_GROUPS = {
    "all": WEB | DB | {"bastion"},
    "ungrouped": frozenset({"bastion"}),
    "web": WEB,
    "db": DB,
    "db_primary": frozenset({"db01"}),
    "db_replica": frozenset({"db02", "db03"}),
    "prod": WEB | DB,
}
EXPECTED_ADDRESSES = {
    "bastion": "192.0.2.10",
    "web01": "10.0.0.11",
    "web02": "10.0.0.12",
    "db01": "2001:db8::21",
    "db03": "db03.internal.example",
}


def recorded() -> Inventory:
    listing = json.loads(LISTING.read_text(encoding="utf-8"))
    return Inventory.from_listing((YAML_FILE,), listing)


def bare(root: Path) -> AnsibleSetup:
    return setup(root, None, {})


# from a recorded listing


def test_listing_expands_children_groups() -> None:
    """Groups hold the hosts of their children, nested two levels deep (prod > db > db_primary)."""
    assert dict(recorded().groups) == EXPECTED_GROUPS


def test_listing_reads_ansible_host_addresses() -> None:
    """Each host's ``ansible_host`` is its address; a host without one has none."""
    assert dict(recorded().addresses) == EXPECTED_ADDRESSES


def test_listing_template_address_is_not_an_address() -> None:
    """An ``ansible_host`` that is a Jinja template is not taken as an address."""
    listing: dict[str, Any] = {
        "_meta": {"hostvars": {"web01": {"ansible_host": "{{ inventory_hostname }}.ex"}}},
        "all": {"children": ["ungrouped"]}, "ungrouped": {"hosts": ["web01"]}}
    loaded = Inventory.from_listing((Path("x"),), listing)
    assert loaded.hosts == {"web01"}
    assert dict(loaded.addresses) == {}


def test_cache_keeps_no_variable_but_addresses() -> None:
    """What the cache stores is groups and addresses: a vaulted or secret variable in the
    listing never lands on disk."""
    listing = json.loads(LISTING.read_text(encoding="utf-8"))
    listing["_meta"]["hostvars"]["web01"]["db_password"] = "hunter2"
    text = json.dumps(Inventory.from_listing((YAML_FILE,), listing).to_json())
    assert "hunter2" not in text and "backup_enabled" not in text
    assert "10.0.0.11" in text


def test_resolve_by_inventory_name() -> None:
    """A target that is a host name resolves to itself."""
    assert recorded().resolve("web02") == "web02"


@pytest.mark.parametrize(("address", "host"), [
    ("10.0.0.11", "web01"),
    ("2001:db8::21", "db01"),
    ("db03.internal.example", "db03"),
    ("192.0.2.10", "bastion"),
])
def test_resolve_by_ansible_host(address: str, host: str) -> None:
    """A target that is a host's ``ansible_host`` resolves to that host's name."""
    assert recorded().resolve(address) == host


@pytest.mark.parametrize("target", ["web03", "10.0.0.99", "web", "prod", "", "WEB01"])
def test_resolve_unknown_target_is_none(target: str) -> None:
    """Unknown names, addresses and group names resolve to None."""
    assert recorded().resolve(target) is None


def test_resolve_prefers_a_host_name_over_an_address() -> None:
    """A target that is both a host name and another host's address is that host."""
    inv = Inventory(sources=(Path("inv.yml"),), groups={"all": frozenset({"a", "b"})},
                    addresses={"a": "b"})
    assert inv.resolve("b") == "b"


def test_resolve_shared_address_picks_the_first_host_by_name() -> None:
    """Two hosts with one address resolve deterministically to the first name in order."""
    inv = Inventory(sources=(Path("inv.yml"),), groups={"all": frozenset({"zeta", "alpha"})},
                    addresses={"zeta": "10.1.1.1", "alpha": "10.1.1.1"})
    assert inv.resolve("10.1.1.1") == "alpha"


def test_missing_inventory_is_an_error(tmp_path: Path) -> None:
    """A path that does not exist is an InventoryError naming it (no ansible run)."""
    with pytest.raises(InventoryError, match="inventory not found") as caught:
        inventory.load([tmp_path / "absent.yml"], bare(tmp_path))
    assert caught.value.where == str(tmp_path / "absent.yml")


# through ansible-inventory


@pytest.mark.ansible
@pytest.mark.parametrize("path", [YAML_FILE, INI_FILE], ids=["yaml", "ini"])
def test_files_read_by_ansible(path: Path, tmp_path: Path) -> None:
    """YAML and INI files give the same groups and addresses."""
    loaded = inventory.load([path], bare(tmp_path))
    assert dict(loaded.groups) == EXPECTED_GROUPS
    assert dict(loaded.addresses) == EXPECTED_ADDRESSES
    assert not loaded.from_cache


def directory_inventory(root: Path) -> Path:
    """A shop's layout: inventory/prod/hosts.ini, group_vars/, host_vars/web-01.yml."""
    prod = root / "inventory" / "prod"
    (prod / "group_vars").mkdir(parents=True)
    (prod / "host_vars").mkdir()
    (prod / "hosts.ini").write_text("[web]\nweb-01\nweb-02\n\n[db]\ndb-01\n"
                                    "web[10:12]\n", encoding="utf-8")
    (prod / "host_vars" / "web-01.yml").write_text("ansible_host: 10.20.0.11\n",
                                                   encoding="utf-8")
    (prod / "group_vars" / "db.yml").write_text("ansible_host: db.internal\n", encoding="utf-8")
    # after hosts.ini: a folder's files are read in name order
    (prod / "zz-constructed.yml").write_text(yaml.safe_dump({
        "plugin": "ansible.builtin.constructed", "strict": False,
        "groups": {"frontends": "inventory_hostname.startswith('web')"}}), encoding="utf-8")
    return prod


@pytest.mark.ansible
def test_directory_with_host_vars_group_vars_and_constructed(tmp_path: Path) -> None:
    """``ansible_host`` set only in host_vars/ or group_vars/ resolves, host ranges expand and
    a ``constructed`` group exists: Ansible's own reading, not a parser of ours."""
    prod = directory_inventory(tmp_path)
    loaded = inventory.load([prod], bare(tmp_path))
    assert loaded.resolve("10.20.0.11") == "web-01"
    assert loaded.resolve("db.internal") == "db-01"
    assert loaded.groups["db"] == {"db-01", "web10", "web11", "web12"}
    assert loaded.groups["frontends"] == {"web-01", "web-02", "web10", "web11", "web12"}


@pytest.mark.ansible
def test_ansible_cfg_inventory_and_playbook_dir_host_vars(tmp_path: Path) -> None:
    """With no inventory named, ansible.cfg's applies (relative to the cfg); host_vars beside
    the playbooks count too (``--playbook-dir``), as they do for ansible-playbook."""
    from remediator import config

    prod = directory_inventory(tmp_path)
    (tmp_path / "ansible.cfg").write_text("[defaults]\ninventory = inventory/prod\n",
                                          encoding="utf-8")
    playbooks = tmp_path / "playbooks"
    (playbooks / "host_vars").mkdir(parents=True)
    (playbooks / "host_vars" / "web-02.yml").write_text("ansible_host: 10.20.0.12\n",
                                                        encoding="utf-8")
    (tmp_path / "remediator.yml").write_text("catalog: remediations.yml\n", encoding="utf-8")
    loaded_config = config.load(tmp_path / "remediator.yml", env={})
    assert loaded_config.inventory == (prod,)
    loaded = inventory.load_config(loaded_config)
    assert loaded.resolve("10.20.0.12") == "web-02"
    assert loaded.resolve("10.20.0.11") == "web-01"


@pytest.mark.ansible
def test_unparsable_source_is_an_error_naming_it(tmp_path: Path) -> None:
    """A source no plugin parses is an error (Ansible alone would warn and run on nothing)."""
    path = tmp_path / "hosts.yml"
    path.write_text("all:\n  hosts:\n    web01:\n   bad: [indent\n", encoding="utf-8")
    with pytest.raises(InventoryError, match="ansible-inventory failed") as caught:
        inventory.load([path], bare(tmp_path))
    assert str(path) in str(caught.value)


@pytest.mark.ansible
def test_cache_is_used_until_a_file_changes(tmp_path: Path) -> None:
    """A second read of an unchanged inventory comes from the cache; a new host_vars file
    (which ansible-inventory reads, but no inventory file names) invalidates it."""
    prod = directory_inventory(tmp_path)
    cache = tmp_path / "cache"
    first = inventory.load([prod], bare(tmp_path), cache_dir=cache)
    again = inventory.load([prod], bare(tmp_path), cache_dir=cache)
    assert not first.from_cache and again.from_cache
    assert again == first
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    (prod / "host_vars" / "web-02.yml").write_text("ansible_host: 10.20.0.12\n",
                                                   encoding="utf-8")
    changed = inventory.load([prod], bare(tmp_path), cache_dir=cache)
    assert not changed.from_cache
    assert changed.resolve("10.20.0.12") == "web-02"


@pytest.mark.ansible
def test_script_inventory_is_listed_again_after_the_ttl(tmp_path: Path) -> None:
    """An executable inventory asks something outside its files: its listing is reused for
    ``inventory_ttl`` seconds only."""
    script = tmp_path / "hosts.py"
    state = tmp_path / "state.txt"
    state.write_text("web-01", encoding="utf-8")
    script.write_text(
        "#!/usr/bin/env python3\nimport json, pathlib\n"
        f"host = pathlib.Path({str(state)!r}).read_text()\n"
        "print(json.dumps({'web': {'hosts': [host]}, '_meta': {'hostvars': {}}}))\n",
        encoding="utf-8")
    script.chmod(0o755)
    cache = tmp_path / "cache"
    assert inventory.load([script], bare(tmp_path), cache_dir=cache).hosts == {"web-01"}
    state.write_text("web-02", encoding="utf-8")
    cached = inventory.load([script], bare(tmp_path), cache_dir=cache, ttl_s=300)
    assert cached.from_cache and cached.hosts == {"web-01"}
    fresh = inventory.load([script], bare(tmp_path), cache_dir=cache, ttl_s=0)
    assert not fresh.from_cache and fresh.hosts == {"web-02"}


def test_cache_key_follows_content_not_location(tmp_path: Path) -> None:
    """Two copies of one static inventory share a key; a changed byte, an ANSIBLE_ variable
    or an ansible.cfg changes it (no ansible run: the key is a hash)."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "hosts.yml").write_text(YAML_FILE.read_text(encoding="utf-8"),
                                                   encoding="utf-8")
    key_a, dynamic = inventory.fingerprint((tmp_path / "a" / "hosts.yml",), bare(tmp_path),
                                           None, {})
    key_b, _ = inventory.fingerprint((tmp_path / "b" / "hosts.yml",), bare(tmp_path), None, {})
    assert key_a == key_b and not dynamic
    key_env, _ = inventory.fingerprint((tmp_path / "a" / "hosts.yml",), bare(tmp_path), None,
                                       {"ANSIBLE_INVENTORY_ENABLED": "yaml"})
    (tmp_path / "b" / "hosts.yml").write_text("all: {}\n", encoding="utf-8")
    key_changed, _ = inventory.fingerprint((tmp_path / "b" / "hosts.yml",), bare(tmp_path),
                                           None, {})
    (tmp_path / "ansible.cfg").write_text("[defaults]\n", encoding="utf-8")
    key_cfg, _ = inventory.fingerprint((tmp_path / "a" / "hosts.yml",),
                                       setup(tmp_path, None, {}), None, {})
    assert len({key_a, key_env, key_changed, key_cfg}) == 4


def test_plugin_config_other_than_file_plugins_is_dynamic(tmp_path: Path) -> None:
    """A plugin config asking a service (here aws_ec2) is dynamic; ``constructed`` is not."""
    aws = tmp_path / "aws_ec2.yml"
    aws.write_text("plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n", encoding="utf-8")
    constructed = tmp_path / "constructed.yml"
    constructed.write_text("plugin: ansible.builtin.constructed\n", encoding="utf-8")
    assert inventory.fingerprint((aws,), bare(tmp_path), None, {})[1]
    assert not inventory.fingerprint((constructed,), bare(tmp_path), None, {})[1]
    assert os.access(aws, os.R_OK)
