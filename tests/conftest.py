"""Shared fixtures: a throw-away project (catalog, playbooks, inventory, sandbox) and its CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from hypothesis import settings

from remediator.common import utc_now
from remediator.config import load
from remediator.demo import make_sandbox
from remediator.engine import Engine, open_engine
from remediator.models import Outcome
from remediator.store import AuditStore, StoreLocation, open_store
from remediator.testing import RecordingExecutor, invoke

pytest_plugins = ("tests.tiers",)

# Property and fuzz tests: the same examples on every run (derandomize: a failure is found again
# by whoever runs the suite next), no example database, each example under a deadline far above
# its usual milliseconds (a hang or a super-linear path fails), the count set per test.
# REMEDIATOR_HYPOTHESIS=explore searches wider: new examples each run, and the fuzz tests'
# counts a hundred times over (tests/fuzzing.py: examples).
settings.register_profile("suite", derandomize=True, database=None, print_blob=True,
                          deadline=timedelta(seconds=5))
settings.register_profile("explore", settings.get_profile("suite"), derandomize=False)
settings.load_profile(os.environ.get("REMEDIATOR_HYPOTHESIS", "suite"))

BACKENDS = ("sqlite", "postgresql")
PG_ENV = "REMEDIATOR_TEST_PG"  # an admin URL; else scripts/setup-postgres.sh starts a server

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
PAYLOADS = DATA / "payloads"

# ansible-runner needs ansible-playbook on PATH: the venv's bin folder.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

# Inventory listings (ansible-inventory, about a second each) are cached by content: every
# test project shares one cache, filled for the standard project before the first test
# (pytest_sessionstart), so that only tests about inventories list one.
INVENTORY_CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / f"remediator-tests-{os.getuid()}" / \
    "inventory-cache"


def project_inventory(sandbox_dir: str = "{{ inventory_dir }}/../sandbox/demo-web-01"
                      ) -> dict[str, Any]:
    """The test project's inventory: the same bytes in every test (the sandbox is found
    from ``inventory_dir``), so its listing is listed once per session."""
    return {"all": {"children": {"web": {"hosts": {
        "demo-web-01": {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "disk_root_prefix": sandbox_dir,
            "disk_capacity_bytes": 6291456,
            "cleanup_paths": ["/var/cache/app"],
        },
        "demo-web-02": {
            "ansible_connection": "local",
            "ansible_host": "10.99.0.2",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        },
    }}}}}


_SHARED_INVENTORIES: list[Any] = [project_inventory()]


def shared_inventory(data: Any) -> Any:
    """Register an inventory a module's tests write with ``write_inventory`` (call at import):
    it is listed into the shared cache once, before the first test."""
    _SHARED_INVENTORIES.append(data)
    return data


def write_inventory(root: Path, data: Any) -> Path:
    """``root/inventory.yml`` holding ``data``, byte for byte as the cache listed it."""
    path = root / "inventory.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def pytest_collection_finish(session: pytest.Session) -> None:
    """List the shared inventories into the cache, outside any test (a test that lists one
    needs the ``ansible`` mark; these are what most tests' projects hold)."""
    import tempfile

    from remediator.ansible_project import setup
    from remediator.inventory import load as load_inventory

    if not session.items:
        return
    unique = {yaml.safe_dump(data): data for data in _SHARED_INVENTORIES}
    with tempfile.TemporaryDirectory() as scratch:
        for index, data in enumerate(unique.values()):
            root = Path(scratch) / str(index)
            (root / "playbooks").mkdir(parents=True)
            load_inventory([write_inventory(root, data)], setup(root, None, os.environ),
                           playbook_dir=root / "playbooks", cache_dir=INVENTORY_CACHE)


def disk_entry(stage: str = "observe", **extra: Any) -> dict[str, Any]:
    """The catalog entry for the bundled disk-space playbook, at ``stage``."""
    entry: dict[str, Any] = {
        "name": "disk-space-cleanup",
        "match": {"alertname": "DiskSpaceLow"},
        "playbook": "disk_space_cleanup.yml",
        "stage": stage,
        "vars": {"disk_mountpoint": "labels.mountpoint"},
        "static_vars": {"disk_threshold_pct": 80},
        "timeout": 300,
    }
    entry.update(extra)
    return entry


def alertmanager_payload(alerts: list[Mapping[str, Any]]) -> dict[str, Any]:
    """An Alertmanager v4 webhook payload around ``alerts`` (each: labels, annotations, status)."""
    return {
        "version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "remediator",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093", "truncatedAlerts": 0,
        "alerts": [{
            "status": a.get("status", "firing"),
            "labels": dict(a["labels"]),
            "annotations": dict(a.get("annotations", {})),
            "startsAt": a.get("startsAt", "2026-11-26T09:00:00Z"),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": a.get("fingerprint", f"fp{i:04d}"),
        } for i, a in enumerate(alerts)],
    }


def disk_alert(host: str = "demo-web-01", status: str = "firing", **labels: str) -> dict[str, Any]:
    """One DiskSpaceLow alert for ``host``."""
    return {"status": status, "labels": {"alertname": "DiskSpaceLow", "instance": f"{host}:9100",
                                         "mountpoint": "/", "severity": "warning", **labels},
            "annotations": {"summary": f"Disk space low on {host}"}}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--store", choices=(*BACKENDS, "all"),
                     default=os.environ.get("REMEDIATOR_TEST_STORE", "sqlite"),
                     help="the audit store of the tests that touch one (the `store` mark): "
                          "sqlite (default), postgresql, or all (each such test on both; what "
                          "scripts/test.sh runs). postgresql needs a server: "
                          "scripts/setup-postgres.sh")


