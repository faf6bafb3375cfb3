"""The Ansible inventory, read to check that an alert's target is a known host.

Read by ansible-core itself (``ansible-inventory --list``, with the project's ansible.cfg, from
the project root, with the playbooks' folder as ``--playbook-dir``), so that any inventory
Ansible accepts works: files, folders, scripts, plugins such as ``constructed``, with
``group_vars``/``host_vars`` and ``ansible_host`` wherever they are set. A listing costs about a
second, so its result (host names, groups, addresses: no other variable) is kept in the cache
folder under a key over everything it was read from: the source files' names and bytes, the
``group_vars``/``host_vars`` beside them and beside the playbooks, ansible.cfg, the ``ANSIBLE_*``
environment and ansible-core's version. A source whose content lives elsewhere (an executable
script, an inventory plugin other than the file-based ones) is listed again after
``inventory_ttl`` seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ansible_project import VARS_DIRS, AnsibleSetup, program
from .config import Config
from .errors import InventoryError
from .yamlio import check_bounds

CACHE_VERSION = 1
_PLUGIN_RE = re.compile(r"^plugin:\s*['\"]?([\w.]+)", re.MULTILINE)
# inventory plugins whose listing follows from the files alone (the rest ask something else)
_FILE_PLUGINS = frozenset({"constructed", "generator", "yaml", "ini", "toml", "host_list",
                           "advanced_host_list", "auto"})
# Strictness: a source no plugin can parse is an error here, never an empty inventory.
_STRICT_ENV = {"ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
               "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True"}


@dataclass(frozen=True, slots=True)
class Inventory:
    """Host names, their groups and their ``ansible_host`` addresses."""

    sources: tuple[Path, ...]
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    addresses: Mapping[str, str] = field(default_factory=dict)  # host -> ansible_host
    from_cache: bool = field(default=False, compare=False)  # read back, not listed now
    by_address: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, str] = {}
        for host, address in sorted(self.addresses.items()):  # shared: the first name wins
            index.setdefault(address, host)
        object.__setattr__(self, "by_address", index)

    @property
    def path(self) -> str:
        """The sources, for messages."""
        return ", ".join(str(s) for s in self.sources)

    @property
    def hosts(self) -> frozenset[str]:
        """Every host in the inventory."""
        return self.groups.get("all", frozenset())

    def resolve(self, target: str) -> str | None:
        """The inventory name for ``target``: a host name, or a host's ``ansible_host``."""
        if target in self.hosts:
            return target
        return self.by_address.get(target)

    @classmethod
    def from_listing(cls, sources: tuple[Path, ...], listing: Mapping[str, Any]) -> Inventory:
        """From ``ansible-inventory --list`` output (groups, children, ``_meta.hostvars``)."""
        members: dict[str, set[str]] = {}
        children: dict[str, set[str]] = {}
        hostvars = (listing.get("_meta") or {}).get("hostvars") or {}
        for group, node in listing.items():
            if group == "_meta" or not isinstance(node, Mapping):
                continue
            members.setdefault(group, set()).update(str(h) for h in node.get("hosts") or ())
            children.setdefault(group, set()).update(str(c) for c in node.get("children") or ())

        def expand(group: str, seen: frozenset[str]) -> set[str]:
            result = set(members.get(group, set()))
            for child in children.get(group, set()) - seen:
                result |= expand(child, seen | {child})
            return result

        names = set(members) | {c for cs in children.values() for c in cs}
        groups = {g: frozenset(expand(g, frozenset({g}))) for g in names}
        everyone = frozenset().union(*groups.values()) | frozenset(hostvars)
        groups["all"] = everyone
        addresses = {}
        for host, variables in hostvars.items():
            address = variables.get("ansible_host") if isinstance(variables, Mapping) else None
            if isinstance(address, str) and address and "{{" not in address:
                addresses[str(host)] = address
        return cls(sources=sources, groups=groups, addresses=addresses)

    def to_json(self) -> dict[str, Any]:
        """What the cache keeps: groups and addresses, never another variable."""
        return {"version": CACHE_VERSION,
                "groups": {g: sorted(h) for g, h in sorted(self.groups.items())},
                "addresses": dict(sorted(self.addresses.items()))}


def load(sources: Iterable[Path], ansible: AnsibleSetup, *, playbook_dir: Path | None = None,
         cache_dir: Path | None = None, ttl_s: int = 300) -> Inventory:
    """The inventory of ``sources`` as Ansible reads it, from the cache when nothing it was
    read from has changed."""
    sources = tuple(sources)
    for source in sources:
        if not source.exists():
            raise InventoryError("inventory not found", where=str(source))
    key, dynamic = fingerprint(sources, ansible, playbook_dir, os.environ)
    cached = cache_dir / f"inventory-{key}.json" if cache_dir is not None else None
    if cached is not None:
        found = _read_cache(cached, sources, ttl_s if dynamic else None)
        if found is not None:
            return found
    for _, path in _inputs(sources, playbook_dir):  # ansible would hang on a YAML bomb
        if path.suffix in (".yml", ".yaml", ".json", ""):
            check_bounds(path, InventoryError)
    inventory = Inventory.from_listing(sources, list_inventory(sources, ansible, playbook_dir))
    if cached is not None:
        _write_cache(cached, inventory)
    return inventory


