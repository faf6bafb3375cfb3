"""The README's examples are checked so they never rot."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from remediator import catalog, errors
from remediator.config import from_mapping
from remediator.settings import server as settings

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def block_after(heading: str, lang: str) -> str:
    """The first ```lang block after ``heading``."""
    section = README.split(heading, 1)[1]
    found = re.search(rf"```{lang}\n(.*?)```", section, re.DOTALL)
    assert found, f"no {lang} block after {heading}"
    return found.group(1)


def test_readme_starts_with_the_two_commands() -> None:
    """The first code block holds the demo and test commands, and both scripts exist."""
    first = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert first
    commands = [line.split("#")[0].strip() for line in first.group(1).splitlines()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    assert (REPO / "scripts" / "demo.sh").is_file()
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()


def test_catalog_example_is_a_valid_catalog(tmp_path: Path) -> None:
    """The README's catalog example loads without a problem."""
    (tmp_path / "playbooks").mkdir()
    shutil.copy(REPO / "playbooks" / "disk_space_cleanup.yml", tmp_path / "playbooks")
    path = tmp_path / "remediations.yml"
    path.write_text(block_after("## The catalog", "yaml"))
    loaded = catalog.load(path, tmp_path / "playbooks")
    assert [e.name for e in loaded] == ["disk-space-cleanup"]


def test_serve_example_loads_and_shows_every_server_key() -> None:
    """The README's `serve` config example is a valid config, and every key the `server`
    section takes is in it (commented out where it has no fixed default)."""
    text = block_after("## Receiving webhooks", "yaml")
    loaded = from_mapping(yaml.safe_load(text), Path("/srv")).server
    assert set(loaded.endpoints) == {"alertmanager", "pagerduty", "generic"}
    shown = set(re.findall(r"^  #? ?(\w+):", text, re.MULTILINE))
    assert shown >= settings.KEYS, sorted(settings.KEYS - shown)


def test_every_exit_code_is_documented() -> None:
    """Each error class's exit code appears in the README's exit-code table."""
    table = README.split("### Exit codes", 1)[1]
    documented = {int(n) for n in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    codes = {cls.exit_code for cls in vars(errors).values()
             if isinstance(cls, type) and issubclass(cls, errors.RemediatorError)}
    assert codes <= documented
    assert {0, 1} <= documented


def test_bundled_catalog_validates_and_matches_the_example_alert() -> None:
    """The bundled catalog loads and its entry matches the bundled example alert."""
    from remediator.sources import normalize, parse_json

    loaded = catalog.load(REPO / "remediations.yml", REPO / "playbooks")
    text = (REPO / "examples" / "alerts" / "disk-space-low.json").read_text()
    (alert,) = normalize(parse_json(text, "example"))
    entry = loaded.match(alert)
    assert entry is not None and entry.name == "disk-space-cleanup"


def test_every_test_mark_has_a_row_in_the_tests_section() -> None:
    """Each mark pyproject.toml registers is in the README's tier table, and no other."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    marks = {m.split(":")[0] for m in config["tool"]["pytest"]["ini_options"]["markers"]}
    section = README.split("\n## Tests\n", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"^\| `(\w+)`", section, re.MULTILINE)) == marks