def store_backends(config: pytest.Config) -> tuple[str, ...]:
    """The backends ``--store`` selects."""
    chosen = str(config.getoption("--store"))
    return BACKENDS if chosen == "all" else (chosen,)


def pytest_report_header(config: pytest.Config) -> str:
    return f"remediator store backends: {', '.join(store_backends(config))}"


BACKEND_MARKS = {"sqlite": [pytest.mark.store],
                 "postgresql": [pytest.mark.store, pytest.mark.daemon, pytest.mark.postgresql]}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that uses the ``backend`` fixture (through ``store_location`` or ``project``)
    runs once per backend (``--store`` deselects the others), except one that runs a real
    ansible-playbook: that one is about the runner or a playbook, so SQLite is enough (every
    store behaviour is tested on both backends with a RecordingExecutor)."""
    if "backend" in metafunc.fixturenames:
        runs_ansible = metafunc.definition.get_closest_marker("ansible") is not None
        metafunc.parametrize("backend", [pytest.param(b, marks=BACKEND_MARKS[b], id=b)
                                         for b in BACKENDS[:1 if runs_ansible else None]])


@pytest.hookimpl(tryfirst=True)  # before tests/tiers.py reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that use the PostgreSQL server directly; keep the selected backends."""
    chosen = store_backends(config)
    keep, drop = [], []
    for item in items:
        if {"pg_url", "pg_admin"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgresql)
            item.add_marker(pytest.mark.daemon)
        spec = getattr(item, "callspec", None)
        backend = spec.params.get("backend") if spec is not None else None
        unwanted = ("postgresql" not in chosen and item.get_closest_marker("postgresql")) or (
            backend is not None and (backend not in chosen or (
                backend != "sqlite" and (item.get_closest_marker("sqlite_only") or
                                         item.get_closest_marker("any_store")))))
        (drop if unwanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def admin_url() -> str:
    """An admin URL of a PostgreSQL server on loopback (its `postgres` database)."""
    url = os.environ.get(PG_ENV)
    if not url:
        done = subprocess.run(["bash", str(REPO / "scripts" / "setup-postgres.sh")],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"no PostgreSQL for the tests: {done.stderr}"
        url = done.stdout.strip()
        os.environ[PG_ENV] = url
    return url


@pytest.fixture(scope="session")
def pg_admin() -> str:
    """An admin URL of a PostgreSQL server on loopback."""
    return admin_url()


def database_url(admin: str, name: str) -> str:
    """``admin`` pointed at database ``name``."""
    return admin.rsplit("/", 1)[0] + "/" + name


_EMPTIED: list[str] = []  # databases of this process, emptied after their test, to reuse


@contextmanager
def fresh_database() -> Iterator[str]:
    """An empty PostgreSQL database; afterwards its pools, sessions and locks are gone and it
    is emptied (its public schema made anew) for the next test of this process, cheaper than
    a CREATE DATABASE (0.25 s here, with fsync); dropped at the end of the session."""
    import psycopg

    from remediator.store.postgres import close_pools
    from remediator.store.postgres_intake import release_liveness

    admin = admin_url()
    if _EMPTIED:
        name = _EMPTIED.pop()
    else:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    url = database_url(admin, name)
    try:
        yield url
    finally:
        close_pools(url)
        release_liveness(url)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        _EMPTIED.append(name)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop the databases this process kept for reuse."""
    if not _EMPTIED:
        return
    import psycopg

    with psycopg.connect(admin_url(), autocommit=True) as conn:
        while _EMPTIED:
            conn.execute(f"DROP DATABASE IF EXISTS {_EMPTIED.pop()} WITH (FORCE)")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (whatever ``--store`` says)."""
    with fresh_database() as url:
        yield url


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The store backend of this test (a parameter: see ``pytest_generate_tests``)."""
    return str(request.param)


def query(location: StoreLocation, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
    """Rows of a read-only ``?``-placeholder query on the store at ``location``, either kind."""
    if isinstance(location, str):
        import psycopg

        with psycopg.connect(location) as conn:
            return list(conn.execute(sql.replace("?", "%s"), args).fetchall())
    import sqlite3

    db = sqlite3.connect(location)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


@dataclass
class Project:
    """A project folder laid out like a user's: config, catalog, playbooks, inventory."""

    root: Path
    sandbox: Path
    location: StoreLocation  # the SQLite file, or a postgresql:// URL with --store postgresql
    executor: RecordingExecutor | None = None  # set: the CLI runs no playbook, it records plans

    @property
    def config(self) -> Path:
        return self.root / "remediator.yml"

    @property
    def store_path(self) -> Path:
        return self.root / "state" / "audit.db"

    @property
    def runs(self) -> Path:
        return self.root / "state" / "runs"

    def configure(self, extra: Mapping[str, Any]) -> None:
        """Add settings (e.g. notifications) to the project's config file."""
        text = self.config.read_text(encoding="utf-8") + yaml.safe_dump(dict(extra))
        self.config.write_text(text, encoding="utf-8")

    def write_catalog(self, *entries: Mapping[str, Any]) -> None:
        """Replace the catalog with ``entries``."""
        text = yaml.safe_dump({"version": 1, "remediations": list(entries)}, sort_keys=False)
        (self.root / "remediations.yml").write_text(text, encoding="utf-8")

    def cli(self, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None
            ) -> Result:
        """Run the real CLI in-process with this project's config (and executor, if set)."""
        return invoke(["--config", str(self.config), *args], executor=self.executor,
                      stdin=stdin, env={"REMEDIATOR_MAX_STAGE": None, **(env or {})})

    def fake_runs(self, **outcomes: Outcome) -> RecordingExecutor:
        """Run no playbook from now on: the CLI records plans and reports these outcomes per
        host (default: every host changed one task and succeeded). Returns the executor."""
        self.executor = RecordingExecutor(clock=utc_now, outcomes=dict(outcomes))
        return self.executor

    def engine(self, **kwargs: Any) -> Engine:
        """An engine over the project's config, with the project's executor (if set)."""
        return open_engine(load(self.config), executor=self.executor, **kwargs)

    def handle(self, payload: Mapping[str, Any] | list[Any], *args: str) -> list[dict[str, Any]]:
        """Feed ``payload`` to ``handle --json`` and return the records (asserting exit 0)."""
        result = self.cli("handle", "--json", *args, "-", stdin=json.dumps(payload))
        assert result.exit_code == 0, result.output
        return list(json.loads(result.stdout))

    def store(self) -> AuditStore:
        return open_store(self.location)

    def use_store(self, location: StoreLocation) -> None:
        """Point the project's config at another store (a file path or a URL)."""
        text = self.config.read_text(encoding="utf-8")
        lines = [f"store: {location}" if line.startswith("store:") else line
                 for line in text.splitlines()]
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.location = location

    def has_store(self) -> bool:
        """True once anything created the store (a file; for a server, any table)."""
        if isinstance(self.location, Path):
            return self.location.exists()
        return bool(query(self.location, "SELECT 1 FROM pg_tables WHERE tablename = 'records'"))

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of a read-only query on the project's store (``?`` placeholders)."""
        return query(self.location, sql, args)

    def snapshot(self) -> dict[str, tuple[int, float]]:
        """Every file under the sandbox with its size and mtime."""
        return {str(p.relative_to(self.sandbox)): (p.stat().st_size, p.stat().st_mtime)
                for p in sorted(self.sandbox.rglob("*")) if p.is_file()}


@pytest.fixture
def store_location(backend: str, tmp_path: Path) -> Iterator[StoreLocation]:
    """Where a test's store lives on its backend: a SQLite file, or a fresh database."""
    if backend == "postgresql":
        with fresh_database() as url:
            yield url
    else:
        yield tmp_path / "project" / "state" / "audit.db"


def copy_fix(name: str, playbooks: Path) -> None:
    """Copy a bundled playbook into ``playbooks`` with what it imports: the collection
    remediator.fixes, linked beside it (``playbooks/collections``) as in this repository."""
    playbooks.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "playbooks" / name, playbooks)
    link = playbooks / "collections" / "ansible_collections" / "remediator" / "fixes"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO / "remediator" / "collection")


@pytest.fixture
def project(tmp_path: Path, store_location: StoreLocation) -> Iterator[Project]:
    """A fresh project with the bundled disk playbook, the test playbooks and a sandbox host."""
    root = tmp_path / "project"
    copy_fix("disk_space_cleanup.yml", root / "playbooks")
    for playbook in (DATA / "playbooks").glob("*.yml"):
        shutil.copy(playbook, root / "playbooks")
    sandbox = tmp_path / "sandbox" / "demo-web-01"
    make_sandbox(sandbox)
    (tmp_path / "out").mkdir()
    write_inventory(root, project_inventory())
    store = "state/audit.db" if isinstance(store_location, Path) else store_location
    (root / "remediator.yml").write_text(
        "catalog: remediations.yml\ninventory: inventory.yml\nplaybooks: playbooks\n"
        f"store: {store}\nruns: state/runs\ncache: {INVENTORY_CACHE}\n", encoding="utf-8")
    project = Project(root=root, sandbox=sandbox, location=store_location)
    project.write_catalog(disk_entry())
    yield project


@pytest.fixture
def sink() -> Iterator[Any]:
    """A real HTTP receiver on loopback recording every request."""
    from .httpsink import serve

    yield from serve()
