"""The node mixin's clock alerts judged by Prometheus's own rule engine (promtool, from the
Prometheus package) on recorded timex series: the half of the clock story that cannot be made true
for real on a shared machine (a clock off by more than 50 ms; see test_node_mixin_loop.py for the
unsynchronised clock, made true for real)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.monitoring import DATA, binary
from tests.nodemixin import COVERED, write_rules

pytestmark = pytest.mark.daemon  # promtool comes with the prometheus package (setup-monitoring.sh)

CLOCK_TESTS = DATA / "node-mixin" / "clock-tests.yml"


def promtool(*args: str | Path) -> str:
    """Run promtool; its output, asserting it succeeded."""
    proc = subprocess.run([binary("promtool"), *map(str, args)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_the_covered_rules_are_valid_prometheus_rules(tmp_path: Path) -> None:
    """The rule file the tests derive from the vendored mixin passes `promtool check rules`."""
    rules = write_rules(tmp_path / "rules.yml")
    assert f"SUCCESS: {len(set(COVERED)) + 4} rules found" in promtool("check", "rules", rules)


def test_the_clock_alerts_fire_and_resolve_on_recorded_timex_series(tmp_path: Path) -> None:
    """NodeClockNotSynchronising fires when the kernel says unsynchronised with a 16 s maximum
    error and resolves once synchronised; NodeClockSkewDetected fires for a clock drifting
    50 ms ahead or behind and resolves at offset 0 (clock-tests.yml, ``for:`` 1m)."""
    shutil.copy(CLOCK_TESTS, tmp_path / CLOCK_TESTS.name)
    write_rules(tmp_path / "rules.yml", hold="1m")
    assert "SUCCESS" in promtool("test", "rules", tmp_path / CLOCK_TESTS.name)
