"""Which revision of the catalog and playbooks ran: a git commit (and whether it was dirty)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .config import Config


def file_sha256(path: Path) -> str | None:
    """sha256 of a file's bytes, or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _git(cwd: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def tree_sha256(paths: Iterable[Path], exclude: Iterable[Path] = ()) -> str:
    """sha256 over the relative names and bytes of every file under ``paths``, in order,
    but for those under ``exclude`` (remediator's state: a SQLite file is never opened here,
    since closing a descriptor of it drops the locks this process holds on it)."""
    skipped = [p.resolve() for p in exclude]
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if any(_inside(path, s) for s in skipped):
                continue
            digest.update(str(path.name if root == path else path.relative_to(root)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes() if path.is_file() else b"")
            digest.update(b"\0")
    return digest.hexdigest()


MAX_DIRTY_PATHS = 50  # changed paths named in a record


def catalog_revision(catalog: Path, playbooks: Path, also: Iterable[Path] = (),
                     exclude: Iterable[Path] = ()) -> dict[str, Any]:
    """The git commit of what a run reads, whether any of it has uncommitted changes, and
    which paths those are; outside git, a sha256 of the catalog and playbooks.

    Under ``catalog`` and ``playbooks`` a git-ignored file counts as a change (it is used, yet
    no commit holds it; caches aside). Under ``also`` (roles, collections, inventory, ansible.cfg:
    see ``review_paths``) only tracked and untracked files count: what ``ansible-galaxy
    install`` put in an ignored folder is pinned by the committed requirements file.
    Paths under ``exclude`` (remediator's own state: the store, runs and cache folders, when
    they live inside the playbooks' folder) never count.
    """
    where = catalog.parent
    top = _git(where, "rev-parse", "--show-toplevel")
    commit = _git(where, "rev-parse", "HEAD") if top else None
    if top and not commit:  # a repository with no commit yet: nothing is committed
        return {"vcs": "git", "commit": None, "dirty": True, "dirty_paths": []}
    if top and commit:
        toplevel = Path(top.strip())
        extra = [str(p) for p in dict.fromkeys(also) if _inside(p, toplevel)]
        status = _git(toplevel, "status", "--porcelain", "--untracked-files=all",
                      "--ignored=traditional", "--", str(catalog), str(playbooks))
        rest = _git(toplevel, "status", "--porcelain", "--untracked-files=all", "--",
                    *extra) if extra else ""
        changed = [line for line in (status or "").splitlines()
                   if line.strip() and not _cache(line)]
        changed += [line for line in (rest or "").splitlines() if line.strip()]
        skipped = [p.resolve() for p in exclude]
        changed = [line for line in changed
                   if not any(_inside(toplevel / line[3:].strip(), s) for s in skipped)]
        paths = sorted(dict.fromkeys(line[3:].strip() for line in changed))
        return {"vcs": "git", "commit": commit.strip(),
                "dirty": status is None or rest is None or bool(changed),
                "dirty_paths": paths[:MAX_DIRTY_PATHS]}
    return {"vcs": "none", "sha256": tree_sha256([catalog, playbooks], exclude),
            "dirty": False}


def _inside(path: Path, top: Path) -> bool:
    try:
        path.resolve().relative_to(top.resolve())
    except ValueError:
        return False
    return True


_CACHES = ("__pycache__/", ".pyc", ".retry")


def _cache(line: str) -> bool:
    """An ignored file that changes nothing that runs (Python's bytecode, Ansible's retry
    files). Any other ignored file under the catalog or playbooks counts as a change: it is
    used, yet no commit holds it."""
    return line.startswith("!! ") and any(mark in line or line.endswith(mark)
                                          for mark in _CACHES)


REQUIREMENTS_FILES = ("requirements.yml", "collections/requirements.yml",
                      "roles/requirements.yml")


def review_paths(config: Config) -> list[Path]:
    """What a run reads from the repository besides the catalog and playbooks: ansible.cfg,
    the inventory sources with the ``group_vars``/``host_vars`` beside them, the roles and
    collections folders ansible.cfg names, and the requirements files."""
    ansible = config.ansible_setup
    paths = [ansible.config_file] if ansible.config_file else []
    paths += config.inventory_paths()
    paths += [*ansible.roles_paths(), *ansible.collections_paths()]
    # collections beside the playbooks, where they really are (a link to a folder elsewhere in
    # the repository: git status does not follow it)
    paths += [p.resolve() for p in (config.playbooks / "collections" / "ansible_collections"
                                    ).glob("*/*")]
    paths += requirement_files(config)
    return paths


def requirement_files(config: Config) -> list[Path]:
    """The requirements files a project commits (they pin what was reviewed)."""
    return [config.base_dir / name for name in REQUIREMENTS_FILES]


def config_revision(config: Config, vaulted: Iterable[Path] = ()) -> dict[str, Any]:
    """The revision of everything ``config``'s runs read (with the ``vaulted`` files found
    anywhere in the project), and the ansible.cfg that applies."""
    revision = catalog_revision(config.catalog, config.playbooks,
                                [*review_paths(config), *vaulted], config.state_paths())
    revision["ansible_cfg"] = config.ansible_setup.describe()
    return revision


def dirty_summary(paths: Iterable[str], limit: int = 3) -> str:
    """``a, b, c and 4 more`` for a refusal message."""
    names = list(paths)
    if not names:
        return ""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
