"""Test tiers: what a test needs is in its marks, and a test that needs more than its marks say
fails, so the quick tier (``-m quick``) never hides a slow test.

Marks (registered in pyproject.toml, documented in docs/development.md, "Tests"):

- ``ansible``: runs a real ``ansible-*`` program (ansible-playbook through ansible-runner,
  ansible-inventory, ansible-lint, ...);
- ``daemon``: starts a server process (``remediator serve``, Prometheus, Alertmanager,
  node_exporter) or uses the PostgreSQL server (added by the backend parameter and the
  ``pg_url``/``pg_admin`` fixtures);
- ``container``: runs podman or molecule;
- ``browser``: runs headless Chromium;
- ``quick``: added here to every test with none of the four above.

How it is checked: an audit hook (``sys.addaudithook``) sees every program this process starts,
or a child forked from it execs (ansible-runner's ansible-playbook), and after a test's setup and
call a program its marks do not allow fails the test, naming the mark to add. A program started
by a grandchild (a ``remediator handle`` subprocess running ansible-playbook) is not seen: mark
such tests by hand.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

NEEDS = ("ansible", "daemon", "container", "browser")
PROGRAMS = {  # a program -> the mark a test that runs it needs
    "molecule": "container", "podman": "container", "chromium": "browser",
    "prometheus": "daemon", "prometheus-alertmanager": "daemon",
    "prometheus-node-exporter": "daemon",
}
WRAPPERS = frozenset({"bash", "sh", "env", "nice", "timeout"})  # programs that start another
EVENTS = frozenset({"subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn"})
_state: dict[str, Any] = {"seen": None, "report": None}


def needs(argv: list[str]) -> str | None:
    """The mark a test needs to start ``argv``, or None."""
    names = [os.path.basename(arg) for arg in argv]
    # the program, or any a wrapper starts: bash -c 'exec "$@"' chromium /usr/bin/chromium ...
    for name in names if names[:1] and names[0] in WRAPPERS else names[:1]:
        if name.startswith("ansible"):
            return "ansible"
        if name in PROGRAMS:
            return PROGRAMS[name]
    if "-m" in argv and "serve" in argv:  # remediator serve (or tests.fakecli serve)
        return "daemon"
    return None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Note what a watched program needs (in a forked child: into the probe file)."""
    if event not in EVENTS or _state["seen"] is None:
        return
    argv = args[1] if event != "os.spawn" else args[2]
    argv = [os.fsdecode(a) for a in argv] if isinstance(argv, (list, tuple)) else [
        os.fsdecode(argv)]
    mark = needs(argv)
    if mark is None:
        return
    if os.getpid() == _state["pid"]:
        _state["seen"].add(f"{mark} {os.path.basename(argv[0])}")
    else:  # a forked child about to exec: tell the parent through the probe file
        with open(_state["probe"], "a", encoding="utf-8") as out:
            out.write(f"{mark} {os.path.basename(argv[0])}\n")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--tiers-report", metavar="FILE",
                     help="append, for each test run, its id and the marks it needed "
                          "(tab-separated) to FILE: to see which tests could be quick")


def pytest_configure(config: pytest.Config) -> None:
    _state["report"] = config.getoption("--tiers-report")
    _state["probe"] = os.path.join(tempfile.mkdtemp(prefix="remediator-tiers-"), "probe")
    sys.addaudithook(_audit)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.path.dirname(_state["probe"]), ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the quick tests; put the slow kinds first, so that on several workers (xdist) the
    longest tests start early instead of making the others wait at the end. The container
    tests, which mostly wait on podman, are spread evenly among the other slow ones: a few at a
    time overlap with the tests that need the CPU; all at once they slow each other down."""
    for item in items:
        if not any(item.get_closest_marker(mark) for mark in NEEDS):
            item.add_marker(pytest.mark.quick)
    items.sort(key=_weight)
    containers = [item for item in items if _weight(item) == 0]
    rest = items[len(containers):]
    step = max(1, sum(_weight(item) < 4 for item in rest) // max(1, len(containers)))
    spread: list[pytest.Item] = []
    for n, item in enumerate(rest):
        if containers and n % step == 0:
            spread.append(containers.pop(0))
        spread.append(item)
    items[:] = spread + containers


def _weight(item: pytest.Item) -> int:
    """0 for the slowest kind of test (containers) up to 4 for a quick one."""
    has = {mark for mark in NEEDS if item.get_closest_marker(mark)}
    return next((n for n, kind in enumerate(("container", "browser", "daemon", "ansible"))
                 if kind in has), 4)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    Path(_state["probe"]).write_bytes(b"")
    _state["pid"] = os.getpid()
    _state["seen"] = set()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        result = yield
    finally:
        seen = _take_probe()
        if _state["report"]:
            with open(_state["report"], "a", encoding="utf-8") as out:
                out.write(f"{item.nodeid}\t{' '.join(sorted(seen))}\n")
    missing = {m: p for m, p in seen.items() if item.get_closest_marker(m) is None}
    if missing:
        said = "; ".join(f"it ran {', '.join(sorted(p))}: mark it `{m}`"
                         for m, p in sorted(missing.items()))
        pytest.fail(f"this test needs more than its marks say ({said}); see tests/tiers.py",
                    pytrace=False)
    return result


def _take_probe() -> dict[str, set[str]]:
    """What the test ran, by mark; stops noting."""
    lines, _state["seen"] = _state["seen"] or set(), None
    lines |= set(Path(_state["probe"]).read_text(encoding="utf-8").splitlines())
    seen: dict[str, set[str]] = {}
    for line in lines:
        mark, _, program = line.partition(" ")
        seen.setdefault(mark, set()).add(program)
    return seen
