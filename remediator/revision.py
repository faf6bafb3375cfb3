"""Which revision of the catalog and playbooks ran: a git commit (and whether it was dirty)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any


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


def tree_sha256(paths: Iterable[Path]) -> str:
    """sha256 over the relative names and bytes of every file under ``paths``, in order."""
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            digest.update(str(path.name if root == path else path.relative_to(root)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes() if path.is_file() else b"")
            digest.update(b"\0")
    return digest.hexdigest()


def catalog_revision(catalog: Path, playbooks: Path) -> dict[str, Any]:
    """The git commit and dirty flag of catalog + playbooks, or their sha256 outside git."""
    where = catalog.parent
    top = _git(where, "rev-parse", "--show-toplevel")
    commit = _git(where, "rev-parse", "HEAD") if top else None
    if top and not commit:  # a repository with no commit yet: nothing is committed
        return {"vcs": "git", "commit": None, "dirty": True}
    if top and commit:
        status = _git(Path(top.strip()), "status", "--porcelain", "--untracked-files=all",
                      "--ignored=matching", "--", str(catalog), str(playbooks))
        changed = [line for line in (status or "").splitlines()
                   if line.strip() and not _cache(line)]
        return {"vcs": "git", "commit": commit.strip(), "dirty": status is None or bool(changed)}
    return {"vcs": "none", "sha256": tree_sha256([catalog, playbooks]), "dirty": False}


_CACHES = ("__pycache__/", ".pyc", ".retry")


def _cache(line: str) -> bool:
    """An ignored file that changes nothing that runs (Python's bytecode, Ansible's retry
    files). Any other ignored file under the catalog or playbooks counts as a change: it is
    used, yet no commit holds it."""
    return line.startswith("!! ") and any(mark in line or line.endswith(mark)
                                          for mark in _CACHES)
