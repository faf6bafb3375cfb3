"""Vaulted content of the repository: whether it decrypts, and its plaintext kept out of
everything remediator writes.

Ansible decrypts vaulted variables when a play uses them, and prints them wherever a task
shows them (a ``--diff`` of a templated file, a failure message). remediator finds the vaulted
files a run may read (whole files starting ``$ANSIBLE_VAULT;`` and YAML with inline ``!vault``
values), decrypts them once with the project's own vault settings (ansible.cfg's
``vault_password_file``/``vault_identity_list``, or the config's ``vault_ids``) in a child
process that runs ansible-core's loader, and masks every decrypted value in run results and
run folders before anything is recorded, notified or logged. The plaintext lives only in the
memory of the process that runs playbooks.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, cast

from .ansible_project import AnsibleSetup, relative
from .config import Config

T = TypeVar("T")
MASK = "********"
MIN_SECRET = 4  # shorter values ("yes", "80") would mask ordinary words and numbers
_HEADER = b"$ANSIBLE_VAULT;"
_YAML_SUFFIXES = frozenset({".yml", ".yaml", ".json", ""})
# folders that hold no variables a run reads: version control, Python environments and caches,
# installed collections (their own business), remediator's state
_SKIP_DIRS = frozenset({"__pycache__", "ansible_collections", "node_modules", "venv"})
# a folder holding one of these is a Python environment or a project of its own
_OWN_ROOTS = ("pyvenv.cfg", "remediator.yml", "ansible.cfg")
_MAX_YAML_BYTES = 2 * 1024 * 1024  # inline !vault values are looked for in YAML this size


@dataclass(frozen=True, slots=True)
class VaultScan:
    """What decrypting the repository's vaulted files found."""

    files: tuple[Path, ...] = ()  # every vaulted file found
    failures: tuple[tuple[Path, str], ...] = ()  # (file, why it did not decrypt)
    secrets: frozenset[str] = field(default_factory=frozenset, repr=False)

    def redact(self, text: str) -> str:
        """``text`` with every decrypted value masked (longest first)."""
        if not self.secrets or not text:
            return text
        for secret in _ordered(self.secrets):
            if secret in text:
                text = text.replace(secret, MASK)
        return text


def _ordered(secrets: frozenset[str]) -> list[str]:
    variants = set(secrets)
    for secret in secrets:  # as it appears inside JSON strings (job events)
        variants.add(json.dumps(secret)[1:-1])
    return sorted(variants, key=len, reverse=True)


def find_vaulted(paths: Iterable[Path], skip: Iterable[Path] = ()) -> list[Path]:
    """Files under ``paths`` that hold vaulted data (a whole vaulted file, or YAML with
    inline ``!vault`` values), each once, in path order; nothing under ``skip``."""
    found: dict[Path, None] = {}
    skipped = frozenset(p.resolve() for p in skip)
    for path in _files(paths, skipped):
        if path.resolve() in skipped:
            continue
        try:
            with path.open("rb") as handle:
                head = handle.read(64)
                if path.suffix in _YAML_SUFFIXES and not head.lstrip().startswith(_HEADER):
                    head += handle.read(_MAX_YAML_BYTES)
        except OSError:
            continue
        if head.lstrip().startswith(_HEADER) or (b"!vault" in head and _HEADER in head):
            found[path] = None
    return sorted(found)


def _files(paths: Iterable[Path], skip: frozenset[Path] = frozenset()) -> Iterator[Path]:
    for root in dict.fromkeys(paths):
        if _regular(root):
            yield root
            continue
        if not root.is_dir():
            continue
        for folder, dirs, names in os.walk(root):
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS
                             and (here / d).resolve() not in skip
                             and not any((here / d / mark).exists() for mark in _OWN_ROOTS))
            for name in sorted(names):
                if _regular(here / name):
                    yield here / name


def _regular(path: Path) -> bool:
    """A regular file (never a FIFO, whose open would block, or a socket)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def scan(ansible: AnsibleSetup, files: Iterable[Path]) -> VaultScan:
    """Decrypt the vaulted ``files`` with the project's vault settings."""
    files = list(files)
    if not files:
        return VaultScan()
    request = {"files": [str(f) for f in files]}
    try:
        proc = subprocess.run([sys.executable, "-m", "remediator.vault"], input=json.dumps(request),
                              capture_output=True, text=True, timeout=120,
                              env=ansible.process_env(),
                              cwd=ansible.root, check=False)
        answer = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        answer = None
    if not isinstance(answer, dict):
        why = "cannot read vaulted files: ansible-core's vault loader did not answer"
        return VaultScan(files=tuple(files), failures=tuple((f, why) for f in files))
    failures = tuple((Path(f), str(why)) for f, why in answer.get("failures", []))
    secrets = frozenset(s for s in answer.get("secrets", []) if len(s) >= MIN_SECRET)
    return VaultScan(files=tuple(files), failures=failures, secrets=secrets)


