"""tests/tiers.py: which mark a program a test starts needs."""

from __future__ import annotations

import sys

import pytest

from .tiers import needs


@pytest.mark.parametrize(("argv", "mark"), [
    (["/venv/bin/ansible-playbook", "-i", "inv", "pb.yml"], "ansible"),
    (["ansible-inventory", "--list"], "ansible"),
    (["molecule", "test", "-s", "x"], "container"),
    (["podman", "run", "-d", "img"], "container"),
    (["bash", "-c", 'exec "$@"', "chromium", "/usr/bin/chromium", "--headless"], "browser"),
    (["/usr/bin/prometheus-alertmanager", "--storage.path=x"], "daemon"),
    ([sys.executable, "-m", "remediator", "--config", "c.yml", "serve"], "daemon"),
    ([sys.executable, "-m", "tests.fakecli", "--config", "c.yml", "serve"], "daemon"),
    ([sys.executable, "-m", "remediator", "handle", "payload.json"], None),
    (["git", "commit", "-m", "molecule/podman"], None),
])
def test_a_program_needs_its_mark(argv: list[str], mark: str | None) -> None:
    assert needs(argv) == mark
