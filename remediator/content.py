"""What the playbooks need besides themselves: collections and roles, found or missing.

``catalog validate`` runs this before any alert arrives. Installed collections are what
``ansible-galaxy collection list`` reports with the project's ansible.cfg (its own search of
``collections_path``), plus each playbook folder's ``collections/``. Needed ones are those the
requirements files list (with their version ranges, matched by ansible-galaxy's own
``meets_requirements``) and those the playbooks and roles name by their fully qualified names:
a module (``acme.ops.drain:``), a filter or test (``| acme.ops.load_score``,
``is acme.ops.busy``) or a lookup (``lookup('acme.ops.token')``). Nothing is installed here:
``ansible-galaxy install -r requirements.yml`` is the tool for that.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .ansible_project import AnsibleSetup, program, relative

_NAME = r"[a-z_][a-z0-9_]*"
_FQCN = rf"({_NAME})\.({_NAME})\.({_NAME})"
_USES = (
    re.compile(rf"^\s*-?\s*{_FQCN}\s*:", re.MULTILINE),  # a module or action: task key
    re.compile(rf"\|\s*{_FQCN}\b"),  # a filter
    re.compile(rf"\bis\s+(?:not\s+)?{_FQCN}\b"),  # a test
    re.compile(rf"\b(?:lookup|query|q)\(\s*['\"]{_FQCN}['\"]"),  # a lookup
)
_ALWAYS = frozenset({"ansible.builtin", "ansible.legacy"})
_INSTALL_HINT = "install it with `ansible-galaxy collection install -r requirements.yml`"
_YAML_SUFFIXES = frozenset({".yml", ".yaml"})


def installed_collections(ansible: AnsibleSetup, playbook_dirs: Iterable[Path] = ()
                          ) -> dict[str, str]:
    """Installed collections as ``{fqcn: version}`` (``*`` when it has no version)."""
    found: dict[str, str] = {}
    try:
        proc = subprocess.run([program("ansible-galaxy"), "collection", "list", "--format",
                               "json"], capture_output=True, text=True, timeout=120,
                              env=ansible.process_env(),
                              cwd=ansible.root, check=False)
        listing = json.loads(proc.stdout) if proc.returncode == 0 else {}
    except (OSError, subprocess.TimeoutExpired, ValueError):
        listing = {}
    for collections in (listing or {}).values():
        for name, info in (collections or {}).items():
            found.setdefault(str(name), str((info or {}).get("version") or "*"))
    for folder in playbook_dirs:  # playbook-adjacent collections: searched first by Ansible
        for galaxy in sorted((folder / "collections" / "ansible_collections").glob("*/*")):
            found.setdefault(f"{galaxy.parent.name}.{galaxy.name}", collection_version(galaxy))
    return found


def collection_version(folder: Path) -> str:
    """A collection folder's version, from its MANIFEST.json or galaxy.yml ("*": none)."""
    for name, key in (("MANIFEST.json", "collection_info"), ("galaxy.yml", None)):
        try:
            text = (folder / name).read_text(encoding="utf-8")
            data = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
            info = data.get(key) if key else data
            return str(info.get("version") or "*")
        except (OSError, ValueError, AttributeError, yaml.YAMLError):
            continue
    return "*"


def requirement_problems(files: Iterable[Path], installed: Mapping[str, str],
                         root: Path) -> list[str]:
    """One problem per collection a requirements file lists that is missing, or installed at
    a version outside its range; each names the file and line."""
    from ansible.galaxy.dependency_resolution.versioning import (  # type: ignore[import-untyped]
        meets_requirements,
    )

    problems = []
    for path in files:
        for line, name, wanted in requirement_lines(path):
            where = f"{relative(path, root)}:{line}"
            have = installed.get(name)
            if have is None:
                problems.append(f"{where}: collection {name} ({wanted}) is not installed "
                                f"where ansible.cfg's collections_path looks; {_INSTALL_HINT}")
            elif have != "*" and wanted != "*" and not meets_requirements(have, wanted):
                problems.append(f"{where}: collection {name} is {have}, the requirement is "
                                f"{wanted}; {_INSTALL_HINT}")
    return problems


def requirement_lines(path: Path) -> list[tuple[int, str, str]]:
    """(line, fqcn, version range) of each Galaxy collection a requirements file lists."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    found = []
    for key, value in node.value:
        if key.value != "collections" or not isinstance(value, yaml.SequenceNode):
            continue
        for item in value.value:
            data: Any = yaml.safe_load(yaml.serialize(item))
            if isinstance(data, str):
                data = {"name": data}
            if not isinstance(data, Mapping) or data.get("type") not in (None, "galaxy"):
                continue  # a git, url, file or dir requirement: its name is a location
            name = str(data.get("name") or "")
            if re.fullmatch(rf"{_NAME}\.{_NAME}", name):
                found.append((item.start_mark.line + 1, name, str(data.get("version") or "*")))
    return found


def usage_problems(folders: Iterable[Path], installed: Mapping[str, str], root: Path
                   ) -> list[str]:
    """One problem per file and collection: a playbook or role names a module, filter, test
    or lookup of a collection that is not installed (the first use, by line)."""
    problems = []
    for path in _yaml_files(folders):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        reported: set[str] = set()
        for pattern in _USES:
            for match in pattern.finditer(text):
                collection = f"{match.group(1)}.{match.group(2)}"
                if collection in _ALWAYS or collection in installed or collection in reported:
                    continue
                reported.add(collection)
                line = text.count("\n", 0, match.start(1)) + 1
                problems.append(f"{relative(path, root)}:{line}: uses "
                                f"{'.'.join(match.groups())} from collection {collection}, "
                                f"which is not installed; {_INSTALL_HINT}")
    return sorted(problems)


def _yaml_files(folders: Iterable[Path]) -> list[Path]:
    files: dict[Path, None] = {}
    for folder in folders:
        if folder.is_file():
            files[folder] = None
        elif folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.suffix in _YAML_SUFFIXES and path.is_file() and \
                        "ansible_collections" not in path.parts:
                    files[path] = None
    return list(files)
