"""The config file: YAML in, a validated frozen Config out; every path relative to the file."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .ansible_project import VARS_DIRS, AnsibleSetup, parse_vault_ids
from .ansible_project import setup as ansible_setup
from .errors import ConfigError
from .limits import Guardrails
from .limits import parse as parse_guardrails
from .models import Stage
from .settings import StoreLocation
from .settings.accelerators import ACCELERATORS, NONE
from .settings.approvals import ApprovalSettings
from .settings.approvals import parse as parse_approvals
from .settings.awx import AwxSettings
from .settings.awx import parse as parse_awx
from .settings.server import ServerSettings
from .settings.server import parse as parse_server
from .yamlio import YamlMap, line_of, load_yaml

CONFIG_ENV = "REMEDIATOR_CONFIG"
MAX_STAGE_ENV = "REMEDIATOR_MAX_STAGE"
STORE_ENV = "REMEDIATOR_STORE"  # overrides `store` (a path or a postgresql:// URL)
DEFAULT_CONFIG_NAME = "remediator.yml"

# key -> (default, kind); paths are resolved against the config file's folder.
_PATH_KEYS: Mapping[str, str] = {
    "catalog": "remediations.yml",
    "playbooks": "playbooks",
    "store": ".remediator/audit.db",
    "runs": ".remediator/runs",
    "cache": ".remediator/cache",
}
DEFAULT_INVENTORY = "inventory.yml"  # when neither the config nor ansible.cfg names one
_INT_KEYS: Mapping[str, int] = {
    "keep_runs": 200,
    "timeout": 600,
    "approval_ttl": 4 * 3600,  # seconds a human-initiated request stays approvable
    "refire_window": 900,  # seconds after a fix in which the same alert still firing escalates
    "refire_settle": 120,  # seconds after a fix in which a re-delivery is only a duplicate
    "store_pool": 8,  # connections per process to a PostgreSQL store
    "keep_guard_state": 30 * 86400,  # seconds dedupe claims and finished runs are kept
    "inventory_ttl": 300,  # seconds a dynamic inventory's listing (script, plugin) is reused
}
_KNOWN = frozenset({*_PATH_KEYS, *_INT_KEYS, "accelerator", "max_stage", "notifications",
                    "guardrails", "server", "awx", "inventory", "ansible_config", "vault_ids",
                    "approvals"})
_CHANNEL_KEYS: Mapping[str, frozenset[str]] = {  # each setting directly or as NAME_env
    "pagerduty": frozenset({"routing_key", "url"}),
    "slack": frozenset({"webhook_url"}),
    "webhook": frozenset({"url", "secret"}),
    "log": frozenset(),
}
_CHANNEL_TYPES = frozenset(_CHANNEL_KEYS)
_NOTIFY_KEYS = frozenset({"channels", "default", "timeout", "retries", "backoff", "record_url",
                          "request_url"})


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One notification channel: its type and settings (secrets named by *_env keys)."""

    name: str
    type: str
    settings: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """Notification channels, the default set, and delivery limits."""

    channels: Mapping[str, ChannelConfig] = field(default_factory=dict)
    default: tuple[str, ...] = ()
    timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 0.5
    record_url: str | None = None  # e.g. "https://ops.example/remediator/{id}"
    request_url: str | None = None  # a pending request's page: "https://ops.example/requests/{id}"


