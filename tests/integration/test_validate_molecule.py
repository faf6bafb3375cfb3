"""``catalog validate`` warns (never fails) when a catalog entry's playbook has no molecule scenario."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from remediator.cli import cli

from ..conftest import Project

pytestmark = pytest.mark.ansible

REPO = Path(__file__).resolve().parents[2]


def scenario(root: Path, name: str, imports: str, converge: str = "converge.yml",
             settings: str = "driver:\n  name: podman\n") -> None:
    """Write molecule/NAME with a molecule.yml and a converge playbook importing ``imports``."""
    folder = root / "molecule" / name
    folder.mkdir(parents=True)
    (folder / "molecule.yml").write_text(settings, encoding="utf-8")
    (folder / converge).write_text(
        f"- name: Converge\n  ansible.builtin.import_playbook: {imports}\n", encoding="utf-8")


def validate(project: Project) -> dict[str, Any]:
    """Run ``catalog validate --json`` and return its report (asserting exit 0)."""
    result = project.cli("catalog", "validate", "--json")
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_entry_without_a_scenario_is_a_warning_not_an_error(project: Project) -> None:
    """With no molecule folder the report is ok, and one warning names the catalog line, entry and playbook."""
    report = validate(project)
    assert report["ok"] is True and report["problems"] == []
    (warning,) = report["warnings"]
    assert warning.startswith(f"{project.root / 'remediations.yml'}:")
    assert "entry 'disk-space-cleanup': key 'playbook': disk_space_cleanup.yml has no molecule scenario" \
        in warning


def test_warning_is_printed_on_stderr(project: Project) -> None:
    """Without --json the warning goes to stderr and the command still reports the catalog OK."""
    result = project.cli("catalog", "validate")
    assert result.exit_code == 0
    assert "warning: " in result.stderr and "has no molecule scenario" in result.stderr
    assert "catalog OK" in result.stdout


def test_scenario_importing_the_playbook_silences_the_warning(project: Project) -> None:
    """A scenario whose converge.yml imports ../../playbooks/<playbook> counts as testing it."""
    scenario(project.root, "disk", "../../playbooks/disk_space_cleanup.yml")
    assert validate(project)["warnings"] == []


def test_scenario_importing_another_playbook_does_not_count(project: Project) -> None:
    """A scenario that converges a different playbook leaves the entry's warning in place."""
    scenario(project.root, "noop", "../../playbooks/noop.yml")
    scenario(project.root, "elsewhere", "../../disk_space_cleanup.yml")
    assert len(validate(project)["warnings"]) == 1


def test_converge_named_in_molecule_yml_is_followed(project: Project) -> None:
    """provisioner.playbooks.converge in molecule.yml names the converge playbook that is read."""
    scenario(project.root, "custom", "../../playbooks/disk_space_cleanup.yml", converge="fix.yml",
             settings="provisioner:\n  name: ansible\n  playbooks:\n    converge: fix.yml\n")
    assert validate(project)["warnings"] == []
    (project.root / "molecule" / "custom" / "molecule.yml").write_text("driver:\n  name: podman\n")
    assert len(validate(project)["warnings"]) == 1


def test_broken_scenario_files_are_ignored(project: Project) -> None:
    """A scenario whose files are not YAML counts as no scenario instead of breaking validation."""
    scenario(project.root, "broken", "../../playbooks/disk_space_cleanup.yml",
             settings="driver: [unclosed\n")
    assert len(validate(project)["warnings"]) == 1


def test_the_bundled_catalog_has_a_scenario_for_every_entry() -> None:
    """Every entry of this repository's remediations.yml is converged by a scenario under molecule/."""
    result = CliRunner().invoke(cli, ["--config", str(REPO / "remediator.yml"), "catalog",
                                      "validate", "--json"], env={"REMEDIATOR_MAX_STAGE": None})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["entries"] >= 5
    assert report["warnings"] == []
