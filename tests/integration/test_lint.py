"""Every remediation playbook passes ansible-lint at its strictest (production) profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ansible

REPO = Path(__file__).resolve().parents[2]


def test_playbooks_pass_ansible_lint_production(tmp_path: Path) -> None:
    """`ansible-lint --profile production playbooks/` reports no failure and no warning."""
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1",
           "ANSIBLE_HOME": str(tmp_path / "ansible-home")}
    proc = subprocess.run([str(bindir / "ansible-lint"), "--offline", "--profile", "production",
                           "playbooks/"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "0 failure(s), 0 warning(s)" in output
    assert "Profile 'production' was required, and it passed" in output


def test_awx_wrapper_and_ee_definition_pass_ansible_lint_production(tmp_path: Path) -> None:
    """The AWX job playbook and the execution environment definition pass the same profile."""
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1",
           "ANSIBLE_HOME": str(tmp_path / "ansible-home")}
    proc = subprocess.run([str(bindir / "ansible-lint"), "--offline", "--profile", "production",
                           "awx/remediator_job.yml", "awx/execution-environment.yml"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "0 failure(s), 0 warning(s) in 2 files processed" in output


def test_collection_passes_ansible_lint_production(tmp_path: Path) -> None:
    """The collection remediator.fixes (roles, FQCN playbooks, argument specs, galaxy.yml)
    passes the production profile; its roles resolve through a collections path."""
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1",
           "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
           "ANSIBLE_COLLECTIONS_PATH": str(REPO / "playbooks" / "collections")}
    proc = subprocess.run([str(bindir / "ansible-lint"), "--offline", "--profile", "production",
                           "."], cwd=REPO / "remediator" / "collection", env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "0 failure(s), 0 warning(s)" in output
    assert "Profile 'production' was required, and it passed" in output
