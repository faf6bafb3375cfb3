"""The config file: discovery, defaults, paths relative to the file, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator import config
from remediator.errors import ConfigError
from remediator.models import Stage

NO_ENV: dict[str, str] = {}


def write(path: Path, text: str) -> Path:
    """``text`` written to ``path`` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def failure(path: Path, cwd: Path) -> ConfigError:
    """The ConfigError that loading ``path`` raises."""
    with pytest.raises(ConfigError) as caught:
        config.load(path, env=NO_ENV, cwd=cwd)
    return caught.value


def test_defaults_when_there_is_no_file(tmp_path: Path) -> None:
    """Without a file every path is the documented default under the given cwd."""
    loaded = config.load(env=NO_ENV, cwd=tmp_path)
    assert loaded.source is None
    assert loaded.base_dir == tmp_path
    assert loaded.catalog == tmp_path / "remediations.yml"
    assert loaded.inventory == (tmp_path / "inventory.yml",)
    assert loaded.playbooks == tmp_path / "playbooks"
    assert loaded.store == tmp_path / ".remediator" / "audit.db"
    assert loaded.runs == tmp_path / ".remediator" / "runs"
    assert (loaded.keep_runs, loaded.timeout, loaded.max_stage) == (200, 600, None)


def test_paths_are_relative_to_the_config_files_folder(tmp_path: Path) -> None:
    """Relative paths in the file resolve against its folder, not against the cwd."""
    path = write(tmp_path / "etc" / "remediator.yml",
                 "catalog: cat/remediations.yml\ninventory: ../inv/hosts.ini\n"
                 "playbooks: pb\nstore: state/audit.db\nruns: state/runs\n"
                 "keep_runs: 7\ntimeout: 30\n")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    loaded = config.load(path, env=NO_ENV, cwd=cwd)
    etc = tmp_path / "etc"
    assert loaded.source == path
    assert loaded.base_dir == etc
    assert loaded.catalog == etc / "cat" / "remediations.yml"
    assert loaded.inventory == (tmp_path / "inv" / "hosts.ini",)
    assert loaded.playbooks == etc / "pb"
    assert loaded.store == etc / "state" / "audit.db"
    assert loaded.runs == etc / "state" / "runs"
    assert (loaded.keep_runs, loaded.timeout) == (7, 30)


def test_unset_paths_default_next_to_the_config_file(tmp_path: Path) -> None:
    """Keys the file leaves out default to paths beside the file."""
    path = write(tmp_path / "conf" / "r.yml", "keep_runs: 3\n")
    loaded = config.load(path, env=NO_ENV, cwd=tmp_path)
    assert loaded.catalog == tmp_path / "conf" / "remediations.yml"
    assert loaded.store == tmp_path / "conf" / ".remediator" / "audit.db"


def test_empty_config_file_gives_defaults_beside_it(tmp_path: Path) -> None:
    """An empty file is valid and means every default, relative to its folder."""
    path = write(tmp_path / "conf" / "remediator.yml", "# nothing set\n")
    loaded = config.load(path, env=NO_ENV, cwd=tmp_path)
    assert loaded.source == path
    assert loaded.playbooks == tmp_path / "conf" / "playbooks"


def test_relative_config_path_is_taken_from_the_cwd(tmp_path: Path) -> None:
    """A relative ``--config`` path is found from the given cwd."""
    write(tmp_path / "conf" / "r.yml", "playbooks: pb\n")
    loaded = config.load(Path("conf/r.yml"), env=NO_ENV, cwd=tmp_path)
    assert loaded.source == tmp_path / "conf" / "r.yml"
    assert loaded.playbooks == tmp_path / "conf" / "pb"


def test_config_env_variable_names_the_file(tmp_path: Path) -> None:
    """$REMEDIATOR_CONFIG is used when no path is given, even if ./remediator.yml exists."""
    chosen = write(tmp_path / "chosen" / "settings.yml", "keep_runs: 11\n")
    write(tmp_path / "remediator.yml", "keep_runs: 22\n")
    loaded = config.load(env={"REMEDIATOR_CONFIG": str(chosen)}, cwd=tmp_path)
    assert loaded.source == chosen
    assert loaded.keep_runs == 11
    assert loaded.catalog == tmp_path / "chosen" / "remediations.yml"


