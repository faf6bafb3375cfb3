"""The README's first command: the demo runs the main job and changes nothing outside sandbox/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ansible

REPO = Path(__file__).resolve().parents[2]


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd``."""
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout


def checkout_copy(dest: Path) -> Path:
    """A clean git checkout of the working tree's files (tracked and new, not ignored)."""
    files = git(REPO, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    for name in files:
        source = REPO / name
        if source.is_symlink():  # playbooks/collections/.../fixes -> remediator/collection
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source.readlink())
        elif source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "copy")
    return dest


def test_demo_fixes_the_sandbox_and_touches_nothing_else(tmp_path: Path) -> None:
    """scripts/demo.sh prints a live, successful record; only sandbox/ is new; HOME untouched."""
    checkout = checkout_copy(tmp_path / "checkout")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDIATOR_", "ANSIBLE_"))}
    env.update(HOME=str(home), VENV=str(Path(sys.executable).parent.parent),
               REMEDIATOR_SKIP_INSTALL="1")
    proc = subprocess.run(["bash", "scripts/demo.sh"], cwd=checkout, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    start = proc.stdout.index("[\n")
    end = proc.stdout.index("\n]\n", start) + 2
    (record,) = json.loads(proc.stdout[start:end])
    assert (record["mode"], record["outcome"]) == ("live", "succeeded")
    assert record["remediation"]["catalog_revision"]["dirty"] is False
    assert "would free" in proc.stdout  # the check run under the brake came first
    assert "audit chain OK: 2 records" in proc.stdout
    assert git(checkout, "status", "--porcelain") == ""
    ignored = git(checkout, "status", "--porcelain", "--ignored").split()
    assert [p for p in ignored if p != "!!"] == ["sandbox/"]
    assert list(home.iterdir()) == []
    assert not (checkout / "sandbox" / "demo-web-01" / "var" / "cache" / "app" /
                "render-0001.bin").exists()
