"""Every CLI command has --help with an example, and a test keeps it so."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from remediator.cli import cli


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under ``group``, groups included."""
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", commands(cli), ids=lambda p: " ".join(p) or "remediator")
def test_help_has_an_example(path: tuple[str, ...]) -> None:
    """`remediator ... --help` exits 0, describes the command and shows an example."""
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "remediator " in result.output.split("Example:", 1)[1]


def test_design_commands_exist() -> None:
    """The commands the design's CLI contract names for the core are all there."""
    paths = {" ".join(p) for p in commands(cli)}
    assert {"handle", "run", "catalog list", "catalog validate", "audit list", "audit show",
            "audit verify"} <= paths


def test_python_dash_m_runs_the_cli() -> None:
    """`python -m remediator --help` works like the console script."""
    proc = subprocess.run([sys.executable, "-m", "remediator", "--help"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0
    assert "handle" in proc.stdout


def test_bad_usage_is_exit_2() -> None:
    """An unknown option is click's usage error, exit 2."""
    assert CliRunner().invoke(cli, ["handle", "--nope"]).exit_code == 2
