"""Run ``molecule test -s NAME`` for every scenario under molecule/: the playbooks on real containers."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from .podenv import CLOCK_GROUP, MOLECULE, REPO, SETUP_HINT, env, missing, scenarios

SCENARIO_TIMEOUT_S = 900


def test_every_playbook_has_a_scenario_that_checks_then_fixes() -> None:
    """Each playbook in playbooks/ has a scenario NAME that first runs it with `check`
    (ansible-playbook --check) and verifies, as its side effect, that nothing changed
    (verify_check.yml), and only then converges live, twice (idempotence), and verifies."""
    playbooks = sorted(p.stem for p in (REPO / "playbooks").glob("*.yml"))
    assert playbooks
    assert [p for p in playbooks if p not in set(scenarios())] == []
    for name in playbooks:
        config = yaml.safe_load((MOLECULE / name / "molecule.yml").read_text(encoding="utf-8"))
        sequence = config["scenario"]["test_sequence"]
        steps = ["prepare", "check", "side_effect", "converge", "idempotence", "verify"]
        assert [s for s in sequence if s in steps] == steps, name
        side_effect = config["provisioner"]["playbooks"]["side_effect"]
        assert (MOLECULE / name / side_effect).is_file(), name


@pytest.mark.ansible
@pytest.mark.container
@pytest.mark.parametrize("name", [
    # the clock scenarios set the kernel clock's synchronisation state, which the machine has
    # once: they run one after another on one worker (with the clock loop test)
    pytest.param(s, marks=pytest.mark.xdist_group(CLOCK_GROUP)) if s.startswith("clock_")
    else s
    for s in scenarios()])
def test_scenario(name: str) -> None:
    """The scenario's whole test sequence passes (create, prepare, converge or check, verify, destroy)."""
    gaps = missing()
    assert not gaps, f"missing {', '.join(gaps)}: {SETUP_HINT}"
    proc = subprocess.run(
        ["molecule", "test", "-s", name],
        cwd=REPO, env=env(), capture_output=True, text=True,
        timeout=SCENARIO_TIMEOUT_S, check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"molecule test -s {name} failed (rc {proc.returncode}):\n{output[-20000:]}"