@dataclass(frozen=True, slots=True)
class Config:
    """Where everything lives and the global limits; built once at the edge, then trusted."""

    base_dir: Path  # the project root: every ansible program runs here
    catalog: Path
    inventory: tuple[Path, ...]  # the sources, in order (ansible's -i, one per source)
    playbooks: Path
    store: StoreLocation  # a SQLite file, or a postgresql:// URL (a str)
    runs: Path
    keep_runs: int = 200
    timeout: int = 600
    max_stage: Stage | None = None
    source: Path | None = None  # the config file, when there was one
    approval_ttl: int = 4 * 3600
    refire_window: int = 900
    refire_settle: int = 120
    store_pool: int = 8
    keep_guard_state: int = 30 * 86400
    notifications: NotifyConfig = NotifyConfig()
    guardrails: Guardrails = field(default_factory=Guardrails)
    server: ServerSettings = field(default_factory=ServerSettings)
    awx: AwxSettings | None = None  # where job templates run; None: no AWX
    accelerator: str = NONE  # local runs' default: "none" or "mitogen" (entries may override)
    ansible: AnsibleSetup | None = None  # the project's ansible.cfg and what it says
    cache: Path | None = None  # where listings of inventories are kept between commands
    inventory_ttl: int = 300
    approvals: ApprovalSettings = field(default_factory=ApprovalSettings)  # who may approve

    def inventory_paths(self) -> list[Path]:
        """The inventory sources, with the ``group_vars``/``host_vars`` beside each file."""
        paths = []
        for source in self.inventory:
            paths.append(source)
            if source.is_file():
                paths += [source.parent / name for name in VARS_DIRS]
        return paths

    def state_paths(self) -> list[Path]:
        """What remediator itself writes in the project: runs, cache, and a SQLite store with
        its journals (never to be opened by a search: closing a descriptor of a SQLite file
        drops the locks the process holds on it)."""
        paths = [self.runs, *([self.cache] if self.cache else [])]
        if isinstance(self.store, Path):
            paths += [self.store.with_name(self.store.name + suffix)
                      for suffix in ("", "-wal", "-shm", "-journal")]
        return paths

    @property
    def ansible_setup(self) -> AnsibleSetup:
        """The Ansible setup, or the bare one of a config built by hand."""
        return self.ansible or AnsibleSetup(root=self.base_dir, config_file=None)

    def secret_envs(self) -> frozenset[str]:
        """Every environment variable this config names as holding a secret, with the
        PostgreSQL ones: playbook runs get them blanked, whatever the playbook prints."""
        names = {"PGPASSWORD", STORE_ENV}
        if self.awx is not None:
            names.add(self.awx.token_env)
        for auth in self.server.endpoints.values():
            names.update(auth.secret_envs)
        for channel in self.notifications.channels.values():
            for key, value in channel.settings.items():
                if key.endswith("_env"):
                    names.update([value] if isinstance(value, str) else
                                 [v for v in value if isinstance(v, str)])
        return frozenset(names)

    def with_max_stage(self, stage: Stage | None) -> Config:
        """A copy whose ceiling is ``stage`` when given (``--max-stage`` beats the file)."""
        return self if stage is None else replace(self, max_stage=stage)


def parse_stage(value: object, where: str) -> Stage:
    """A Stage from its name; anything else is a ConfigError naming ``where``."""
    try:
        return Stage(str(value))
    except ValueError:
        names = ", ".join(s.value for s in Stage)
        raise ConfigError(f"unknown stage {value!r}; expected one of {names}",
                          where=where) from None


