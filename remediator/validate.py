"""``catalog validate``: the catalog, the inventory and ``ansible-playbook --syntax-check``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import catalog as catalog_mod
from . import inventory as inventory_mod
from .config import Config
from .errors import CatalogError, InventoryError
from .models import Remediation


@dataclass(frozen=True, slots=True)
class Report:
    """What validation found: problems (errors) and warnings, each naming file, entry, key."""

    entries: int
    playbooks: int
    problems: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def syntax_check(playbook: Path, inventory: Path) -> str | None:
    """``ansible-playbook --syntax-check``; None when it passes, else its complaint."""
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_NOCOLOR": "1"}
    try:
        proc = subprocess.run(
            ["ansible-playbook", "--syntax-check", "-i", str(inventory), str(playbook)],
            capture_output=True, text=True, timeout=120, env=env, cwd=playbook.parent,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run ansible-playbook --syntax-check: {exc}"
    if proc.returncode == 0:
        return None
    text = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    lines = [line for line in text if line.strip() and not line.startswith("[WARNING]")]
    return " | ".join(lines[:6]) or f"exit code {proc.returncode}"


def validate(config: Config, progress: Callable[[str], None] | None = None) -> Report:
    """Check everything a run relies on; never stops at the first problem."""
    problems: list[str] = []
    try:
        catalog = catalog_mod.load(config.catalog, config.playbooks, config.guardrails)
    except CatalogError as exc:
        return Report(0, 0, exc.problems or (str(exc),))
    try:
        inventory_mod.load(config.inventory)
    except InventoryError as exc:
        problems.append(str(exc))
    by_playbook: dict[str, list[Remediation]] = {}
    for entry in catalog:
        by_playbook.setdefault(entry.playbook_path, []).append(entry)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2)) as pool:
        checks = {path: pool.submit(syntax_check, Path(path), config.inventory)
                  for path in by_playbook}
        for path, future in checks.items():
            if progress:
                progress(f"syntax-check {Path(path).name}")
            complaint = future.result()
            if complaint:
                problems += [f"{config.catalog}:{e.source_line}: entry '{e.name}': key "
                             f"'playbook': {e.playbook}: syntax check failed: {complaint}"
                             for e in by_playbook[path]]
    return Report(len(catalog.entries), len(by_playbook), tuple(problems))
