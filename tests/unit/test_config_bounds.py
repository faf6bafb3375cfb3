"""Configuration input is bounded: YAML bombs, deep nesting and typo'd channel keys are errors
naming file and line (no ansible run: an inventory bomb is refused before ansible-inventory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator import catalog as catalog_mod
from remediator import config as config_mod
from remediator import inventory
from remediator.ansible_project import setup
from remediator.errors import CatalogError, ConfigError, InventoryError


def bomb(key: str = "x") -> str:
    """Nine levels of nine aliases each: 9**9 (387 million) strings once expanded."""
    text = f'{key}: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    previous = "a"
    for name in "bcdefghi":
        text += f"{key}{name}: &{name} [" + ", ".join(f"*{previous}" for _ in range(9)) + "]\n"
        previous = name
    return text


def test_alias_bomb_in_static_vars_is_refused_at_its_line(tmp_path: Path) -> None:
    catalog = tmp_path / "remediations.yml"
    body = "\n".join("      " + line for line in bomb("v").splitlines())
    catalog.write_text("version: 1\nremediations:\n  - name: e\n    match: {alertname: A}\n"
                       "    playbook: p.yml\n    static_vars:\n" + body + "\n",
                       encoding="utf-8")
    (tmp_path / "playbooks").mkdir()
    with pytest.raises(CatalogError) as caught:
        catalog_mod.load(catalog, tmp_path / "playbooks")
    assert "aliases expand this to over 1,000,000 nodes" in str(caught.value)
    assert f"{catalog}:13" in str(caught.value)  # the alias level that crosses the bound


def test_deep_nesting_in_the_config_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "remediator.yml"
    config.write_text("catalog: remediations.yml\nguardrails: " + "[" * 3000 + "]" * 3000 + "\n",
                      encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config_mod.load(config, env={})
    assert str(caught.value).startswith(f"{config}:2: invalid YAML: nested deeper than 100")


def test_merge_keys_and_small_aliases_still_load(tmp_path: Path) -> None:
    from remediator.yamlio import load_yaml

    config = tmp_path / "remediator.yml"
    config.write_text("a: &d {t: 1}\nb:\n  <<: *d\n  u: 2\n", encoding="utf-8")
    assert load_yaml(config, ConfigError) == {"a": {"t": 1}, "b": {"t": 1, "u": 2}}


def test_inventory_bomb_is_refused_before_ansible_reads_it(tmp_path: Path) -> None:
    """ansible-inventory would hang; the file is refused at its line (no ansible run: the
    audit hook would fail this quick test otherwise)."""
    source = tmp_path / "hosts.yml"
    source.write_text("all:\n  vars:\n" + "\n".join("    " + line for line in
                                                    bomb().splitlines()) + "\n",
                      encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        inventory.load([source], setup(tmp_path, None, {}))
    assert f"{source}:9: refused YAML: aliases expand" in str(caught.value)


def test_typo_in_a_channel_key_is_an_error(tmp_path: Path) -> None:
    """``secert_env`` would have sent the webhook unsigned: it is an error naming the key."""
    config = tmp_path / "remediator.yml"
    config.write_text("notifications:\n  channels:\n    hook:\n      type: webhook\n"
                      "      url: https://hooks.example/x\n      secert_env: HOOK_SECRET\n",
                      encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config_mod.load(config, env={})
    message = str(caught.value)
    assert "channel 'hook': unknown key 'secert_env' (line 6)" in message
    assert "secret, secret_env, url, url_env" in message