def from_mapping(data: Mapping[str, Any], base_dir: Path, source: Path | None = None, *,
                 env: Mapping[str, str] | None = None) -> Config:
    """Validate ``data`` (the parsed file) into a Config; unknown keys are errors. ``env``
    (default: the process's) is where ``ANSIBLE_CONFIG`` and other ``ANSIBLE_*`` settings
    are looked up."""
    env = os.environ if env is None else env
    origin = str(source) if source else "<defaults>"

    def where(key: str) -> str:
        line = line_of(data, key)
        return f"{origin}:{line}: key '{key}'" if line else f"{origin}: key '{key}'"

    for key in data:
        if key not in _KNOWN:
            known = ", ".join(sorted(_KNOWN))
            raise ConfigError(f"unknown key; known keys are {known}", where=where(key))
    paths: dict[str, Path] = {}
    for key, default in _PATH_KEYS.items():
        value = data.get(key, default)
        if not isinstance(value, str) or not value:
            raise ConfigError("expected a non-empty path string" + (
                " or a postgresql:// URL" if key == "store" else ""), where=where(key))
        if key != "store":
            paths[key] = (base_dir / value).resolve()
    store = parse_store(data.get("store", _PATH_KEYS["store"]), where("store"), base_dir)
    named_cfg = data.get("ansible_config")
    if named_cfg is not None and (not isinstance(named_cfg, str) or not named_cfg):
        raise ConfigError("expected the path of an ansible.cfg", where=where("ansible_config"))
    try:
        ansible = ansible_setup(base_dir, (base_dir / named_cfg).resolve() if named_cfg
                                else None, env,
                                parse_vault_ids(data.get("vault_ids"), base_dir,
                                                where("vault_ids")))
    except ConfigError as exc:
        if named_cfg is None or env.get("ANSIBLE_CONFIG"):
            raise
        raise ConfigError(f"{exc.message}: {exc.where}", where=where("ansible_config")) from None
    inventory = _inventory(data.get("inventory"), where("inventory"), base_dir, ansible)
    ints: dict[str, int] = {}
    for key, default_int in _INT_KEYS.items():
        value = data.get(key, default_int)
        least = 0 if key == "refire_settle" else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ConfigError("expected a positive integer" if least else
                              "expected a whole number of seconds, 0 or more", where=where(key))
        ints[key] = value
    max_stage = data.get("max_stage")
    accelerator = data.get("accelerator", NONE)
    if accelerator not in ACCELERATORS:
        raise ConfigError(f"unknown accelerator {accelerator!r}; expected one of "
                          f"{', '.join(ACCELERATORS)}", where=where("accelerator"))
    return Config(
        base_dir=base_dir,
        catalog=paths["catalog"],
        inventory=inventory,
        playbooks=paths["playbooks"],
        store=store,
        runs=paths["runs"],
        keep_runs=ints["keep_runs"],
        timeout=ints["timeout"],
        approval_ttl=ints["approval_ttl"],
        refire_window=ints["refire_window"],
        refire_settle=ints["refire_settle"],
        store_pool=ints["store_pool"],
        keep_guard_state=ints["keep_guard_state"],
        notifications=_notifications(data.get("notifications"), where),
        guardrails=_guardrails(data.get("guardrails"), where),
        server=parse_server(data.get("server"), where),
        awx=parse_awx(data.get("awx"), origin, base_dir),
        max_stage=parse_stage(max_stage, where("max_stage")) if max_stage is not None else None,
        source=source,
        accelerator=accelerator,
        ansible=ansible,
        cache=paths["cache"],
        inventory_ttl=ints["inventory_ttl"],
        approvals=parse_approvals(data.get("approvals"), where),
    )


def _inventory(value: Any, here: str, base_dir: Path, ansible: AnsibleSetup
               ) -> tuple[Path, ...]:
    """The inventory sources: the config's ``inventory`` (a path or a list), else the
    inventory ansible.cfg (or $ANSIBLE_INVENTORY) names, else ``inventory.yml``."""
    if value is None:
        return ansible.paths("inventory") or ((base_dir / DEFAULT_INVENTORY).resolve(),)
    values = value if isinstance(value, list) else [value]
    if not values or any(not isinstance(v, str) or not v for v in values):
        raise ConfigError("expected an inventory path, or a list of them", where=here)
    return tuple((base_dir / v).resolve() for v in values)


def parse_store(value: str, where: str, base_dir: Path) -> StoreLocation:
    """A store location: a ``postgresql://`` URL as given (checked for shape), else a path."""
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if not scheme:
        return (base_dir / value).resolve()
    if scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"unknown store scheme {scheme!r}: give a SQLite file path or a"
                          " postgresql://user@host:port/database URL", where=where)
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ConfigError(f"malformed store URL: {exc}", where=where) from None
    if not parts.path.strip("/"):
        raise ConfigError("the store URL names no database (postgresql://host/DATABASE)",
                          where=where)
    return value