def test_explicit_path_beats_the_env_variable(tmp_path: Path) -> None:
    """A path passed in wins over $REMEDIATOR_CONFIG."""
    given = write(tmp_path / "given.yml", "keep_runs: 1\n")
    other = write(tmp_path / "other.yml", "keep_runs: 2\n")
    loaded = config.load(given, env={"REMEDIATOR_CONFIG": str(other)}, cwd=tmp_path)
    assert loaded.keep_runs == 1


def test_remediator_yml_in_the_cwd_is_discovered(tmp_path: Path) -> None:
    """Without a path or env variable, ./remediator.yml in the cwd is read."""
    found = write(tmp_path / "remediator.yml", "timeout: 42\n")
    loaded = config.load(env=NO_ENV, cwd=tmp_path)
    assert loaded.source == found
    assert loaded.timeout == 42


def test_empty_env_variable_is_ignored(tmp_path: Path) -> None:
    """An empty $REMEDIATOR_CONFIG falls back to discovery and defaults."""
    loaded = config.load(env={"REMEDIATOR_CONFIG": ""}, cwd=tmp_path)
    assert loaded.source is None


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    """A named config file that does not exist is a ConfigError naming it."""
    error = failure(tmp_path / "absent.yml", tmp_path)
    assert error.message == "file not found"
    assert error.where == str(tmp_path / "absent.yml")


def test_max_stage_from_the_file(tmp_path: Path) -> None:
    """``max_stage`` in the file sets the ceiling."""
    path = write(tmp_path / "r.yml", "max_stage: human-initiated\n")
    assert config.load(path, env=NO_ENV, cwd=tmp_path).max_stage is Stage.HUMAN_INITIATED


def test_max_stage_env_variable_overrides_the_file(tmp_path: Path) -> None:
    """$REMEDIATOR_MAX_STAGE beats the file's ``max_stage`` (the emergency brake)."""
    path = write(tmp_path / "r.yml", "max_stage: fallback\n")
    loaded = config.load(path, env={"REMEDIATOR_MAX_STAGE": "observe"}, cwd=tmp_path)
    assert loaded.max_stage is Stage.OBSERVE


def test_max_stage_env_variable_applies_without_a_file(tmp_path: Path) -> None:
    """$REMEDIATOR_MAX_STAGE sets the ceiling on the defaults too."""
    loaded = config.load(env={"REMEDIATOR_MAX_STAGE": "oversight"}, cwd=tmp_path)
    assert loaded.max_stage is Stage.OVERSIGHT


def test_bad_max_stage_env_variable_is_named(tmp_path: Path) -> None:
    """An unknown stage in $REMEDIATOR_MAX_STAGE is a ConfigError naming the variable."""
    with pytest.raises(ConfigError) as caught:
        config.load(env={"REMEDIATOR_MAX_STAGE": "frozen"}, cwd=tmp_path)
    assert caught.value.where == "REMEDIATOR_MAX_STAGE"
    assert "unknown stage 'frozen'" in caught.value.message


def test_with_max_stage_none_keeps_the_config() -> None:
    """``with_max_stage(None)`` leaves the file's ceiling alone; a stage replaces it."""
    loaded = config.from_mapping({"max_stage": "oversight"}, Path("/srv"))
    assert loaded.with_max_stage(None) is loaded
    assert loaded.with_max_stage(Stage.OBSERVE).max_stage is Stage.OBSERVE


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    """A key the config does not know is an error at file:line naming the key."""
    path = write(tmp_path / "r.yml", "catalog: remediations.yml\n# a comment\ncatalogue: x.yml\n")
    error = failure(path, tmp_path)
    assert error.where == f"{path}:3: key 'catalogue'"
    assert error.message.startswith("unknown key; known keys are ")
    assert "catalog, " in error.message and "inventory, " in error.message
    assert error.exit_code == 2


