"""The inventory reader, tested from the inventories under tests/data/inventories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from remediator import inventory
from remediator.errors import InventoryError
from remediator.inventory import Inventory

INVENTORIES = Path(__file__).resolve().parent.parent / "data" / "inventories"
YAML_FILE = INVENTORIES / "hosts.yml"
INI_FILE = INVENTORIES / "hosts.ini"

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


def fast_parse(path: Path) -> Inventory:
    """The inventory at ``path`` read by the fast (no ansible) parser for its format."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ini":
        return inventory._parse_ini(path, text)
    parsed = inventory._parse_yaml(path, text)
    assert parsed is not None
    return parsed


def ansible_env() -> dict[str, str]:
    """The process environment with the virtualenv's bin folder first on PATH."""
    venv_bin = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}


def ansible_groups(path: Path) -> dict[str, frozenset[str]]:
    """Each group's hosts (children expanded) as ``ansible-inventory --list`` reports them."""
    proc = subprocess.run(["ansible-inventory", "-i", str(path), "--list"], capture_output=True,
                          text=True, check=True, env=ansible_env(), timeout=120)
    data: dict[str, Any] = json.loads(proc.stdout)
    nodes: dict[str, Mapping[str, Any]] = {k: v for k, v in data.items() if k != "_meta"}
    for node in list(nodes.values()):
        for child in node.get("children", []):
            nodes.setdefault(child, {})

    def members(group: str) -> frozenset[str]:
        node = nodes[group]
        found = set(node.get("hosts", []))
        for child in node.get("children", []):
            found |= members(child)
        return frozenset(found)

    return {group: members(group) for group in nodes}


@pytest.mark.parametrize("path", [YAML_FILE, INI_FILE], ids=["yaml", "ini"])
def test_fast_parser_finds_every_host(path: Path) -> None:
    """Both formats list the same six hosts."""
    assert fast_parse(path).hosts == EXPECTED_GROUPS["all"]


@pytest.mark.parametrize("path", [YAML_FILE, INI_FILE], ids=["yaml", "ini"])
def test_fast_parser_expands_children_groups(path: Path) -> None:
    """Groups hold the hosts of their children, nested two levels deep (prod > db > db_primary)."""
    assert dict(fast_parse(path).groups) == EXPECTED_GROUPS


@pytest.mark.parametrize("path", [YAML_FILE, INI_FILE], ids=["yaml", "ini"])
def test_fast_parser_puts_groupless_hosts_in_ungrouped(path: Path) -> None:
    """A host in no group but all is in ``ungrouped``; grouped hosts are not."""
    groups = fast_parse(path).groups
    assert groups["ungrouped"] == {"bastion"}
    assert "web01" not in groups["ungrouped"]


@pytest.mark.parametrize("path", [YAML_FILE, INI_FILE], ids=["yaml", "ini"])
def test_fast_parser_reads_ansible_host_addresses(path: Path) -> None:
    """Each host's ``ansible_host`` is its address; a host without one has none."""
    addresses = dict(fast_parse(path).addresses)
    assert addresses == EXPECTED_ADDRESSES
    assert "db02" not in addresses


def test_load_reads_static_yaml_like_the_fast_parser() -> None:
    """``load`` of a static YAML inventory gives what the fast parser gives."""
    loaded = inventory.load(YAML_FILE)
    assert loaded.path == YAML_FILE
    assert dict(loaded.groups) == EXPECTED_GROUPS
    assert dict(loaded.addresses) == EXPECTED_ADDRESSES


def test_ini_sections_are_not_mistaken_for_host_ranges() -> None:
    """An INI file whose only brackets are section headers is read by the fast parser."""
    parsed = inventory._parse_ini(INI_FILE, INI_FILE.read_text(encoding="utf-8"))
    assert dict(parsed.groups) == EXPECTED_GROUPS


def test_yaml_template_address_is_not_an_address(tmp_path: Path) -> None:
    """An ``ansible_host`` that is a Jinja template is not taken as an address."""
    path = tmp_path / "hosts.yml"
    path.write_text("all:\n  hosts:\n    web01:\n"
                    "      ansible_host: '{{ inventory_hostname }}.example'\n", encoding="utf-8")
    loaded = inventory.load(path)
    assert loaded.hosts == {"web01"}
    assert dict(loaded.addresses) == {}


def test_empty_yaml_inventory_has_no_hosts(tmp_path: Path) -> None:
    """An empty YAML file is an inventory with no hosts."""
    path = tmp_path / "empty.yml"
    path.write_text("", encoding="utf-8")
    assert inventory.load(path).hosts == frozenset()


def test_missing_inventory_is_an_error(tmp_path: Path) -> None:
    """A path that does not exist is an InventoryError naming it."""
    with pytest.raises(InventoryError, match="inventory not found") as caught:
        inventory.load(tmp_path / "absent.yml")
    assert caught.value.where == str(tmp_path / "absent.yml")


