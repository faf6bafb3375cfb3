"""The collection remediator ships (``remediator.fixes``) and ``remediator init``'s starter project.

The collection's source is package data (``remediator/collection``), so a pip install carries
it: ``build`` makes its tarball with ``ansible-galaxy collection build`` and ``install`` puts a
tarball into a collections folder with ``ansible-galaxy collection install -p``, both offline.
``init`` writes a new project whose catalog names the collection's playbooks by FQCN, whose
requirements.yml pins the collection's version (what the review gate compares), and installs
the bundled collection into its ``collections/`` folder.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import yaml

from .ansible_project import program
from .errors import ExecutionError, UsageError

COLLECTION = Path(__file__).resolve().parent / "collection"  # the source of remediator.fixes
STARTER_CATALOG = Path(__file__).resolve().parent / "starter" / "remediations.yml"
COLLECTIONS_DIR = "collections"  # in a new project, where ansible.cfg's collections_path points

_CONFIG = """\
# remediator's config for this project; paths are relative to this file.
catalog: remediations.yml
inventory: inventory.yml
playbooks: playbooks           # playbooks of this project (the catalog may name them by path)
store: .remediator/audit.db
runs: .remediator/runs
cache: .remediator/cache
"""

_ANSIBLE_CFG = """\
# Ansible's settings for this project: remediator runs every ansible program with this file.
[defaults]
collections_path = {collections}
"""

_REQUIREMENTS = """\
# The collections this project's catalog runs, each pinned to the version that was reviewed.
# remediator's review gate: a live run of an entry whose collection is installed at another
# version falls back to check mode. `remediator init` installed {name} {version} from the copy
# bundled with remediator into {collections}/ (`remediator collection build` writes its tarball).
collections:
  - name: {name}
    version: "=={version}"
"""

_INVENTORY = """\
# An example inventory: replace these hosts with yours. An alert names its host by the label the
# catalog entry's target names (default: instance, "web-01:9100" -> host web-01).
all:
  children:
    web:
      hosts:
        web-01:
          ansible_host: 192.0.2.10
          # allow-lists the fixes read from the inventory, e.g. for systemd_unit_restart:
          # restartable_units: [nginx.service]
"""

_GITIGNORE = f"""\
# What ansible-galaxy installs (requirements.yml pins its version) and remediator's own state.
/{COLLECTIONS_DIR}/ansible_collections/
/.remediator/
"""


def collection_info(source: Path = COLLECTION) -> tuple[str, str]:
    """The bundled collection's FQCN and version, from its galaxy.yml."""
    data = yaml.safe_load((source / "galaxy.yml").read_text(encoding="utf-8"))
    return f"{data['namespace']}.{data['name']}", str(data["version"])


def _galaxy(*args: str) -> str:
    try:
        proc = subprocess.run([program("ansible-galaxy"), "collection", *args],
                              capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExecutionError(f"cannot run ansible-galaxy collection {args[0]}: {exc}") from None
    if proc.returncode != 0:
        complaint = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        raise ExecutionError(f"ansible-galaxy collection {args[0]} failed: "
                             f"{' | '.join(complaint)}")
    return proc.stdout


def build(output: Path, source: Path = COLLECTION) -> Path:
    """Build the collection's tarball into ``output`` (made if missing); its path."""
    name, version = collection_info(source)
    output.mkdir(parents=True, exist_ok=True)
    _galaxy("build", str(source), "--output-path", str(output), "--force")
    tarball = output / f"{name.replace('.', '-')}-{version}.tar.gz"
    if not tarball.is_file():
        raise ExecutionError(f"ansible-galaxy collection build wrote no {tarball.name}")
    return tarball


def install(tarball: Path, collections: Path) -> None:
    """Install a collection tarball into the ``collections`` folder (offline)."""
    _galaxy("install", str(tarball), "-p", str(collections), "--force")


def starter_files(name: str, version: str) -> dict[str, str]:
    """A new project's files (relative name -> text)."""
    return {
        "remediator.yml": _CONFIG,
        "remediations.yml": STARTER_CATALOG.read_text(encoding="utf-8"),
        "requirements.yml": _REQUIREMENTS.format(name=name, version=version,
                                                 collections=COLLECTIONS_DIR),
        "ansible.cfg": _ANSIBLE_CFG.format(collections=COLLECTIONS_DIR),
        "inventory.yml": _INVENTORY,
        ".gitignore": _GITIGNORE,
        "playbooks/.gitkeep": "",
    }


def init(folder: Path) -> list[Path]:
    """Write a starter project into ``folder`` and install the bundled collection into its
    collections folder; refuse (UsageError) when any file it would write exists."""
    name, version = collection_info()
    files = starter_files(name, version)
    taken = sorted(n for n in files if (folder / n).exists())
    if taken:
        raise UsageError(f"{folder} already has {', '.join(taken)}: remediator init writes a "
                         f"new project and overwrites nothing")
    written = []
    for relative_name, text in files.items():
        path = folder / relative_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    with tempfile.TemporaryDirectory(prefix="remediator-init-") as scratch:
        install(build(Path(scratch)), folder / COLLECTIONS_DIR)
    return written
