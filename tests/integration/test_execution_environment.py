"""awx/execution-environment.yml through a real `ansible-builder create`: the build context
holds remediator's source and asks for what the image needs (the image build itself needs
registries that are unreachable here: awx/README.md)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from ..conftest import REPO

pytestmark = pytest.mark.ansible
BIN = Path(sys.executable).parent
DEFINITION = REPO / "awx" / "execution-environment.yml"


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build context `ansible-builder create` writes for the definition."""
    builder = BIN / "ansible-builder"
    assert builder.exists(), "ansible-builder is missing: pip install -e '.[test]'"
    out = tmp_path_factory.mktemp("ee") / "context"
    proc = subprocess.run([str(builder), "create", "-f", str(DEFINITION), "-c", str(out),
                           "--output-filename", "Containerfile"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def stages(containerfile: str) -> dict[str, list[str]]:
    """The Containerfile's steps by build stage name (``args`` before the first FROM)."""
    found: dict[str, list[str]] = {"args": []}
    current = "args"
    for line in containerfile.splitlines():
        if match := re.match(r"FROM \S+ AS (\w+)", line):
            current = match.group(1)
            found[current] = []
        elif line.strip() and not line.startswith("#"):
            found[current].append(line)
    return found


def pins(name: str) -> str:
    """remediator's own requirement on ``name`` in pyproject.toml."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d for d in deps if re.match(rf"{re.escape(name)}\b", d))


def test_the_image_runs_python_3_11_with_remediators_ansible(context: Path) -> None:
    """The base image, the interpreter, and ansible-core / ansible-runner as remediator pins them."""
    steps = stages((context / "Containerfile").read_text())
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in steps["args"]
    assert 'ARG PYCMD="/usr/bin/python3.11"' in steps["args"]
    refs = f'ARG ANSIBLE_INSTALL_REFS="{pins("ansible-core")} {pins("ansible-runner")}"'
    assert refs in steps["args"]
    assert set(steps) == {"args", "base", "builder", "final"}  # no galaxy stage: no collections
    assert "RUN /output/scripts/check_ansible $PYCMD" in steps["final"]


def test_remediator_is_installed_from_the_copied_source(context: Path) -> None:
    """Requirements name the source copied into /output, which the final stage removes."""
    build = context / "_build"
    requirements = (build / "requirements.txt").read_text().split("\n")
    assert requirements == ["remediator[postgresql] @ file:///output/remediator-src"]
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("psycopg[binary]") for d in extras["postgresql"])  # its own libpq
    assert (build / "bindep.txt").read_text().split("\n") == ["git-core [platform:rpm]"]
    steps = stages((context / "Containerfile").read_text())
    assert "COPY _build/remediator-src /output/remediator-src" in steps["base"]
    final = steps["final"]
    installed = next(i for i, step in enumerate(final) if "install-from-bindep" in step)
    assert final.index("RUN rm -rf /output") > installed


def test_the_copied_source_is_the_checkout_and_builds_a_complete_wheel(
        context: Path, tmp_path: Path) -> None:
    """Every package file is copied, and pip builds a wheel with the package data from it."""
    source = context / "_build" / "remediator-src"
    assert (source / "pyproject.toml").read_bytes() == (REPO / "pyproject.toml").read_bytes()
    package = {p.relative_to(REPO) for p in (REPO / "remediator").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert package <= {p.relative_to(source) for p in source.rglob("*") if p.is_file()}
    work = tmp_path / "src"
    shutil.copytree(source, work, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                           "-w", str(tmp_path / "wheels"), str(work)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "wheels").glob("remediator-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"remediator/__main__.py", "remediator/py.typed",
            "remediator/schema/audit-record-v1.json"} <= names