def problems(result: VaultScan, root: Path) -> list[str]:
    """One line per vaulted file that does not decrypt, naming it."""
    return [f"{relative(path, root)}: vaulted file cannot be decrypted ({why}); give the "
            "password through ansible.cfg's vault_password_file or vault_identity_list, or "
            "the config's vault_ids" for path, why in result.failures]


def redact_value(value: T, result: VaultScan) -> T:
    """``value`` (strings, mappings, lists, frozen dataclasses) with secrets masked."""
    return cast(T, _redacted(value, result)) if result.secrets else value


def _redacted(value: Any, result: VaultScan) -> Any:
    if isinstance(value, str):
        return result.redact(value)
    if isinstance(value, Mapping):
        items = {k: _redacted(v, result) for k, v in value.items()}
        return type(value)(items) if isinstance(value, dict) else items
    if isinstance(value, (list, tuple)):
        return type(value)(_redacted(v, result) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _redacted(getattr(value, f.name), result)
                                 for f in fields(value) if f.init})
    return value


def redact_tree(folder: Path, result: VaultScan) -> int:
    """Mask secrets in every file under ``folder`` (a run's artifacts); files changed. Never
    raises: the run it follows must still be recorded. A file that cannot be rewritten (a full
    disk) is removed rather than left holding a secret, if even that is possible."""
    if not result.secrets or not folder.is_dir():
        return 0
    changed = 0
    for path in _files([folder]):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        masked = result.redact(text)
        if masked == text:
            continue
        try:
            path.write_text(masked, encoding="utf-8")
            changed += 1
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()
    return changed


def _probe() -> None:  # pragma: no cover - runs in the child process, tested through scan
    """Child process: decrypt the files named on stdin with ansible-core, print JSON."""
    from ansible import constants as C  # type: ignore[import-untyped]
    from ansible.cli import CLI  # type: ignore[import-untyped]
    from ansible.parsing.dataloader import DataLoader  # type: ignore[import-untyped]
    from ansible.parsing.vault import (  # type: ignore[import-untyped]
        EncryptedString,
        VaultLib,
    )

    request = json.load(sys.stdin)
    loader = DataLoader()
    ids = list(C.DEFAULT_VAULT_IDENTITY_LIST or [])
    password_files = [C.DEFAULT_VAULT_PASSWORD_FILE] if C.DEFAULT_VAULT_PASSWORD_FILE else []
    failures: list[tuple[str, str]] = []
    try:
        secrets = CLI.setup_vault_secrets(loader, vault_ids=ids,
                                          vault_password_files=password_files,
                                          ask_vault_pass=False, auto_prompt=False)
        loader.set_vault_secrets(secrets)
    except Exception as exc:  # noqa: BLE001 - a bad password file is a finding, not a crash
        json.dump({"secrets": [], "failures": [(f, _one_line(exc)) for f in request["files"]]},
                  sys.stdout)
        return
    found: set[str] = set()

    def leaves(value: Any, secret: bool) -> None:
        if isinstance(value, EncryptedString):
            leaves(str(value), True)
        elif isinstance(value, Mapping):
            for item in value.values():
                leaves(item, secret)
        elif isinstance(value, (list, tuple)):
            for item in value:
                leaves(item, secret)
        elif secret and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            found.add(str(value))
            found.update(line.strip() for line in str(value).splitlines() if line.strip())

    import yaml

    for name in request["files"]:
        path = Path(name)
        try:
            raw = path.read_bytes()
            if not raw.lstrip().startswith(_HEADER):  # inline !vault values in plain YAML
                leaves(loader.load_from_file(str(path)), False)
                continue
            plain = VaultLib(secrets).decrypt(raw.lstrip()).decode("utf-8", "replace")
        except Exception as exc:  # noqa: BLE001 - any failure is reported per file
            failures.append((name, _one_line(exc)))
            continue
        try:
            data = yaml.safe_load(plain)
        except yaml.YAMLError:
            data = None
        if isinstance(data, (Mapping, list)):
            leaves(data, True)
        else:  # a vaulted certificate, key or text: every line of it is secret
            leaves(plain, True)
    json.dump({"secrets": sorted(found), "failures": failures}, sys.stdout)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


if __name__ == "__main__":
    _probe()


def project_vaulted(config: Config) -> list[Path]:
    """The vaulted files of the project: anywhere under its root (a playbook's ``vars_files``
    may name any of them), the playbooks and inventory sources wherever they are, and never
    in hidden folders, Python environments, installed collections or remediator's state."""
    paths = [config.base_dir, config.playbooks, *config.inventory_paths()]
    return find_vaulted(paths, skip=config.state_paths())


def scan_config(config: Config, files: Iterable[Path] | None = None) -> VaultScan:
    """``scan`` of the project's vaulted files (``files``, when already found)."""
    return scan(config.ansible_setup, project_vaulted(config) if files is None else files)
