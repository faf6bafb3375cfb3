"""Playbooks from installed collections: ``playbook: ns.coll.name`` in the catalog.

An FQCN playbook is found the way ``ansible-playbook ns.coll.name`` finds it from the project
root: the first ``ansible_collections/ns/coll`` folder along the collections path the project's
ansible.cfg (or ``$ANSIBLE_COLLECTIONS_PATH``) sets, else Ansible's defaults; in it,
``playbooks/name.yml`` (or ``.yaml``; ``ns.coll.dir.name`` is ``playbooks/dir/name.yml``). The
first collection found wins even when it lacks the playbook, as in Ansible.

What was reviewed of a collection is the version range the committed requirements file pins
(``collections: [{name: ns.coll, version: ...}]``): an installed version outside it, or a
collection no requirements file pins, is not what was reviewed (``unreviewed``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .ansible_project import relative
from .content import collection_version, requirement_lines
from .models import CollectionRef, Remediation

_PART = r"[a-z_][a-z0-9_]*"
FQCN_RE = re.compile(rf"^({_PART})\.({_PART})\.((?:{_PART}\.)*{_PART})$")
_PLAYBOOK_SUFFIXES = (".yml", ".yaml")


def is_fqcn(playbook: str) -> bool:
    """True when a catalog's ``playbook`` names a collection playbook (``ns.coll.name``), not a
    file (``site.yml``)."""
    return FQCN_RE.match(playbook) is not None and not playbook.endswith(_PLAYBOOK_SUFFIXES)


def collection_roots(search: Iterable[Path]) -> list[Path]:
    """The ``ansible_collections`` folders of a collections path, in order (a path entry may
    name that folder itself or the folder holding it, as in Ansible)."""
    return [p if p.name == "ansible_collections" else p / "ansible_collections" for p in search]


def collection_sha256(folder: Path) -> str:
    """sha256 over the relative names and bytes of an installed collection's files (Python's
    caches aside): what its roles, playbooks and plugins are, whatever its version says (an
    installed copy edited in place keeps its version)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if "__pycache__" in relative.parts or path.suffix == ".pyc":
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def find_playbook(fqcn: str, search: Sequence[Path]) -> tuple[Path, CollectionRef]:
    """The playbook file an FQCN names and its collection; LookupError saying what is missing
    (the collection, or the playbook in it) and where it looked."""
    found = FQCN_RE.match(fqcn)
    if found is None:
        raise LookupError(f"{fqcn!r} is not a collection playbook name (namespace.collection.name)")
    namespace, name, rest = found.groups()
    collection = f"{namespace}.{name}"
    for root in collection_roots(search):
        folder = root / namespace / name
        if not folder.is_dir():
            continue
        ref = CollectionRef(collection, collection_version(folder), str(folder.resolve()),
                            collection_sha256(folder))
        base = folder.joinpath("playbooks", *rest.split("."))
        for suffix in _PLAYBOOK_SUFFIXES:
            path = base.with_name(base.name + suffix)
            if path.is_file() and path.resolve().is_relative_to(folder.resolve()):
                return path.resolve(), ref
        raise LookupError(
            f"collection {collection} {ref.version} (in {folder}) has no playbook "
            f"playbooks/{rest.replace('.', '/')}.yml; its playbooks: "
            f"{', '.join(_playbooks(folder, collection)) or 'none'}")
    where = ", ".join(str(p) for p in search) or "no folder"
    raise LookupError(
        f"collection {collection} is not installed where the project's Ansible looks for "
        f"collections ({where}); install it with `ansible-galaxy collection install -r "
        f"requirements.yml` (or from its tarball: `ansible-galaxy collection install "
        f"FILE.tar.gz -p collections`, with collections_path = collections in ansible.cfg)")


def _playbooks(folder: Path, collection: str) -> list[str]:
    top = folder / "playbooks"
    return sorted(f"{collection}.{'.'.join(p.relative_to(top).with_suffix('').parts)}"
                  for p in top.rglob("*") if p.suffix in _PLAYBOOK_SUFFIXES and p.is_file())


def pins(requirement_files: Iterable[Path], root: Path) -> dict[str, tuple[str, str]]:
    """``{collection: (version range, file:line)}`` from the requirements files (first wins)."""
    found: dict[str, tuple[str, str]] = {}
    for path in requirement_files:
        for line, name, wanted in requirement_lines(path):
            found.setdefault(name, (wanted, f"{relative(path, root)}:{line}"))
    return found


def review_problem(ref: CollectionRef, pinned: dict[str, tuple[str, str]]) -> str | None:
    """Why the installed collection is not the reviewed one (None when it is)."""
    from ansible.galaxy.dependency_resolution.versioning import (  # type: ignore[import-untyped]
        meets_requirements,
    )

    pin = pinned.get(ref.name)
    if pin is None:
        return (f"collection {ref.name} is installed at {ref.version}, and no committed "
                f"requirements file pins a reviewed version")
    wanted, where = pin
    if wanted != "*" and (ref.version == "*" or not meets_requirements(ref.version, wanted)):
        return (f"collection {ref.name} is installed at {ref.version}, the reviewed version is "
                f"{wanted} ({where})")
    changed = modified_files(Path(ref.path))
    if changed:
        shown = ", ".join(changed[:MAX_NAMED]) + (
            f" and {len(changed) - MAX_NAMED} more" if len(changed) > MAX_NAMED else "")
        return (f"collection {ref.name} {ref.version} was changed after it was installed "
                f"({shown}: not as its FILES.json lists them; `ansible-galaxy collection "
                f"verify --offline {ref.name}` shows the same), so it is not the reviewed "
                f"{ref.version}")
    return None


MAX_NAMED = 5  # changed files named in a reason


def modified_files(folder: Path) -> list[str]:
    """The files of an installed collection that differ from the checksums its FILES.json
    (written by ``ansible-galaxy collection build``) lists, are missing, or are not listed
    (Python's caches aside); [] for a collection with no FILES.json (a source checkout, which
    git reviews)."""
    try:
        listed = json.loads((folder / "FILES.json").read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    expected = {str(f["name"]): f.get("chksum_sha256") for f in listed
                if isinstance(f, dict) and f.get("ftype") == "file"}
    changed = []
    for name, checksum in expected.items():
        path = folder / name
        try:
            if hashlib.sha256(path.read_bytes()).hexdigest() != checksum:
                changed.append(name)
        except OSError:
            changed.append(f"{name} (missing)")
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if path.is_file() and "__pycache__" not in relative.parts and path.suffix != ".pyc" \
                and str(relative) not in expected and relative.parts[0] not in _OWN_FILES:
            changed.append(f"{relative} (not listed)")
    return sorted(changed)


_OWN_FILES = frozenset({"MANIFEST.json", "FILES.json"})  # not listed in FILES.json


def unreviewed(entries: Iterable[Remediation], requirement_files: Iterable[Path],
               root: Path) -> dict[str, str]:
    """``{collection: why}`` for each collection the entries run whose installed version is
    not the reviewed one."""
    pinned = pins(requirement_files, root)
    problems: dict[str, str] = {}
    for entry in entries:
        ref = entry.collection
        if ref is not None and ref.name not in problems:
            problem = review_problem(ref, pinned)
            if problem is not None:
                problems[ref.name] = problem
    return problems
