"""Run the real disk_space_cleanup playbook against a sandbox made by remediator.demo."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from remediator.demo import make_sandbox

pytestmark = pytest.mark.ansible

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "disk_space_cleanup.yml"
HOST = "sandbox-host"
CAPACITY = 6 * 1024 * 1024  # the demo sandbox fills this to about 86%
STALE_BEFORE = time.time() - 7 * 86400

Listing = dict[str, tuple[str, int, int]]

# ansible-core 2.19 no longer ships a `json` stdout callback (it moved to ansible.posix, which is not
# installed), so the tests bring a tiny one: one JSON document with every task's result per host + stats.
JSON_CALLBACK = """
import json
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "test_json"

    def __init__(self):
        super().__init__()
        self.tasks = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.tasks.append({"task": {"name": task.get_name()}, "hosts": {}})

    def _record(self, result, **flags):
        self.tasks[-1]["hosts"][result.host.get_name()] = dict(result.result, **flags)

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        summary = {h: stats.summarize(h) for h in sorted(stats.processed)}
        print(json.dumps({"plays": [{"tasks": self.tasks}], "stats": summary}, default=str))
"""


def listing(root: Path) -> Listing:
    """Return every entry under root as relative path -> (kind, size, mtime_ns)."""
    out: Listing = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
        out[str(path.relative_to(root))] = (
            kind,
            st.st_size if kind == "file" else 0,
            st.st_mtime_ns,
        )
    return out


def stale_files(root: Path) -> set[str]:
    """Return the relative paths of the regular files under root/var/cache older than a week."""
    return {
        str(p.relative_to(root))
        for p in (root / "var" / "cache").rglob("*")
        if p.is_file() and not p.is_symlink() and p.stat().st_mtime < STALE_BEFORE
    }


class Host:
    """A sandbox, an inventory pointing at it, and a way to run the playbook on it."""

    def __init__(self, tmp_path: Path) -> None:
        """Make the sandbox and write an inventory with the demo's host variables."""
        self.tmp = tmp_path
        self.root = tmp_path / "sandbox"
        make_sandbox(self.root)
        self.inventory = tmp_path / "hosts.json"
        host_vars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "disk_root_prefix": str(self.root),
            "disk_capacity_bytes": CAPACITY,
            "cleanup_paths": ["/var/cache/app"],
        }
        self.inventory.write_text(
            json.dumps({"all": {"hosts": {HOST: host_vars}}}), encoding="utf-8"
        )

    def run(self, *args: str, **extra_vars: Any) -> tuple[int, dict[str, Any]]:
        """Run ansible-playbook with the json callback and return (rc, parsed output)."""
        varsfile = self.tmp / "vars.json"
        varsfile.write_text(json.dumps(extra_vars), encoding="utf-8")
        plugins = self.tmp / "callback_plugins"
        plugins.mkdir(exist_ok=True)
        (plugins / "test_json.py").write_text(JSON_CALLBACK, encoding="utf-8")
        env = dict(os.environ)
        env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            ANSIBLE_CALLBACK_PLUGINS=str(plugins),
            ANSIBLE_STDOUT_CALLBACK="test_json",
            ANSIBLE_LOCAL_TEMP=str(self.tmp / "ansible-local"),
            ANSIBLE_REMOTE_TEMP=str(self.tmp / "ansible-remote"),
            ANSIBLE_NOCOLOR="1",
        )
        proc = subprocess.run(
            [
                "ansible-playbook",
                "-i",
                str(self.inventory),
                "-e",
                f"@{varsfile}",
                *args,
                str(PLAYBOOK),
            ],
            cwd=PLAYBOOK.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert proc.stdout.lstrip().startswith("{"), proc.stdout + proc.stderr
        return proc.returncode, json.loads(proc.stdout)


def task(out: dict[str, Any], name: str) -> dict[str, Any]:
    """Return this host's result of the task called name (empty if it did not run)."""
    for play in out["plays"]:
        for t in play["tasks"]:
            if t["task"]["name"].rpartition(" : ")[2] == name:  # "ROLE : NAME" in a role
                result: dict[str, Any] = t["hosts"].get(HOST, {})
                return result
    return {}


def messages(out: dict[str, Any]) -> str:
    """Return every msg of every task and loop item, one per line."""
    lines = []
    for play in out["plays"]:
        for t in play["tasks"]:
            res = t["hosts"].get(HOST, {})
            for r in [res, *res.get("results", [])]:
                if isinstance(r, dict) and r.get("msg"):
                    lines.append(str(r["msg"]))
    return "\n".join(lines)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    """Give each test a fresh sandbox host."""
    return Host(tmp_path)


def test_check_mode_changes_nothing_and_diff_names_the_stale_files(host: Host) -> None:
    """Under --check --diff nothing on disk changes and the diff lists exactly the stale files."""
    before = listing(host.root)
    stale = stale_files(host.root)
    rc, out = host.run("--check", "--diff")
    assert rc == 0, messages(out)
    assert listing(host.root) == before
    removal = task(out, "Remove the stale files")["results"]
    diffed = {
        r["diff"]["before"]["path"]
        for r in removal
        if r["changed"] and r["diff"]["after"]["state"] == "absent"
    }
    assert diffed == {str((host.root / rel).resolve()) for rel in stale}
    assert "would free 4194304 bytes in 8 stale files" in task(out, "Report what was freed")["msg"]


def test_live_run_removes_exactly_the_stale_files(host: Host) -> None:
    """A live run removes the stale cache files and keeps the fresh ones and the non-cache data."""
    before = listing(host.root)
    stale = stale_files(host.root)
    rc, out = host.run()
    assert rc == 0, messages(out)
    after = listing(host.root)
    removed = {p for p, v in before.items() if v[0] == "file" and p not in after}
    assert removed == stale
    kept = (
        "var/cache/app/fresh-0001.bin",
        "var/cache/app/thumbs/fresh-0002.bin",
        "var/lib/app/data.bin",
    )
    assert all(after[rel] == before[rel] for rel in kept)
    assert out["stats"][HOST]["changed"] == 1
    assert "freed 4194304 bytes in 8 stale files" in task(out, "Report what was freed")["msg"]


def test_second_live_run_changes_nothing(host: Host) -> None:
    """After a live run, a second live run succeeds with changed=0 because usage is below the threshold."""
    assert host.run()[0] == 0
    before = listing(host.root)
    rc, out = host.run()
    assert rc == 0, messages(out)
    assert out["stats"][HOST]["changed"] == 0
    assert "nothing to do" in messages(out)
    assert listing(host.root) == before


def test_usage_below_threshold_does_nothing(host: Host) -> None:
    """When usage is not above the threshold the play ends cleanly and removes nothing."""
    before = listing(host.root)
    rc, out = host.run(disk_capacity_bytes=100 * CAPACITY)
    assert rc == 0, messages(out)
    assert listing(host.root) == before
    assert out["stats"][HOST]["changed"] == 0
    assert "is not above threshold 80%: nothing to do" in messages(out)
    assert task(out, "Remove the stale files") == {}


def test_real_filesystem_usage_comes_from_df(host: Host) -> None:
    """Without disk_capacity_bytes the usage is the real filesystem's, as df reports it."""
    rc, out = host.run(disk_capacity_bytes=0, disk_threshold_pct=100)
    assert rc == 0, messages(out)
    found = re.search(r"usage ([0-9.]+)% is not above threshold 100%: nothing to do", messages(out))
    assert found, messages(out)
    du = shutil.disk_usage(host.root)
    assert abs(float(found[1]) - 100 * du.used / (du.used + du.free)) < 1.0


@pytest.mark.parametrize(
    "path", ["/etc", "/var/cache/../../etc", "/var/cachex", "/var/cache/../../../../../../etc"]
)
def test_cleanup_path_outside_allow_list_is_refused(host: Host, path: str) -> None:
    """A cleanup path outside the allow-list fails the play with a clear message before removing anything."""
    etc = host.root / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\n", encoding="utf-8")
    os.utime(etc / "passwd", (STALE_BEFORE - 86400, STALE_BEFORE - 86400))
    before = listing(host.root)
    rc, out = host.run(cleanup_paths=[path])
    assert rc != 0
    assert f"refusing to clean {path}" in messages(out)
    assert "outside the allow-list" in messages(out)
    assert listing(host.root) == before


def test_symlink_out_of_the_allow_list_is_refused(host: Host, tmp_path: Path) -> None:
    """A cleanup path that is a symlink to a folder outside the allow-list is refused."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "important.db"
    victim.write_bytes(b"x" * 1000)
    os.utime(victim, (STALE_BEFORE - 86400, STALE_BEFORE - 86400))
    (host.root / "var" / "cache" / "evil").symlink_to(outside)
    before = listing(host.root), listing(outside)
    rc, out = host.run(cleanup_paths=["/var/cache/evil"])
    assert rc != 0
    assert "refusing to clean /var/cache/evil" in messages(out)
    assert (listing(host.root), listing(outside)) == before


@pytest.mark.parametrize(
    "bad",
    [
        {"cleanup_paths": []},
        {"cleanup_paths": "/var/cache/app"},
        {"cleanup_paths": ["var/cache/app"]},
        {"cleanup_allowed_roots": []},
        {"disk_mountpoint": "/../../.."},
        {"disk_mountpoint": "/\n/etc"},
    ],
    ids=["empty-paths", "paths-string", "relative-path", "empty-roots", "mount-dotdot", "newline"],
)
def test_bad_inputs_are_refused(host: Host, bad: dict[str, Any]) -> None:
    """Bad inputs (such as an empty cleanup path list) fail the play before anything is removed."""
    before = listing(host.root)
    rc, out = host.run(**bad)
    assert rc != 0
    assert (
        "bad inputs: cleanup_paths and cleanup_allowed_roots must be non-empty lists"
        in messages(out)
    )
    assert listing(host.root) == before


def test_cache_not_the_culprit_fails(host: Host) -> None:
    """When the stale files are a tiny share of the used bytes the play fails with the culprit message."""
    with (host.root / "var" / "lib" / "app" / "big.bin").open("wb") as big:
        big.truncate(200 * 1024 * 1024)  # sparse: du -sb counts its apparent size
    before = listing(host.root)
    rc, out = host.run(disk_capacity_bytes=220 * 1024 * 1024)
    assert rc != 0
    assert "the cache is not the culprit" in messages(out)
    assert listing(host.root) == before
