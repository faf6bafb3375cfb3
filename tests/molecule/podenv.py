"""Where ``scripts/setup-molecule.sh`` put podman's config, the collections and the image."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MOLECULE = REPO / "molecule"
CACHE = Path(os.environ.get("REMEDIATOR_CI_CACHE", "/var/cache/remediator-ci"))
COLLECTIONS = CACHE / "collections"
CONTAINERS_CONF = MOLECULE / "containers.conf"
FIXES = REPO / "playbooks" / "collections"  # holds ansible_collections/remediator/fixes
IMAGE = "localhost/localdebian:bookworm"
CLOCK_GROUP = "kernel-clock"  # xdist group of the tests that set the kernel clock's sync state
SETUP_HINT = "run `bash scripts/setup-molecule.sh` first (it installs podman and molecule, builds the image)"


def env() -> dict[str, str]:
    """The process environment plus what podman, molecule and ansible need (venv first on PATH)."""
    bindir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "CONTAINERS_CONF": str(CONTAINERS_CONF),
        # the cached collections, and remediator.fixes (the roles the playbooks import)
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join([str(COLLECTIONS), str(FIXES)]),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "NO_COLOR": "1",
        "PY_COLORS": "0",
    }


def missing() -> list[str]:
    """What the setup script should have provided but did not (empty when all is there)."""
    bindir = Path(sys.executable).parent
    gaps = [tool for tool in ("podman", "runc") if shutil.which(tool) is None]
    if not (bindir / "molecule").exists():
        gaps.append("molecule in the venv")
    if not (COLLECTIONS / "ansible_collections" / "containers" / "podman").is_dir():
        gaps.append(f"containers.podman under {COLLECTIONS}")
    return gaps


def scenarios() -> list[str]:
    """Every molecule scenario: the folders under molecule/ that hold a molecule.yml."""
    return sorted(p.parent.name for p in MOLECULE.glob("*/molecule.yml"))
