"""The user's Ansible repository as ``ansible-playbook`` sees it from the project root.

remediator runs, syntax-checks and reads inventories from the project root (the folder of
``remediator.yml``) with ``ANSIBLE_CONFIG`` set to the ``ansible.cfg`` that Ansible itself would
pick there: ``$ANSIBLE_CONFIG``, else the config's ``ansible_config`` key, else
``ROOT/ansible.cfg``, else ``~/.ansible.cfg``, else ``/etc/ansible/ansible.cfg``. Ansible then
resolves the relative paths in it (roles, collections, inventory, vault password file) against
the file's own folder. The few settings remediator needs to know itself (which folders the review
gate covers, where validate looks for collections and vaulted files) are read here by the same
rules: an ``ANSIBLE_*`` variable beats the file, relative paths resolve against the file.
"""

from __future__ import annotations

import configparser
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

CONFIG_NAME = "ansible.cfg"
_HOME_CONFIG = "~/.ansible.cfg"
_SYSTEM_CONFIG = "/etc/ansible/ansible.cfg"

# setting -> (ini keys in [defaults], environment variables), first found wins
_SETTINGS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "inventory": (("inventory", "hostfile"), ("ANSIBLE_INVENTORY",)),
    "roles_path": (("roles_path",), ("ANSIBLE_ROLES_PATH",)),
    "collections_path": (("collections_path", "collections_paths"),
                         ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS")),
    "vault_password_file": (("vault_password_file",), ("ANSIBLE_VAULT_PASSWORD_FILE",)),
    "vault_identity_list": (("vault_identity_list",), ("ANSIBLE_VAULT_IDENTITY_LIST",)),
    "home": (("home",), ("ANSIBLE_HOME",)),
}
VARS_DIRS = ("group_vars", "host_vars")  # read beside an inventory file and the playbooks
_DEFAULT_ROLES = ("~/.ansible/roles", "/usr/share/ansible/roles", "/etc/ansible/roles")
_DEFAULT_COLLECTIONS = ("{home}/collections", "/usr/share/ansible/collections")


