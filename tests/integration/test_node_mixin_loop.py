"""The node_exporter mixin's real rules, end to end: a real node_exporter reports a real broken
state, a real Prometheus evaluates the mixin's own expressions (vendored, only ``for:`` shortened),
Alertmanager posts to ``remediator serve``, the starter catalog's entry runs its playbook live, the
host is fixed for real and the alert resolves.

- filesystems: two loop-mounted ext4 images on this machine, one filled with a stale cache file
  (space alerts), one with stale session files up to its last inode (inode alerts);
- a systemd unit: a podman container running systemd as init and node_exporter (its systemd
  collector), where a unit is killed into the failed state;
- the clock: the kernel clock marked unsynchronised (what a machine without a time daemon has), read
  by node_exporter's timex collector on this machine; chrony in a container allowed to set the clock
  synchronises it against a time source on loopback (no step: the source is this clock). The
  machine has one clock: this test and the clock molecule scenarios share one xdist group (one
  worker, one at a time), and each puts the unsynchronised state back afterwards.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediator import bootstrap
from remediator.store import StoreLocation, open_store
from tests.conftest import query
from tests.molecule.podenv import CLOCK_GROUP, MOLECULE, REPO, env
from tests.monitoring import Alertmanager, NodeExporter, Prometheus, free_port, wait_for
from tests.nodemixin import COVERED, JOB, write_rules
from tests.serving import Server

# the rules and playbooks under test are the same whatever the store: once, on SQLite
pytestmark = [pytest.mark.ansible, pytest.mark.daemon, pytest.mark.sqlite_only]

SYSTEMD_IMAGE = "localhost/localdebian-systemd:bookworm"  # scripts/setup-systemd-image.sh
STARTER = REPO / "remediator" / "starter" / "remediations.yml"
CLOCK_UNSYNC = MOLECULE / "shared" / "clock_unsync.py"
DAY_S = 86400


class MixinPrometheus(Prometheus):
    """Prometheus scraping as job ``node-exporter`` (what the mixin's expressions select), with
    ``relabel`` as the scrape's metric_relabel_configs (keep only this test's series)."""

    def __init__(self, workdir: Path, *, rules: Path, alertmanager: str,
                 targets: Mapping[str, Mapping[str, str]],
                 relabel: list[dict[str, Any]]) -> None:
        super().__init__(workdir, rules=rules, alertmanager=alertmanager, targets=targets)
        self.relabel = relabel

    def config(self) -> dict[str, Any]:
        """The base config with the mixin's job name and the relabelling."""
        config = super().config()
        (job,) = config["scrape_configs"]
        job["job_name"] = JOB
        job["metric_relabel_configs"] = self.relabel
        return config


class HostExporter(NodeExporter):
    """node_exporter on this machine with only ``collectors`` enabled."""

    def __init__(self, workdir: Path, collectors: tuple[str, ...]) -> None:
        super().__init__(workdir)
        self.collectors = collectors

    def args(self) -> list[str]:
        return ["--collector.disable-defaults",
                *(f"--collector.{name}" for name in self.collectors),
                f"--web.listen-address={self.address}"]


def keep(names: str, **labels: str) -> dict[str, Any]:
    """A metric relabelling that keeps only the series named ``names`` (a regex) whose
    ``labels`` match their regexes."""
    sources = ["__name__", *labels]
    return {"action": "keep", "source_labels": sources,
            "regex": ";".join(f"(?:{r})" for r in [names, *labels.values()])}


@dataclass
class Loop:
    """A running loop: serve, Alertmanager and Prometheus over one project."""

    root: Path
    location: StoreLocation
    server: Server
    alertmanager: Alertmanager
    prometheus: Prometheus

    def records(self) -> list[dict[str, Any]]:
        """Every record in the store, in chain order."""
        store = open_store(self.location)
        try:
            return list(store.records())
        finally:
            store.close()

    def live(self, entry: str) -> list[dict[str, Any]]:
        """The live runs' records of ``entry``."""
        return [r for r in self.records() if r["mode"] == "live"
                and r["remediation"] and r["remediation"]["name"] == entry]

    def active(self, names: set[str]) -> list[dict[str, Any]]:
        """The alerts called one of ``names`` that Alertmanager holds as active."""
        return [a for a in self.alertmanager.alerts(active="true")
                if a["labels"]["alertname"] in names]

    def firing(self, names: set[str]) -> list[dict[str, Any]]:
        """Prometheus's firing ALERTS series of ``names``."""
        return [s for s in self.prometheus.query('ALERTS{alertstate="firing"}')
                if s["metric"]["alertname"] in names]

    def settled(self) -> bool:
        """Every accepted webhook is handled."""
        return query(self.location, "SELECT count(*) FROM intake WHERE result IS NULL") == [(0,)]


