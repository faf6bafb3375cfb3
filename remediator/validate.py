"""``catalog validate``: the catalog, the inventory and ``ansible-playbook --syntax-check``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import catalog as catalog_mod
from . import content, galaxy, notify, vault
from . import inventory as inventory_mod
from .ansible_project import AnsibleSetup, program, relative
from .catalog import Catalog
from .config import Config
from .errors import CatalogError, ConfigError, ExecutionError, InventoryError
from .executor.accelerate import strategy_env
from .models import Mode, Remediation, Stage
from .revision import REQUIREMENTS_FILES, requirement_files
from .settings.approvals import principal_problem


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


def syntax_check(playbook: Path, inventory: tuple[Path, ...], ansible: AnsibleSetup
                 ) -> str | None:
    """``ansible-playbook --syntax-check`` from the project root with its ansible.cfg; None
    when it passes, else its complaint."""
    sources = [arg for source in inventory for arg in ("-i", str(source))]
    try:
        proc = subprocess.run(
            [program("ansible-playbook"), "--syntax-check", *sources,
             relative(playbook, ansible.root)],
            capture_output=True, text=True, timeout=120,
            env=ansible.process_env(PYTHONWARNINGS="ignore"), cwd=ansible.root,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run ansible-playbook --syntax-check: {exc}"
    if proc.returncode == 0:
        return None
    text = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    lines = [line for line in text if line.strip() and not line.startswith("[WARNING]")]
    complaint = " | ".join(lines[:6]) or f"exit code {proc.returncode}"
    if "role" in complaint and "was not found" in complaint:
        complaint += (" (a role from Galaxy or git is installed with `ansible-galaxy install -r "
                      "requirements.yml`; a role of this repository belongs in ansible.cfg's "
                      "roles_path)")
    return complaint


MOLECULE_DIR = "molecule"
_IMPORT_KEYS = ("ansible.builtin.import_playbook", "import_playbook")


def molecule_tested(folder: Path) -> frozenset[str]:
    """Resolved paths of the playbooks that some scenario under ``folder`` converges.

    A scenario is ``folder/NAME/molecule.yml``; it tests the playbooks that its converge playbook
    (``converge.yml``, or ``provisioner.playbooks.converge``) imports with ``import_playbook``,
    relative to the converge playbook's folder.
    """
    tested: set[str] = set()
    for config_file in sorted(folder.glob("*/molecule.yml")):
        converge = config_file.parent / "converge.yml"
        try:
            settings = yaml.safe_load(config_file.read_text(encoding="utf-8"))
            named = ((settings or {}).get("provisioner") or {}).get("playbooks", {}).get("converge")
            if isinstance(named, str):
                converge = config_file.parent / named
            plays = yaml.safe_load(converge.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        for play in plays if isinstance(plays, list) else []:
            for key in _IMPORT_KEYS:
                target = play.get(key) if isinstance(play, dict) else None
                if isinstance(target, str) and "{{" not in target:
                    tested.add(str((converge.parent / target).resolve()))
    return frozenset(tested)


def untested_warnings(entries: list[Remediation], folder: Path, catalog: Path) -> list[str]:
    """One warning per entry whose playbook no molecule scenario under ``folder`` converges."""
    tested = molecule_tested(folder)
    return [f"{catalog}:{e.source_line}: entry '{e.name}': key 'playbook': {e.playbook} has no "
            f"molecule scenario (no {folder}/*/converge.yml imports it)"
            for e in entries if e.playbook_path not in tested]


def collection_problems(config: Config, installed: Mapping[str, str]) -> list[str]:
    """Collections the requirements files list or the playbooks and the project's roles use,
    missing or at a version outside the required range."""
    root = config.base_dir
    requirements = [root / name for name in REQUIREMENTS_FILES if (root / name).is_file()]
    roles = [p for p in config.ansible_setup.roles_paths() if p.is_relative_to(root)]
    return (content.requirement_problems(requirements, installed, root) +
            content.usage_problems([config.playbooks, *roles], installed, root))


def check_channels(catalog: Catalog, config: Config) -> list[str]:
    """Problems with notification channel names used by the catalog or the default."""
    known = set(config.notifications.channels)
    problems = []
    for entry in catalog:
        for name in entry.notify or ():
            if name not in known:
                problems.append(f"{entry.source_file}:{entry.source_line}: entry '{entry.name}':"
                                f" key 'notify': no channel '{name}' in the config")
    return problems


def check_approvers(catalog: Catalog, config: Config) -> list[str]:
    """Problems with entries whose ``approval.approvers`` name people the config does not."""
    people = config.approvals.people
    return [f"{entry.source_file}:{entry.source_line}: entry '{entry.name}': key "
            f"'approval.approvers': {problem}"
            for entry in catalog for name in entry.approval.approvers or ()
            if (problem := principal_problem(name, people))]


def check_awx(catalog: Catalog, config: Config) -> list[str]:
    """Problems with entries that name an AWX job template while the config has no ``awx``."""
    if config.awx is not None:
        return []
    return [f"{entry.source_file}:{entry.source_line}: entry '{entry.name}': key "
            f"'job_template': names an AWX job template, but the config "
            f"({config.source or 'defaults'}) has no 'awx' section"
            for entry in catalog if entry.job_template is not None]


def check_accelerators(catalog: Catalog, config: Config, env: Mapping[str, str]) -> list[str]:
    """Problems with the accelerators the config and the local entries ask for: not installed,
    or a strategy chosen in ``env`` that has no accelerated counterpart."""
    wanted = [(config.accelerator, f"{config.source or 'defaults'}: key 'accelerator'")]
    wanted += [(e.accelerator, f"{e.source_file}:{e.source_line}: entry '{e.name}': key "
                               "'accelerator'") for e in catalog if e.accelerator is not None]
    problems = []
    for accelerator, where in wanted:
        try:
            strategy_env(accelerator, env)
        except ExecutionError as exc:
            problems.append(f"{where}: {exc.message}")
    return problems


def check_awx_online(catalog: Catalog, config: Config, env: Mapping[str, str]
                     ) -> tuple[list[str], list[str]]:
    """Ask AWX whether each entry's job template exists and takes what the entry's plans need
    (job type for every mode its stage may run, limit, variables): (problems, warnings), each
    naming the entry; a sliced template is a warning saying what it means for the entry."""
    from .executor.awx import AwxExecutor

    entries = [(e, e.job_template) for e in catalog if e.job_template is not None]
    if not entries or config.awx is None:
        return [], []
    try:
        awx = AwxExecutor(config.awx, config.awx.token(env))
    except ConfigError as exc:
        return [f"{config.source or 'config'}: {exc}"], []
    problems, warnings = [], []
    for entry, template in entries:
        # a live stage may still run in check mode (--max-stage, a maintenance window)
        modes = [Mode.CHECK] if entry.stage is Stage.OBSERVE else [Mode.CHECK, Mode.LIVE]
        found = awx.template_problems(template, modes, [*entry.vars, *entry.static_vars],
                                      bool(entry.vars))
        where = f"{entry.source_file}:{entry.source_line}: entry '{entry.name}': key " \
                "'job_template': "
        problems += [where + problem for problem in found.problems]
        warnings += [where + warning for warning in found.warnings]
    return problems, warnings


def validate(config: Config, progress: Callable[[str], None] | None = None, *,
             awx: bool = False, env: Mapping[str, str] | None = None) -> Report:
    """Check everything a run relies on; never stops at the first problem. With ``awx``, also
    ask AWX about each job template (the token is read from ``env``)."""
    problems: list[str] = []
    try:
        catalog = catalog_mod.load(config.catalog, config.playbooks, config.guardrails,
                                   config.ansible_setup.collections_paths())
    except CatalogError as exc:
        return Report(0, 0, exc.problems or (str(exc),))
    try:
        inventory_mod.load_config(config)
    except InventoryError as exc:
        problems.append(str(exc))
    by_playbook: dict[str, list[Remediation]] = {}
    for entry in catalog:
        if entry.job_template is None:  # an AWX job template's playbook lives on AWX
            by_playbook.setdefault(entry.playbook_path, []).append(entry)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2)) as pool:
        installed = pool.submit(content.installed_collections, config.ansible_setup,
                                [config.playbooks]) if by_playbook else None
        checks = {path: pool.submit(syntax_check, Path(path), config.inventory,
                                          config.ansible_setup)
                  for path in by_playbook}
        for path, future in checks.items():
            if progress:
                progress(f"syntax-check {Path(path).name}")
            complaint = future.result()
            if complaint:
                problems += [f"{config.catalog}:{e.source_line}: entry '{e.name}': key "
                             f"'playbook': {e.playbook}: syntax check failed: {complaint}"
                             for e in by_playbook[path]]
        if installed is not None:  # AWX job templates' content lives on AWX
            problems += collection_problems(config, installed.result())
    problems += check_channels(catalog, config) + check_awx(catalog, config) + \
        check_approvers(catalog, config)
    problems += check_accelerators(catalog, config, os.environ if env is None else env)
    awx_warnings: list[str] = []
    if awx:
        if progress:
            progress("job templates on AWX")
        online, awx_warnings = check_awx_online(catalog, config,
                                                os.environ if env is None else env)
        problems += online
    try:
        notify.build(config.notifications, os.environ)
    except ConfigError as exc:
        problems.append(f"{config.source or 'config'}: notifications: {exc}")
    problems += vault.problems(vault.scan_config(config), config.base_dir)
    # a collection's playbooks are tested where the collection is made
    warnings = untested_warnings([e for e in catalog if e.job_template is None and
                                  e.collection is None],
                                 config.base_dir / MOLECULE_DIR, config.catalog)
    warnings += [f"{why}: live runs of its entries fall back to check mode" for why in
                 galaxy.unreviewed(catalog, requirement_files(config), config.base_dir).values()]
    warnings += awx_warnings
    return Report(len(catalog.entries), len(by_playbook), tuple(problems), tuple(warnings))
