"""Choosing an accelerator: the config key, the catalog key, and the variables handed to
ansible-playbook (the runs themselves are in tests/integration/test_accelerator.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from remediator import catalog, config
from remediator.errors import CatalogError, ConfigError, ExecutionError
from remediator.executor.accelerate import mitogen_strategies, strategy_env

DATA = Path(__file__).resolve().parent.parent / "data"
CATALOGS = DATA / "catalogs"
PLAYBOOKS = DATA / "playbooks"


def test_entries_opt_in_out_or_take_the_configs_accelerator() -> None:
    """An entry's ``accelerator`` is kept as written; without one it is None (the config's)."""
    entries = {e.name: e.accelerator for e in catalog.load(CATALOGS / "accelerator-good.yml",
                                                           PLAYBOOKS)}
    assert entries == {"storm-touch": "mitogen", "fragile": "none", "default": None}


def test_a_wrong_accelerator_names_file_line_entry_and_key() -> None:
    """An unknown value, and one on an AWX job template, each a problem at its line."""
    path = CATALOGS / "accelerator-bad.yml"
    with pytest.raises(CatalogError) as caught:
        catalog.load(path, PLAYBOOKS)
    first, second = caught.value.problems
    assert first.startswith(f"{path}:8: entry 'disk-fast': key 'accelerator': ")
    assert "unknown accelerator 'turbo'; expected one of none, mitogen" in first
    assert second.startswith(f"{path}:13: entry 'service-on-awx': key 'accelerator': ")
    assert "AWX job template takes its strategy from AWX" in second


def test_the_config_default_is_none_and_a_wrong_value_names_its_line(tmp_path: Path) -> None:
    """``accelerator`` defaults to none; an unknown one is a ConfigError at file:line."""
    assert config.load(env={}, cwd=tmp_path).accelerator == "none"
    path = tmp_path / "remediator.yml"
    path.write_text("accelerator: mitogen\n", encoding="utf-8")
    assert config.load(path, env={}, cwd=tmp_path).accelerator == "mitogen"
    path.write_text("keep_runs: 3\naccelerator: [mitogen]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config.load(path, env={}, cwd=tmp_path)
    assert caught.value.where == f"{path}:2: key 'accelerator'"
    assert "unknown accelerator ['mitogen']" in caught.value.message


def test_none_hands_ansible_nothing() -> None:
    """Without an accelerator the run's environment is untouched, whatever it holds."""
    assert strategy_env("none", {"ANSIBLE_STRATEGY": "debug"}) == {}


@pytest.mark.parametrize(("chosen", "strategy"), [
    (None, "mitogen_linear"), ("", "mitogen_linear"), ("linear", "mitogen_linear"),
    ("free", "mitogen_free"), ("host_pinned", "mitogen_host_pinned"),
    ("mitogen_free", "mitogen_free"),
])
def test_mitogen_keeps_the_kind_of_strategy_the_environment_chose(chosen: str | None,
                                                                  strategy: str) -> None:
    """linear, free and host_pinned become their Mitogen counterparts."""
    env = {} if chosen is None else {"ANSIBLE_STRATEGY": chosen}
    assert strategy_env("mitogen", env)["ANSIBLE_STRATEGY"] == strategy


def test_mitogens_plugins_come_first_and_the_environments_stay() -> None:
    """The installed plugin folder leads ANSIBLE_STRATEGY_PLUGINS; folders already named
    there follow in their order (empty parts dropped)."""
    folder = mitogen_strategies()
    assert folder is not None and (folder / "mitogen_free.py").is_file()
    env = {"ANSIBLE_STRATEGY_PLUGINS": os.pathsep.join(["/site/a", "", "/site/b"])}
    assert strategy_env("mitogen", env)["ANSIBLE_STRATEGY_PLUGINS"].split(os.pathsep) == [
        str(folder), "/site/a", "/site/b"]
    assert strategy_env("mitogen", {})["ANSIBLE_STRATEGY_PLUGINS"] == str(folder)


@pytest.mark.parametrize(("accelerator", "env", "message"), [
    ("turbo", {}, "unknown accelerator 'turbo'"),
    ("mitogen", {"ANSIBLE_STRATEGY": "debug"}, "ANSIBLE_STRATEGY='debug' has no Mitogen"),
])
def test_what_cannot_be_accelerated_is_refused(accelerator: str, env: dict[str, str],
                                               message: str) -> None:
    """An unknown accelerator or a strategy without a counterpart: an ExecutionError."""
    with pytest.raises(ExecutionError, match=message):
        strategy_env(accelerator, env)
