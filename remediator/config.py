"""The config file: YAML in, a validated frozen Config out; every path relative to the file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .models import Stage
from .yamlio import YamlMap, line_of, load_yaml

CONFIG_ENV = "REMEDIATOR_CONFIG"
MAX_STAGE_ENV = "REMEDIATOR_MAX_STAGE"
DEFAULT_CONFIG_NAME = "remediator.yml"

# key -> (default, kind); paths are resolved against the config file's folder.
_PATH_KEYS: Mapping[str, str] = {
    "catalog": "remediations.yml",
    "inventory": "inventory.yml",
    "playbooks": "playbooks",
    "store": ".remediator/audit.db",
    "runs": ".remediator/runs",
}
_INT_KEYS: Mapping[str, int] = {"keep_runs": 200, "timeout": 600}
_KNOWN = frozenset({*_PATH_KEYS, *_INT_KEYS, "max_stage"})


@dataclass(frozen=True, slots=True)
class Config:
    """Where everything lives and the global limits; built once at the edge, then trusted."""

    base_dir: Path
    catalog: Path
    inventory: Path
    playbooks: Path
    store: Path
    runs: Path
    keep_runs: int = 200
    timeout: int = 600
    max_stage: Stage | None = None
    source: Path | None = None  # the config file, when there was one

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


def from_mapping(data: Mapping[str, Any], base_dir: Path, source: Path | None = None) -> Config:
    """Validate ``data`` (the parsed file) into a Config; unknown keys are errors."""
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
            raise ConfigError("expected a non-empty path string", where=where(key))
        paths[key] = (base_dir / value).resolve()
    ints: dict[str, int] = {}
    for key, default_int in _INT_KEYS.items():
        value = data.get(key, default_int)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError("expected a positive integer", where=where(key))
        ints[key] = value
    max_stage = data.get("max_stage")
    return Config(
        base_dir=base_dir,
        catalog=paths["catalog"],
        inventory=paths["inventory"],
        playbooks=paths["playbooks"],
        store=paths["store"],
        runs=paths["runs"],
        keep_runs=ints["keep_runs"],
        timeout=ints["timeout"],
        max_stage=parse_stage(max_stage, where("max_stage")) if max_stage is not None else None,
        source=source,
    )


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
        config = from_mapping(YamlMap(), cwd)
    else:
        path = (cwd / path).resolve()
        data = load_yaml(path, ConfigError)
        if data is None:
            data = YamlMap()
        if not isinstance(data, Mapping):
            raise ConfigError("expected a mapping of settings at the top", where=str(path))
        config = from_mapping(data, path.parent, path)
    if env.get(MAX_STAGE_ENV):
        config = config.with_max_stage(parse_stage(env[MAX_STAGE_ENV], MAX_STAGE_ENV))
    return config