def _guardrails(node: Any, where: Callable[[str], str]) -> Guardrails:
    """The ``guardrails`` section: defaults for every catalog entry."""
    rules, problems = parse_guardrails(node)
    if problems:
        key, message = problems[0]
        raise ConfigError(f"guardrails.{key}: {message}", where=where("guardrails"))
    return rules


def _notifications(node: Any, where: Callable[[str], str]) -> NotifyConfig:
    """The ``notifications`` section: channels by name, the default list, delivery limits."""
    if node is None:
        return NotifyConfig()
    here = where("notifications")
    if not isinstance(node, Mapping):
        raise ConfigError("expected a mapping with 'channels' and 'default'", where=here)
    for key in node:
        if key not in _NOTIFY_KEYS:
            raise ConfigError(f"unknown key '{key}'; known keys are "
                              f"{', '.join(sorted(_NOTIFY_KEYS))}", where=here)
    channels: dict[str, ChannelConfig] = {}
    for name, spec in (node.get("channels") or {}).items():
        if not isinstance(spec, Mapping) or spec.get("type") not in _CHANNEL_TYPES:
            raise ConfigError(f"channel '{name}': expected a mapping whose 'type' is one of "
                              f"{', '.join(sorted(_CHANNEL_TYPES))}", where=here)
        settings = {k: v for k, v in spec.items() if k != "type"}
        known = {f"{key}{suffix}" for key in _CHANNEL_KEYS[spec["type"]]
                 for suffix in ("", "_env")}
        for key in settings:
            if key not in known:  # a typo'd secret_env would send webhooks unsigned
                line = line_of(spec, key)
                raise ConfigError(
                    f"channel '{name}': unknown key '{key}'"
                    + (f" (line {line})" if line else "")
                    + f"; a {spec['type']} channel knows "
                    + (", ".join(sorted(known)) or "no keys but 'type'"), where=here)
        channels[str(name)] = ChannelConfig(str(name), str(spec["type"]), settings)
    default = node.get("default", list(channels))
    if isinstance(default, str):
        default = [default]
    if not isinstance(default, list) or any(d not in channels for d in default):
        raise ConfigError(f"'default' must list channel names from: {', '.join(channels)}",
                          where=here)
    limits: dict[str, float] = {}
    for key, fallback in (("timeout", 5.0), ("retries", 3), ("backoff", 0.5)):
        value = node.get(key, fallback)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"'{key}' must be a non-negative number", where=here)
        limits[key] = float(value)
    urls: dict[str, str | None] = {}
    for key in ("record_url", "request_url"):
        url = urls[key] = node.get(key)
        if url is not None and (not isinstance(url, str) or "{id}" not in url):
            raise ConfigError(f"'{key}' must be a string containing {{id}}", where=here)
    return NotifyConfig(channels=channels, default=tuple(default), timeout_s=limits["timeout"],
                        retries=int(limits["retries"]), backoff_s=limits["backoff"],
                        record_url=urls["record_url"], request_url=urls["request_url"])


def load(path: Path | None = None, *, env: Mapping[str, str] | None = None,
         cwd: Path | None = None) -> Config:
    """Config from ``path``, else $REMEDIATOR_CONFIG, else ./remediator.yml, else defaults."""
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    if path is None and (cwd / DEFAULT_CONFIG_NAME).is_file():
        path = cwd / DEFAULT_CONFIG_NAME
    if path is None:
        config = from_mapping(YamlMap(), cwd, env=env)
    else:
        path = (cwd / path).resolve()
        data = load_yaml(path, ConfigError)
        if data is None:
            data = YamlMap()
        if not isinstance(data, Mapping):
            raise ConfigError("expected a mapping of settings at the top", where=str(path))
        config = from_mapping(data, path.parent, path, env=env)
    if env.get(STORE_ENV):
        config = replace(config, store=parse_store(env[STORE_ENV], STORE_ENV, cwd))
    if env.get(MAX_STAGE_ENV):
        config = config.with_max_stage(parse_stage(env[MAX_STAGE_ENV], MAX_STAGE_ENV))
    return config