def test_bad_stage_names_file_line_and_key(tmp_path: Path) -> None:
    """An unknown ``max_stage`` value is an error at its line, listing the stages."""
    path = write(tmp_path / "r.yml", "keep_runs: 5\nmax_stage: autopilot\n")
    error = failure(path, tmp_path)
    assert error.where == f"{path}:2: key 'max_stage'"
    assert error.message == ("unknown stage 'autopilot'; expected one of observe, "
                             "human-initiated, oversight, fallback")


@pytest.mark.parametrize("value", ["0", "-3", "true", "'10'", "2.5"])
def test_keep_runs_must_be_a_positive_integer(tmp_path: Path, value: str) -> None:
    """keep_runs of zero, a negative number, a boolean, a string or a float is refused."""
    path = write(tmp_path / "r.yml", f"store: a.db\nkeep_runs: {value}\n")
    error = failure(path, tmp_path)
    assert error.where == f"{path}:2: key 'keep_runs'"
    assert error.message == "expected a positive integer"


def test_non_positive_timeout_is_refused(tmp_path: Path) -> None:
    """timeout: 0 is refused like keep_runs."""
    path = write(tmp_path / "r.yml", "timeout: 0\n")
    assert failure(path, tmp_path).where == f"{path}:1: key 'timeout'"


def test_empty_path_value_is_refused(tmp_path: Path) -> None:
    """A path key set to an empty string is an error naming the key."""
    path = write(tmp_path / "r.yml", "catalog: ''\n")
    error = failure(path, tmp_path)
    assert error.where == f"{path}:1: key 'catalog'"
    assert error.message == "expected a non-empty path string"


def test_top_level_list_is_refused(tmp_path: Path) -> None:
    """A config file that is not a mapping of settings is refused."""
    path = write(tmp_path / "r.yml", "- catalog: x.yml\n")
    error = failure(path, tmp_path)
    assert error.where == str(path)
    assert error.message == "expected a mapping of settings at the top"


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    """Unreadable YAML is a ConfigError at file:line."""
    path = write(tmp_path / "r.yml", "keep_runs: 5\ncatalog: a: b\n")
    error = failure(path, tmp_path)
    assert error.where == f"{path}:2"
    assert error.message == "invalid YAML: mapping values are not allowed here"


def test_duplicate_key_in_config_is_refused(tmp_path: Path) -> None:
    """A key set twice is an error at the second one, not a silent override."""
    path = write(tmp_path / "r.yml", "keep_runs: 5\nkeep_runs: 6\n")
    error = failure(path, tmp_path)
    assert error.where == f"{path}:2"
    assert error.message == "invalid YAML: duplicate key 'keep_runs'"


def test_store_takes_a_postgresql_url_and_the_env_overrides_it(tmp_path: Path) -> None:
    """A postgresql:// URL is kept as given; $REMEDIATOR_STORE beats the file."""
    url = "postgresql://remediator@db.example:5432/remediator"
    path = write(tmp_path / "remediator.yml", f"store: {url}\nstore_pool: 3\n")
    loaded = config.load(path, env=NO_ENV, cwd=tmp_path)
    assert (loaded.store, loaded.store_pool) == (url, 3)
    other = "postgres://other@127.0.0.1/x"
    assert config.load(path, env={"REMEDIATOR_STORE": other}, cwd=tmp_path).store == other
    assert config.load(path, env={"REMEDIATOR_STORE": "s/a.db"}, cwd=tmp_path).store == \
        tmp_path / "s" / "a.db"


@pytest.mark.parametrize(("value", "message"), [
    ("mysql://db/remediator", "unknown store scheme 'mysql'"),
    ("postgresql://db.example:5432/", "names no database"),
    ("postgresql://db.example:port/x", "malformed store URL"),
])
def test_bad_store_urls_are_named_with_their_line(tmp_path: Path, value: str,
                                                  message: str) -> None:
    path = write(tmp_path / "remediator.yml", f"timeout: 30\nstore: {value}\n")
    error = failure(path, tmp_path)
    assert message in str(error)
    assert f"{path}:2: key 'store'" in str(error)
