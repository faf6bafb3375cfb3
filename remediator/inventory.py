"""The Ansible inventory, read to check that an alert's target is a known host.

Static YAML and INI files are read directly (fast: no ansible import); anything else (a folder,
a script, an inventory plugin config, host ranges) goes through ``ansible-inventory --list``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InventoryError


@dataclass(frozen=True, slots=True)
class Inventory:
    """Host names, their groups and their ``ansible_host`` addresses."""

    path: Path
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    addresses: Mapping[str, str] = field(default_factory=dict)  # host -> ansible_host

    @property
    def hosts(self) -> frozenset[str]:
        """Every host in the inventory."""
        return self.groups.get("all", frozenset())

    by_address: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, str] = {}
        for host, address in sorted(self.addresses.items()):  # shared: the first name wins
            index.setdefault(address, host)
        object.__setattr__(self, "by_address", index)

    def resolve(self, target: str) -> str | None:
        """The inventory name for ``target``: a host name, or a host's ``ansible_host``."""
        if target in self.hosts:
            return target
        return self.by_address.get(target)


_RANGE_RE = re.compile(r"\[[^\]]*:[^\]]*\]")  # a host range such as web[01:20]
_PORT_RE = re.compile(r"^([^:\[\]]+):(\d+)$")  # "web01:2222" is host web01, port 2222


def load(path: Path) -> Inventory:
    """Read the inventory at ``path`` by the fastest faithful route."""
    if not path.exists():
        raise InventoryError("inventory not found", where=str(path))
    if path.is_file() and not os.access(path, os.X_OK):
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix in (".yml", ".yaml"):
            parsed = _parse_yaml(path, text)
            if parsed is not None:
                return parsed
        elif path.suffix in ("", ".ini", ".cfg", ".hosts"):
            try:
                return _parse_ini(path, text)
            except _NeedsAnsible:
                pass
    return _ansible_inventory(path)


class _Builder:
    """Accumulates group membership while parsing."""

    def __init__(self) -> None:
        self.members: dict[str, set[str]] = {"all": set(), "ungrouped": set()}
        self.children: dict[str, set[str]] = {}
        self.addresses: dict[str, str] = {}

    def host(self, group: str, name: str, hostvars: Mapping[str, Any] | None) -> None:
        with_port = _PORT_RE.match(name)
        if with_port:
            name = with_port.group(1)
        self.members.setdefault(group, set()).add(name)
        self.members["all"].add(name)
        address = (hostvars or {}).get("ansible_host")
        if isinstance(address, str) and "{{" not in address:
            self.addresses[name] = address

    def child(self, parent: str, group: str) -> None:
        self.children.setdefault(parent, set()).add(group)
        self.members.setdefault(group, set())

    def build(self, path: Path) -> Inventory:
        def expand(group: str, seen: frozenset[str]) -> set[str]:
            result = set(self.members.get(group, set()))
            for child in self.children.get(group, set()) - seen:
                result |= expand(child, seen | {child})
            return result

        grouped = {h for g, m in self.members.items() if g not in ("all", "ungrouped") for h in m}
        self.members["ungrouped"] |= self.members["all"] - grouped
        groups = {g: frozenset(expand(g, frozenset({g}))) for g in self.members}
        return Inventory(path=path, groups=groups, addresses=dict(self.addresses))


def _parse_yaml(path: Path, text: str) -> Inventory | None:
    """A static YAML inventory, or None when it is a plugin config (left to ansible)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InventoryError(f"invalid YAML: {exc}", where=str(path)) from None
    if data is None:
        return _Builder().build(path)
    if not isinstance(data, Mapping):
        raise InventoryError("expected a mapping of groups", where=str(path))
    if "plugin" in data:
        return None
    builder = _Builder()

    def walk(group: str, node: Any) -> None:
        if node is None:
            builder.members.setdefault(group, set())
            return
        if not isinstance(node, Mapping):
            raise InventoryError(f"group '{group}': expected a mapping", where=str(path))
        hosts = node.get("hosts") or {}
        if not isinstance(hosts, Mapping):
            raise InventoryError(f"group '{group}': 'hosts' must be a mapping", where=str(path))
        for name, hostvars in hosts.items():
            if _RANGE_RE.search(str(name)):
                raise _NeedsAnsible
            builder.host(group, str(name), hostvars if isinstance(hostvars, Mapping) else None)
        builder.members.setdefault(group, set())
        for child, child_node in (node.get("children") or {}).items():
            builder.child(group, str(child))
            walk(str(child), child_node)

    try:
        for group, node in data.items():
            walk(str(group), node)
    except _NeedsAnsible:
        return None
    return builder.build(path)


class _NeedsAnsible(Exception):
    """The file uses a feature only ansible itself expands (host ranges)."""


def _parse_ini(path: Path, text: str) -> Inventory:
    """A static INI inventory: [group], [group:children], [group:vars] sections."""
    builder = _Builder()
    group, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise InventoryError("unclosed section header", where=f"{path}:{number}")
            group, _, kind = line[1:-1].partition(":")
            kind = kind or "hosts"
            builder.members.setdefault(group, set())
            continue
        if kind == "hosts":
            try:
                name, *pairs = shlex.split(line, comments=True)
            except ValueError as exc:
                raise InventoryError(str(exc), where=f"{path}:{number}") from None
            if _RANGE_RE.search(name):
                raise _NeedsAnsible
            hostvars = dict(p.split("=", 1) for p in pairs if "=" in p)
            builder.host(group, name, hostvars)
        elif kind == "children":
            builder.child(group, line.split()[0])
    return builder.build(path)


def _ansible_inventory(path: Path) -> Inventory:
    """Any inventory ansible understands, through ``ansible-inventory --list``."""
    program = shutil.which("ansible-inventory") or str(Path(sys.executable).with_name(
        "ansible-inventory"))
    try:
        proc = subprocess.run(
            [program, "-i", str(path), "--list"], capture_output=True, text=True, timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InventoryError(f"ansible-inventory failed: {exc}", where=str(path)) from None
    if proc.returncode != 0:
        raise InventoryError(f"ansible-inventory failed: {proc.stderr.strip()}", where=str(path))
    data = json.loads(proc.stdout)
    builder = _Builder()
    hostvars = data.get("_meta", {}).get("hostvars", {})
    for group, node in data.items():
        if group == "_meta" or not isinstance(node, Mapping):
            continue
        for host in node.get("hosts", []):
            builder.host(group, host, hostvars.get(host))
        for child in node.get("children", []):
            builder.child(group, child)
    return builder.build(path)