@dataclass(frozen=True, slots=True)
class AnsibleSetup:
    """Where Ansible runs for this project and what its configuration says."""

    root: Path  # the working directory of every ansible program remediator starts
    config_file: Path | None  # the ansible.cfg that applies, if any
    values: Mapping[str, tuple[str, Path]] = field(default_factory=dict)  # name -> (raw, base)
    vault_ids: tuple[str, ...] = ()  # the config's own ``id@source`` vault identities

    def env(self) -> dict[str, str]:
        """Variables for every ansible program: the config file named explicitly, so that no
        working directory and no world-writable folder changes which one applies; the
        config's vault ids added to ansible.cfg's (one variable every program reads)."""
        env = {"ANSIBLE_CONFIG": str(self.config_file)} if self.config_file else {}
        if self.vault_ids:
            listed = [f"{ident}@{source}" for ident, source in self._identity_list()]
            env["ANSIBLE_VAULT_IDENTITY_LIST"] = ",".join([*listed, *self.vault_ids])
        return env

    def process_env(self, **extra: str) -> dict[str, str]:
        """The environment of an ansible program remediator starts: its own, with the config
        file named, no colour, ``extra``, and the virtualenv's bin folder first on PATH."""
        bindir = str(Path(sys.executable).parent)
        return {**os.environ, **self.env(), "ANSIBLE_NOCOLOR": "1", **extra,
                "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}

    def describe(self) -> str | None:
        """The config file for records: relative to the root when inside it."""
        if self.config_file is None:
            return None
        return relative(self.config_file, self.root)

    def paths(self, name: str, separator: str = os.pathsep) -> tuple[Path, ...]:
        """A path-list setting (``roles_path``, ``collections_path``, ``inventory``), resolved
        as Ansible resolves it; () when not set."""
        if name not in self.values:
            return ()
        raw, base = self.values[name]
        parts = [p.strip() for p in raw.split(separator if name != "inventory" else ",")]
        return tuple(_resolve(p, base) for p in parts if p)

    def path(self, name: str) -> Path | None:
        """A single-path setting (``vault_password_file``), resolved; None when not set."""
        found = self.paths(name)
        return found[0] if found else None

    def roles_paths(self) -> tuple[Path, ...]:
        """Where Ansible looks for roles (besides each playbook's own ``roles/``)."""
        return self.paths("roles_path") or tuple(_resolve(p, self.root) for p in _DEFAULT_ROLES)

    def collections_paths(self) -> tuple[Path, ...]:
        """Where Ansible looks for collections (besides each playbook's ``collections/``)."""
        home = str(self.path("home") or "~/.ansible")  # ANSIBLE_HOME moves the default
        return self.paths("collections_path") or tuple(
            _resolve(p.format(home=home), self.root) for p in _DEFAULT_COLLECTIONS)

    def vault_identities(self) -> tuple[tuple[str, Path], ...]:
        """(vault id, password file or script) pairs from ``vault_identity_list`` and
        ``vault_password_file``."""
        single = self.path("vault_password_file")
        return (*self._identity_list(), *([("default", single)] if single else []))

    def _identity_list(self) -> list[tuple[str, Path]]:
        found: list[tuple[str, Path]] = []
        if "vault_identity_list" in self.values:
            raw, base = self.values["vault_identity_list"]
            for item in (p.strip() for p in raw.split(",")):
                if not item:
                    continue
                ident, at, source = item.partition("@")
                if not at:
                    ident, source = "default", item
                if source != "prompt":
                    found.append((ident, _resolve(source, base)))
        return found


def program(name: str) -> str:
    """An ansible program: the one beside the running Python (its virtualenv), else PATH's."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else name


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it is inside, else absolute."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _resolve(value: str, base: Path) -> Path:
    expanded = os.path.expandvars(os.path.expanduser(value))
    return (base / expanded).resolve() if not os.path.isabs(expanded) else Path(expanded)


def find_config(root: Path, named: Path | None, env: Mapping[str, str]) -> Path | None:
    """The ansible.cfg that applies to runs from ``root``, by Ansible's own precedence, with
    the config's ``ansible_config`` (``named``) between ``$ANSIBLE_CONFIG`` and the root's.

    Where Ansible would silently fall back (a named file that does not exist, a root
    ``ansible.cfg`` in a world-writable folder, which Ansible ignores), this is a ConfigError:
    running without the configuration the repository means to use is the wrong default.
    """
    from_env = env.get("ANSIBLE_CONFIG")
    if from_env:
        chosen = Path(os.path.expanduser(from_env))
        chosen = chosen if chosen.is_absolute() else (root / chosen)
        if chosen.is_dir():
            chosen = chosen / CONFIG_NAME
        return _readable(chosen, "ANSIBLE_CONFIG")
    if named is not None:
        return _readable(named, "key 'ansible_config'")
    own = root / CONFIG_NAME
    if own.exists():
        mode = root.stat().st_mode
        if mode & stat.S_IWOTH:
            raise ConfigError(
                f"Ansible ignores an {CONFIG_NAME} in a world-writable folder ({root} is "
                f"mode {stat.S_IMODE(mode):04o}: anyone could replace it); remove write "
                f"permission for others (chmod o-w), or name the file in remediator.yml's "
                f"'ansible_config' or $ANSIBLE_CONFIG if you trust it", where=str(own))
        return _readable(own, "the project root")
    for fallback in (Path(os.path.expanduser(_HOME_CONFIG)), Path(_SYSTEM_CONFIG)):
        if fallback.is_file() and os.access(fallback, os.R_OK):
            return fallback.resolve()
    return None


def _readable(path: Path, named_by: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"{named_by} names an {CONFIG_NAME} that does not exist",
                          where=str(path))
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{named_by} names an {CONFIG_NAME} that cannot be read",
                          where=str(path))
    return path.resolve()


def read_settings(config_file: Path | None, root: Path,
                  env: Mapping[str, str]) -> dict[str, tuple[str, Path]]:
    """The settings remediator needs, each as (raw value, folder it is relative to)."""
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None,
                                       strict=False)
    if config_file is not None:
        try:
            parser.read(config_file, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as exc:
            line = getattr(exc, "lineno", None)
            where = f"{config_file}:{line}" if line else str(config_file)
            raise ConfigError(f"cannot parse {CONFIG_NAME}: {exc}", where=where) from None
    values: dict[str, tuple[str, Path]] = {}
    for name, (keys, variables) in _SETTINGS.items():
        from_env = next((env[v] for v in variables if env.get(v)), None)
        if from_env is not None:
            values[name] = (from_env, root)
            continue
        for key in keys:
            if config_file is not None and parser.has_option("defaults", key):
                values[name] = (parser.get("defaults", key), config_file.parent)
                break
    return values


def setup(root: Path, named: Path | None, env: Mapping[str, str],
          vault_ids: tuple[str, ...] = ()) -> AnsibleSetup:
    """The project's Ansible setup (reads the config file; no ansible program runs)."""
    config_file = find_config(root, named, env)
    return AnsibleSetup(root=root, config_file=config_file,
                        values=read_settings(config_file, root, env), vault_ids=vault_ids)


def parse_vault_ids(value: object, base: Path, where: str) -> tuple[str, ...]:
    """The config's ``vault_ids``: ``ID@FILE`` strings (a password file, or an executable
    that prints it, as Ansible accepts), FILE relative to the config file."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    found = []
    for item in items:
        ident, at, source = item.partition("@") if isinstance(item, str) else ("", "", "")
        if not at or not ident or not source or source == "prompt":
            raise ConfigError("expected a list of 'ID@FILE' vault ids (FILE: a password file "
                              "or a script that prints it; no prompt)", where=where)
        found.append(f"{ident}@{_resolve(source, base)}")
    return tuple(found)