def list_inventory(sources: tuple[Path, ...], ansible: AnsibleSetup,
                   playbook_dir: Path | None) -> dict[str, Any]:
    """``ansible-inventory --list`` over ``sources``; an InventoryError names what failed."""
    argv = [program("ansible-inventory"), "--list"]
    for source in sources:
        argv += ["-i", str(source)]
    if playbook_dir is not None and playbook_dir.is_dir():
        argv += ["--playbook-dir", str(playbook_dir)]
    where = ", ".join(str(s) for s in sources)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False,
                              env=ansible.process_env(**_STRICT_ENV), cwd=ansible.root)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InventoryError(f"ansible-inventory failed: {exc}", where=where) from None
    if proc.returncode != 0:
        raise InventoryError(f"ansible-inventory failed: {_complaint(proc.stderr)}",
                             where=where)
    try:
        listing = json.loads(proc.stdout)
    except ValueError as exc:
        raise InventoryError(f"ansible-inventory printed no JSON listing: {exc}",
                             where=where) from None
    if not isinstance(listing, dict):
        raise InventoryError("ansible-inventory printed no JSON listing", where=where)
    return listing


def _complaint(stderr: str) -> str:
    """ansible's error lines, without its banner noise, at most a few."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith("[WARNING]: Invalid characters")]
    return " | ".join(useful[:8])[:2000] or "no message"


def fingerprint(sources: tuple[Path, ...], ansible: AnsibleSetup, playbook_dir: Path | None,
                env: Mapping[str, str]) -> tuple[str, bool]:
    """(key, dynamic): a hash over everything a listing of ``sources`` reads, and whether a
    source's content lives outside its files (a script, a plugin asking a remote service)."""
    from ansible.release import (  # type: ignore[import-untyped]
        __version__ as ansible_version,
    )

    digest = hashlib.sha256(f"v{CACHE_VERSION}\0{ansible_version}\0".encode())
    dynamic = False
    for name in sorted(env):
        if name.startswith("ANSIBLE_") and name != "ANSIBLE_CONFIG":
            digest.update(f"{name}={env[name]}\0".encode())
    if ansible.config_file is not None:
        _feed(digest, "ansible.cfg", ansible.config_file)
    for name, path in _inputs(sources, playbook_dir):
        if _feed(digest, name, path):
            dynamic = True
    if dynamic:  # a script's output may depend on where it is
        digest.update("\0".join(str(s) for s in sources).encode())
    return digest.hexdigest()[:32], dynamic


def _inputs(sources: tuple[Path, ...], playbook_dir: Path | None
            ) -> list[tuple[str, Path]]:
    """(stable name, file) of every file a listing reads: the sources, and the
    ``group_vars``/``host_vars`` beside file sources and beside the playbooks."""
    roots: list[tuple[str, Path]] = []
    for index, source in enumerate(sources):
        roots.append((f"source{index}", source))
        if source.is_file():
            roots += [(f"source{index}-{d}", source.parent / d) for d in VARS_DIRS]
    if playbook_dir is not None:
        roots += [(f"playbooks-{d}", playbook_dir / d) for d in VARS_DIRS]
    found = []
    for label, root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        found += [(label if path == root else f"{label}/{path.relative_to(root)}", path)
                  for path in files]
    return found


def _feed(digest: Any, name: str, path: Path) -> bool:
    """Hash one file's name, mode and bytes; True when it makes the inventory dynamic."""
    try:
        data = path.read_bytes()
        executable = os.access(path, os.X_OK)
    except OSError:
        data, executable = b"", False
    digest.update(f"{name}\0{int(executable)}\0{len(data)}\0".encode())
    digest.update(data)
    if executable:
        return True
    if path.suffix in (".yml", ".yaml"):
        match = _PLUGIN_RE.search(data[:4096].decode("utf-8", "replace"))
        if match and match.group(1).rsplit(".", 1)[-1] not in _FILE_PLUGINS:
            return True
    return False


def _read_cache(path: Path, sources: tuple[Path, ...], ttl_s: int | None) -> Inventory | None:
    try:
        if ttl_s is not None and time.time() - path.stat().st_mtime > ttl_s:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != CACHE_VERSION:
            return None
        groups = {str(g): frozenset(str(h) for h in hs) for g, hs in data["groups"].items()}
        return Inventory(sources=sources, groups=groups, addresses=dict(data["addresses"]),
                         from_cache=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # no cache, or a damaged one: list again


def _write_cache(path: Path, inventory: Inventory) -> None:
    """Best effort: a cache that cannot be written costs time, never correctness."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(inventory.to_json()), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def load_config(config: Config) -> Inventory:
    """The inventory ``config`` names, read with the project's Ansible setup."""
    return load(config.inventory, config.ansible_setup, playbook_dir=config.playbooks,
                cache_dir=config.cache, ttl_s=config.inventory_ttl)