def test_yaml_inventory_that_is_a_list_is_an_error(tmp_path: Path) -> None:
    """A YAML inventory whose top level is not a mapping of groups is refused."""
    path = tmp_path / "hosts.yml"
    path.write_text("- web01\n", encoding="utf-8")
    with pytest.raises(InventoryError, match="expected a mapping of groups"):
        inventory.load(path)


def test_unclosed_ini_section_names_the_line(tmp_path: Path) -> None:
    """An INI section header without ``]`` is an error at its line."""
    path = tmp_path / "hosts.ini"
    path.write_text("web01\n\n[web\nweb02\n", encoding="utf-8")
    with pytest.raises(InventoryError, match="unclosed section header") as caught:
        inventory.load(path)
    assert caught.value.where == f"{path}:3"


def test_ini_quoted_address_is_unquoted(tmp_path: Path) -> None:
    """``ansible_host="10.0.0.5"`` in INI is the address 10.0.0.5, as ansible reads it."""
    path = tmp_path / "hosts.ini"
    path.write_text('[web]\nweb01 ansible_host="10.0.0.5"\n', encoding="utf-8")
    assert inventory.load(path).resolve("10.0.0.5") == "web01"


@pytest.mark.parametrize(("name", "text"), [
    ("hosts.ini", "[web]\nweb01:2222\n"),
    ("hosts.yml", "web:\n  hosts:\n    web01:2222:\n"),
], ids=["ini", "yaml"])
def test_host_with_port_is_named_without_it(tmp_path: Path, name: str, text: str) -> None:
    """A host written ``web01:2222`` is the host web01, as ansible reads it."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert inventory.load(path).hosts == {"web01"}


# resolve


def test_resolve_by_inventory_name() -> None:
    """A target that is a host name resolves to itself."""
    assert fast_parse(YAML_FILE).resolve("web02") == "web02"


@pytest.mark.parametrize(("address", "host"), [
    ("10.0.0.11", "web01"),
    ("2001:db8::21", "db01"),
    ("db03.internal.example", "db03"),
    ("192.0.2.10", "bastion"),
])
def test_resolve_by_ansible_host(address: str, host: str) -> None:
    """A target that is a host's ``ansible_host`` resolves to that host's name."""
    assert fast_parse(INI_FILE).resolve(address) == host


@pytest.mark.parametrize("target", ["web03", "10.0.0.99", "web", "prod", "", "WEB01"])
def test_resolve_unknown_target_is_none(target: str) -> None:
    """Unknown names, addresses and group names resolve to None."""
    assert fast_parse(YAML_FILE).resolve(target) is None


def test_resolve_prefers_a_host_name_over_an_address() -> None:
    """A target that is both a host name and another host's address is that host."""
    inv = Inventory(path=Path("inv.yml"), groups={"all": frozenset({"a", "b"})},
                    addresses={"a": "b"})
    assert inv.resolve("b") == "b"


def test_resolve_shared_address_picks_the_first_host_by_name() -> None:
    """Two hosts with one address resolve deterministically to the first name in order."""
    inv = Inventory(path=Path("inv.yml"), groups={"all": frozenset({"zeta", "alpha"})},
                    addresses={"zeta": "10.1.1.1", "alpha": "10.1.1.1"})
    assert inv.resolve("10.1.1.1") == "alpha"


# against ansible itself


@pytest.mark.ansible
@pytest.mark.parametrize("path", [YAML_FILE, INI_FILE], ids=["yaml", "ini"])
def test_fast_parsers_agree_with_ansible_inventory(path: Path) -> None:
    """The fast parser's hosts and group memberships equal ``ansible-inventory --list``'s."""
    expected = ansible_groups(path)
    parsed = fast_parse(path)
    assert parsed.hosts == expected["all"]
    assert dict(parsed.groups) == expected


@pytest.mark.ansible
@pytest.mark.parametrize(("name", "text"), [
    ("ranges.yml", "all:\n  children:\n    web:\n      hosts:\n        web[01:03]:\n"),
    ("ranges.ini", "[web]\nweb[01:03]\n"),
], ids=["yaml", "ini"])
def test_host_range_goes_through_ansible_inventory(
        tmp_path: Path, name: str, text: str) -> None:
    """An inventory with ``web[01:03]`` is expanded by ansible and holds web02.

    ``load`` finds ansible-inventory on PATH or next to the running Python (the virtualenv).
    """
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    loaded = inventory.load(path)
    assert loaded.hosts == {"web01", "web02", "web03"}
    assert loaded.groups["web"] == {"web01", "web02", "web03"}
    assert loaded.resolve("web02") == "web02"