def write_project(root: Path, location: StoreLocation, inventory: Mapping[str, Any]) -> None:
    """A project as ``remediator init`` writes it: the starter catalog (at stage oversight: live
    runs), the bundled collection in collections/ with its version pinned in requirements.yml,
    ``inventory``, serve taking Alertmanager's webhook with a bearer token from the environment."""
    name, version = bootstrap.collection_info()
    shutil.copytree(bootstrap.COLLECTION,
                    root / "collections" / "ansible_collections" / name.replace(".", "/"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "ansible.cfg").write_text("[defaults]\ncollections_path = collections\n",
                                      encoding="utf-8")
    (root / "requirements.yml").write_text(yaml.safe_dump(
        {"collections": [{"name": name, "version": f"=={version}"}]}), encoding="utf-8")
    (root / "playbooks").mkdir()
    starter = yaml.safe_load(STARTER.read_text(encoding="utf-8"))
    for entry in starter["remediations"]:
        entry["stage"] = "oversight"
    (root / "remediations.yml").write_text(yaml.safe_dump(starter, sort_keys=False),
                                           encoding="utf-8")
    (root / "inventory.yml").write_text(yaml.safe_dump(dict(inventory)), encoding="utf-8")
    (root / "remediator.yml").write_text(yaml.safe_dump({
        "catalog": "remediations.yml", "inventory": "inventory.yml", "playbooks": "playbooks",
        "store": str(location), "runs": "state/runs",
        "server": {"endpoints": {"alertmanager": {"auth": "bearer",
                                                  "token_env": "REMEDIATOR_AM_TOKEN"}}},
        "notifications": {"channels": {"console": {"type": "log"}}, "default": ["console"]},
    }, sort_keys=False), encoding="utf-8")


def start_loop(stack: ExitStack, tmp_path: Path, location: StoreLocation,
               inventory: Mapping[str, Any], alerts: frozenset[str],
               targets: Mapping[str, Mapping[str, str]],
               relabel: list[dict[str, Any]], ready: str) -> Loop:
    """Start serve, Alertmanager and Prometheus (the mixin's ``alerts``, ``for: 1s``) for a
    project with ``inventory``; return once Prometheus has a sample of ``ready``."""
    root = tmp_path / "project"
    root.mkdir()
    write_project(root, location, inventory)
    token = secrets.token_urlsafe(32)
    server = Server(root / "remediator.yml", {**env(), "REMEDIATOR_AM_TOKEN": token})
    server.start()
    stack.callback(server.close)
    alertmanager = stack.enter_context(Alertmanager(
        tmp_path / "alertmanager", webhook_url=f"{server.url}/webhook/alertmanager",
        http_config={"authorization": {"credentials": token}}))
    rules = write_rules(tmp_path / "node-mixin-rules.yml", alerts, hold="1s")
    prometheus = stack.enter_context(MixinPrometheus(
        tmp_path / "prometheus", rules=rules, alertmanager=alertmanager.address,
        targets=targets, relabel=relabel))
    prometheus.wait_ready(ready, timeout_s=30)
    return Loop(root, location, server, alertmanager, prometheus)


def run(*argv: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a program (podman with the tests' containers.conf); fail with its output."""
    proc = subprocess.run([str(a) for a in argv], env=env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"{argv}: {proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc


def wait_done(loop: Loop, entry: str, names: set[str], timeout_s: float = 120) -> None:
    """Wait until a live run of ``entry`` succeeded and no alert of ``names`` is active in
    Alertmanager or firing in Prometheus; fail at once when a live run did not succeed, naming
    its failed tasks, and with serve's log."""
    deadline = time.monotonic() + timeout_s

    def done() -> bool:
        failed = [r for r in loop.live(entry) if r["outcome"] != "succeeded"]
        if failed or time.monotonic() > deadline:
            pytest.fail(f"no successful live run of {entry} with {sorted(names)} resolved; "
                        f"records {[(r['mode'], r['outcome']) for r in loop.live(entry)]}; "
                        f"failed tasks {[failed_tasks(r) for r in failed]}; "
                        f"serve's log:\n{loop.server.log[-5000:]}", pytrace=False)
        return any(r["outcome"] == "succeeded" for r in loop.live(entry)) and \
            not loop.active(names) and not loop.firing(names)

    wait_for(f"{entry} to fix the host and {sorted(names)} to resolve", done, timeout_s + 5)


def failed_tasks(record: dict[str, Any]) -> list[str]:
    """Each failed task of ``record`` with its message."""
    return [f"{t['name']}: {t.get('msg', '')}" for host in record["hosts"].values()
            for t in host["tasks"] if t["status"] == "failed"]


def outcomes(loop: Loop, entry: str) -> list[str]:
    """The outcomes of ``entry``'s live runs."""
    return [r["outcome"] for r in loop.live(entry)]


def names_of(entry: str) -> set[str]:
    """The mixin alerts the starter catalog's ``entry`` covers."""
    return {alert for alert, name in COVERED.items() if name == entry}


# Filesystems: loop-mounted ext4 images on this machine.


class LoopFilesystem:
    """An ext4 image of ``size_mib`` (``inodes`` inodes, if given) loop-mounted on ``mountpoint``
    with no blocks reserved for root; unmounted on exit."""

    def __init__(self, image: Path, mountpoint: Path, size_mib: int,
                 inodes: int | None = None) -> None:
        self.image, self.mountpoint = image, mountpoint
        run("truncate", "-s", f"{size_mib}M", image)
        run("mkfs.ext4", "-q", "-F", "-m", "0", *(["-N", str(inodes)] if inodes else []), image)
        mountpoint.mkdir(parents=True)
        run("mount", "-o", "loop", image, mountpoint)

    def unmount(self) -> None:
        """Unmount (lazily, if busy) and free the loop device."""
        subprocess.run(["umount", "-d", str(self.mountpoint)], check=False, capture_output=True)
        if os.path.ismount(self.mountpoint):
            subprocess.run(["umount", "-l", "-d", str(self.mountpoint)], check=False)

    def used_pct(self) -> float:
        """Space used, per cent of the size (df's view, no reserved blocks)."""
        st = os.statvfs(self.mountpoint)
        return 100.0 * (1 - st.f_bavail / st.f_blocks)

    def inodes_used_pct(self) -> float:
        """Inodes used, per cent."""
        st = os.statvfs(self.mountpoint)
        return 100.0 * (1 - st.f_favail / st.f_files)


def stale(path: Path, age_s: float) -> None:
    """Make ``path`` look last modified ``age_s`` seconds ago."""
    then = time.time() - age_s
    os.utime(path, (then, then))


def fill_space(fs: LoopFilesystem, folder: str, used_pct: float) -> None:
    """Write one stale (10-day-old) file into ``folder`` until ``used_pct`` of the space is
    used."""
    (fs.mountpoint / folder).mkdir()
    st = os.statvfs(fs.mountpoint)
    want = int(st.f_blocks * st.f_frsize * used_pct / 100) - \
        (st.f_blocks - st.f_bavail) * st.f_frsize
    blob = fs.mountpoint / folder / "render-cache.bin"
    with blob.open("wb") as out:
        out.write(os.urandom(1 << 20) * (want >> 20))
    stale(blob, 10 * DAY_S)


def fill_inodes(fs: LoopFilesystem, folder: str) -> int:
    """Create stale (2-hour-old) session files in ``folder`` until no inode is left; how many."""
    (fs.mountpoint / folder).mkdir()
    count = 0
    while True:
        path = fs.mountpoint / folder / f"sess_{count:05d}"
        try:
            path.write_bytes(b"x")
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
            return count
        stale(path, 7200)
        count += 1


@pytest.fixture
def filesystems(tmp_path: Path) -> Iterator[tuple[LoopFilesystem, LoopFilesystem]]:
    """Two fresh filesystems: ``space`` (32 MiB) and ``inodes`` (8 MiB, 128 inodes)."""
    if os.geteuid() != 0:
        pytest.fail("loop-mounting a filesystem needs root", pytrace=False)
    mounted: list[LoopFilesystem] = []
    try:
        mounted.append(LoopFilesystem(tmp_path / "space.img", tmp_path / "mnt" / "space", 32))
        mounted.append(LoopFilesystem(tmp_path / "inodes.img", tmp_path / "mnt" / "inodes", 8,
                                      inodes=128))
        yield mounted[0], mounted[1]
    finally:
        for fs in mounted:
            fs.unmount()


def test_full_filesystems_fire_the_mixin_alerts_and_the_cleanups_resolve_them(
        tmp_path: Path, store_location: StoreLocation,
        filesystems: tuple[LoopFilesystem, LoopFilesystem]) -> None:
    """Filling a real filesystem with a stale cache file fires the mixin's space alerts, and
    using up another's inodes with stale session files its inode alerts; node-filesystem-space
    and node-filesystem-inodes run live, free both for real, and every alert resolves."""
    space, inodes = filesystems
    inventory = {"all": {"hosts": {"fs-01": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "cleanup_paths": [str(space.mountpoint / "cache")],
        "cleanup_allowed_roots": [str(space.mountpoint)],
        "rotated_log_paths": [], "journal_vacuum": False,
        "inode_cleanup_paths": [str(inodes.mountpoint / "sessions")],
        "inode_allowed_roots": [str(inodes.mountpoint)], "inode_max_age_min": 60}}}}
    mounts = "|".join(re.escape(str(fs.mountpoint)) for fs in filesystems)
    with ExitStack() as stack:
        exporter = stack.enter_context(HostExporter(tmp_path / "node-exporter", ("filesystem",)))
        loop = start_loop(
            stack, tmp_path, store_location, inventory,
            frozenset(names_of("node-filesystem-space") | names_of("node-filesystem-inodes")),
            {exporter.address: {"instance": "fs-01:9100"}},
            [keep("node_filesystem_.+", mountpoint=mounts)],
            f'node_filesystem_files_free{{mountpoint="{inodes.mountpoint}"}}')
        # the mixin's predict_linear needs a few samples of the healthy filesystems first
        time.sleep(3)
        fill_space(space, "cache", 98)
        files = fill_inodes(inodes, "sessions")
        assert space.used_pct() > 97 and inodes.inodes_used_pct() == 100 and files > 100

        for entry in ("node-filesystem-space", "node-filesystem-inodes"):
            wait_done(loop, entry, names_of(entry))
        wait_for("every webhook handled", loop.settled, 30)
        assert loop.server.stop() == 0

    fired = {r["alert"]["name"] for r in loop.records()}
    assert {"NodeFilesystemAlmostOutOfSpace", "NodeFilesystemAlmostOutOfFiles"} <= fired, fired
    assert space.used_pct() < 15 and not any((space.mountpoint / "cache").iterdir())
    assert inodes.inodes_used_pct() < 40 and not any((inodes.mountpoint / "sessions").iterdir())
    for entry in ("node-filesystem-space", "node-filesystem-inodes"):  # no run failed
        assert set(outcomes(loop, entry)) == {"succeeded"}, (entry, outcomes(loop, entry))
        (fix, *_) = loop.live(entry)
        assert fix["alert"]["hosts"] == ["fs-01"]
        variable = "disk_mountpoint" if entry.endswith("space") else "inode_mountpoint"
        mount = space if entry.endswith("space") else inodes
        assert fix["decision"]["variables"] == {variable: str(mount.mountpoint)}


# A systemd unit: a podman container running systemd as init, with node_exporter inside.


@dataclass
class Container:
    """A podman container from the systemd image, reached as an Ansible host."""

    name: str
    metrics_port: int  # node_exporter inside, published on 127.0.0.1

    def ansible(self, inventory: Path, playbook: Path) -> None:
        """Run ``playbook`` (a molecule prepare or verify) against the container."""
        run(Path(sys.executable).parent / "ansible-playbook", "-i", inventory, playbook,
            timeout=300)


def systemd_container(stack: ExitStack, *options: str) -> Container:
    """Start a container from the systemd image (removed on exit), systemd booted."""
    name = f"remediator-mixin-{uuid.uuid4().hex[:8]}"
    port = free_port()
    run("podman", "run", "-d", "--name", name, "--systemd=always",
        "-p", f"127.0.0.1:{port}:9100", *options, SYSTEMD_IMAGE, "/sbin/init")
    stack.callback(subprocess.run, ["podman", "rm", "-f", "-t", "0", name], env=env(),
                   capture_output=True, check=False)
    return Container(name, port)


def podman_host(container: Container, **host_vars: Any) -> dict[str, Any]:
    """Inventory host variables reaching ``container`` with containers.podman."""
    return {"ansible_connection": "containers.podman.podman", "ansible_host": container.name,
            "ansible_python_interpreter": "/usr/bin/python3", **host_vars}


def write_inventory(path: Path, hosts: Mapping[str, Mapping[str, Any]]) -> Path:
    """An inventory file with ``hosts``."""
    path.write_text(yaml.safe_dump({"all": {"hosts": dict(hosts)}}), encoding="utf-8")
    return path


@pytest.mark.container
def test_a_failed_systemd_unit_fires_the_mixin_alert_and_the_restart_resolves_it(
        tmp_path: Path, store_location: StoreLocation) -> None:
    """A unit killed into the failed state, seen by node_exporter's systemd collector, fires
    NodeSystemdServiceFailed with its name; node-systemd-unit-restart restarts it live (it is
    allow-listed in the inventory), the unit serves again and the alert resolves."""
    names = names_of("node-systemd-unit-restart")
    with ExitStack() as stack:
        container = systemd_container(stack)
        host = podman_host(container, restartable_units=["demo-app.service"], unit_stable_s=2)
        inventory = write_inventory(tmp_path / "inventory.yml", {"unit-01": host})
        container.ansible(inventory, MOLECULE / "systemd_unit_restart" / "prepare.yml")
        loop = start_loop(
            stack, tmp_path, store_location, {"all": {"hosts": {"unit-01": host}}},
            frozenset(names), {f"127.0.0.1:{container.metrics_port}": {"instance": "unit-01:9100"}},
            [keep("node_systemd_unit_state", name="demo-app\\.service")],
            'node_systemd_unit_state{name="demo-app.service",state="failed"} == 1')
        wait_done(loop, "node-systemd-unit-restart", names)
        wait_for("every webhook handled", loop.settled, 30)
        assert loop.server.stop() == 0
        container.ansible(inventory, MOLECULE / "systemd_unit_restart" / "verify.yml")

    (fix,) = loop.live("node-systemd-unit-restart")
    assert fix["alert"]["labels"]["name"] == "demo-app.service"
    assert fix["decision"]["variables"] == {"systemd_unit": "demo-app.service"}
    assert fix["outcome"] == "succeeded"


# The clock: the machine's one kernel clock.


def unsync_clock() -> None:
    """Mark this machine's kernel clock unsynchronised again (no time daemon's state)."""
    run(sys.executable, CLOCK_UNSYNC)


@pytest.mark.container
@pytest.mark.xdist_group(CLOCK_GROUP)
def test_an_unsynchronised_clock_fires_the_mixin_alert_and_chrony_resolves_it(
        tmp_path: Path, store_location: StoreLocation) -> None:
    """The kernel clock marked unsynchronised (as without a time daemon) fires the mixin's
    NodeClockNotSynchronising from node_exporter's timex collector; node-clock-resync starts
    chrony (it has a time source on loopback), the kernel says synchronised, the alert resolves."""
    names = names_of("node-clock-resync")
    with ExitStack() as stack:
        stack.callback(unsync_clock)
        container = systemd_container(stack, "--cap-add=SYS_TIME")
        host = podman_host(container, clock_sync_wait_s=30)
        inventory = write_inventory(tmp_path / "inventory.yml", {"clock-01": host})
        container.ansible(inventory, MOLECULE / "clock_resync" / "prepare.yml")  # unsyncs too
        exporter = stack.enter_context(HostExporter(tmp_path / "node-exporter", ("timex",)))
        loop = start_loop(
            stack, tmp_path, store_location, {"all": {"hosts": {"clock-01": host}}},
            frozenset(names), {exporter.address: {"instance": "clock-01:9100"}},
            [keep("node_timex_.+")], "node_timex_sync_status == 0")
        wait_done(loop, "node-clock-resync", names)
        assert loop.prometheus.query("node_timex_sync_status == 1")
        wait_for("every webhook handled", loop.settled, 30)
        assert loop.server.stop() == 0

    (fix, *_) = loop.live("node-clock-resync")
    assert fix["alert"]["name"] == "NodeClockNotSynchronising"
    assert fix["alert"]["hosts"] == ["clock-01"]
    assert set(outcomes(loop, "node-clock-resync")) == {"succeeded"}
