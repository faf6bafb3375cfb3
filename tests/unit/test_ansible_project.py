"""Which ansible.cfg applies and what remediator reads from it (no ansible run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from remediator import config as config_mod
from remediator.ansible_project import find_config, parse_vault_ids, setup
from remediator.errors import ConfigError

CFG = """[defaults]
inventory = inventory/prod, inventory/extra.yml ; two sources
roles_path = roles:shared/roles
collections_path = collections
vault_identity_list = prod@secrets/prod.sh, dev@secrets/dev.txt
vault_password_file = ~/.vault-pass
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "ansible.cfg").write_text(CFG, encoding="utf-8")
    return tmp_path


def test_root_config_applies_and_paths_resolve_against_it(root: Path) -> None:
    """Relative paths resolve against the file's folder, ``~`` against home."""
    found = setup(root, None, {})
    assert found.config_file == root / "ansible.cfg"
    assert found.env() == {"ANSIBLE_CONFIG": str(root / "ansible.cfg")}
    assert found.paths("inventory") == (root / "inventory" / "prod",
                                        root / "inventory" / "extra.yml")
    assert found.roles_paths() == (root / "roles", root / "shared" / "roles")
    assert found.collections_paths() == (root / "collections",)
    assert found.vault_identities() == (
        ("prod", root / "secrets" / "prod.sh"), ("dev", root / "secrets" / "dev.txt"),
        ("default", Path(os.path.expanduser("~/.vault-pass"))))
    assert found.describe() == "ansible.cfg"


def test_ansible_config_variable_wins_and_may_name_a_folder(root: Path, tmp_path: Path
                                                            ) -> None:
    """$ANSIBLE_CONFIG beats the config key and the root's file; a folder means its
    ansible.cfg; the environment's ANSIBLE_ROLES_PATH beats the file's, relative to the root."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "ansible.cfg").write_text("[defaults]\nroles_path = r\n", encoding="utf-8")
    found = setup(root, root / "ansible.cfg", {"ANSIBLE_CONFIG": str(other),
                                               "ANSIBLE_ROLES_PATH": "mine"})
    assert found.config_file == other / "ansible.cfg"
    assert found.roles_paths() == (root / "mine",)


def test_named_config_that_does_not_exist_is_an_error(root: Path) -> None:
    """Ansible would fall through silently; remediator names the file."""
    with pytest.raises(ConfigError, match="does not exist") as caught:
        find_config(root, None, {"ANSIBLE_CONFIG": str(root / "nope.cfg")})
    assert caught.value.where == str(root / "nope.cfg")


def test_config_key_names_another_file(root: Path) -> None:
    """``ansible_config`` in remediator.yml names the file, relative to remediator.yml; a
    missing one is an error at that key's line."""
    (root / "ops.cfg").write_text("[defaults]\n", encoding="utf-8")
    (root / "remediator.yml").write_text("ansible_config: ops.cfg\n", encoding="utf-8")
    assert config_mod.load(root / "remediator.yml", env={}).ansible_setup.config_file == \
        root / "ops.cfg"
    (root / "remediator.yml").write_text("catalog: c.yml\nansible_config: gone.cfg\n",
                                         encoding="utf-8")
    with pytest.raises(ConfigError, match="does not exist") as caught:
        config_mod.load(root / "remediator.yml", env={})
    assert caught.value.where == f"{root / 'remediator.yml'}:2: key 'ansible_config'"


def test_world_writable_root_is_refused(root: Path) -> None:
    """An ansible.cfg in a world-writable folder: Ansible ignores it, remediator refuses."""
    os.chmod(root, 0o777)
    try:
        with pytest.raises(ConfigError, match="world-writable") as caught:
            find_config(root, None, {})
    finally:
        os.chmod(root, 0o700)
    assert caught.value.where == str(root / "ansible.cfg")
    assert "0777" in caught.value.message


def test_no_config_anywhere_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without any ansible.cfg nothing is set: Ansible's defaults apply."""
    monkeypatch.setenv("HOME", str(tmp_path))
    system = Path("/etc/ansible/ansible.cfg")
    found = setup(tmp_path, None, {})
    if system.is_file():  # Ansible's last resort, on a machine that has one
        assert found.config_file == system
    else:
        assert found.config_file is None and found.env() == {}
    (tmp_path / ".ansible.cfg").write_text("[defaults]\n", encoding="utf-8")
    assert setup(tmp_path, None, {}).config_file == tmp_path / ".ansible.cfg"


def test_unparsable_config_names_the_file(root: Path) -> None:
    (root / "ansible.cfg").write_text("roles_path = before any section\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cannot parse ansible\.cfg") as caught:
        setup(root, None, {})
    assert str(root / "ansible.cfg") in str(caught.value)


def test_vault_ids_join_the_config_file_ones(root: Path) -> None:
    """The config's vault ids are added to ansible.cfg's in the one variable every ansible
    program reads; a malformed one is an error naming the key."""
    ids = parse_vault_ids(["ops@pass.sh"], root, "remediator.yml:3: key 'vault_ids'")
    found = setup(root, None, {}, ids)
    assert found.env()["ANSIBLE_VAULT_IDENTITY_LIST"] == ",".join([
        f"prod@{root / 'secrets' / 'prod.sh'}", f"dev@{root / 'secrets' / 'dev.txt'}",
        f"ops@{root / 'pass.sh'}"])
    for bad in (["nopass"], ["ops@prompt"], [3], "@x"):
        with pytest.raises(ConfigError, match="ID@FILE"):
            parse_vault_ids(bad, root, "here")
