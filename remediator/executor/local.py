"""The local executor: the one module that imports ansible_runner.

Every run gets a fresh private data dir (ansible-runner keeps ``env/cmdline`` and
``env/extravars`` between runs on one dir), catalog values are written by us to ``env/extravars``
and alert data to a second file whose whole document is tagged ``!unsafe`` (ansible-runner's
``extravars=`` dict would lose the tag; a file path it passes on as ``-e @file``), and the
artifacts are kept under the runs folder, the oldest rotated away.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from .. import runproc
from ..ansible_project import AnsibleSetup, relative
from ..common import iso, utc_now
from ..errors import ExecutionError
from ..models import Mode, RunnerStatus, RunResult
from ..results import ResultCollector, outcome_of, setup_failure
from ..vault import VaultScan, redact_tree, redact_value
from . import ProgressFn, RunPlan, plain_data
from .accelerate import NONE, strategy_env

RUN_MARKER = ".remediator-run"
_KEEP_ENV_PREFIXES = ("ANSIBLE_", "RUNNER_", "AWX_")
_RUNNER_CALLBACK = "awx_display"  # ansible-runner's own stdout callback, which emits its events


UNTRUSTED_VARS = "untrusted_vars.yml"  # beside env/extravars, passed as a second ``-e @file``


class _QuotedDumper(yaml.SafeDumper):
    """Writes every string double-quoted: escapes for every odd character (PyYAML writes a NEL
    raw inside single quotes, which reads back as a line break), and never a plain scalar
    that a loader could take for a number or a boolean."""


_QuotedDumper.add_representer(str, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v, style='"'))


def untrusted_yaml(untrusted: Mapping[str, Any]) -> str:
    """Alert data as one YAML document whose root mapping is tagged ``!unsafe``.

    Everything inside is then unsafe (never templated) and keeps its own YAML type. The tag is
    not put on each string: ansible-core 2.19 re-resolves a tagged scalar as if it were plain,
    so ``!unsafe "4"`` reached playbooks as the integer 4 and ``"true"`` as a boolean.
    """
    body = yaml.dump(plain_data(untrusted), Dumper=_QuotedDumper, sort_keys=True,
                     allow_unicode=True, default_flow_style=False)
    return "--- !unsafe\n" + body


def trusted_yaml(trusted: Mapping[str, Any]) -> str:
    """Catalog values, plain: Ansible may template them (``env/extravars``)."""
    return yaml.dump(plain_data(trusted), Dumper=yaml.SafeDumper, sort_keys=True,
                     allow_unicode=True)


class LocalExecutor:
    """Runs playbooks with ansible-runner on this machine, one fresh data dir per run."""

    def __init__(self, runs_dir: Path, *, keep_runs: int = 200,
                 clock: Callable[[], datetime] = utc_now,
                 hide_env: Iterable[str] = (), accelerator: str = NONE,
                 ansible: AnsibleSetup | None = None, vault: VaultScan | None = None
                 ) -> None:
        self.vault = vault or VaultScan()  # decrypted values: masked in results and artifacts
        self.runs_dir = runs_dir
        self.ansible = ansible  # the project root and its ansible.cfg; None: the playbook's
        # folder and whatever ansible.cfg Ansible finds there
        self.accelerator = accelerator  # for plans that name none
        self.hide_env = frozenset(hide_env)  # remediator's own secrets: blank in every run
        self.keep_runs = keep_runs
        self.clock = clock
        self.cancel = threading.Event()

    def prepare(self, plan: RunPlan) -> Path:
        """Create the run's private data dir with its env files; it must not exist yet."""
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            data_dir = self.runs_dir / plan.ident
            (data_dir / "env").mkdir(parents=True, mode=0o700)
        except FileExistsError:
            raise ExecutionError(f"run folder {plan.ident} already exists: refusing to reuse it",
                                 where=str(self.runs_dir)) from None
        except OSError as exc:
            raise ExecutionError(f"cannot create run folder: {exc}",
                                 where=str(self.runs_dir)) from None
        (data_dir / RUN_MARKER).write_text(plan.ident + "\n", encoding="utf-8")
        (data_dir / "env" / "extravars").write_text(trusted_yaml(plan.trusted_vars),
                                                    encoding="utf-8")
        (data_dir / "env" / UNTRUSTED_VARS).write_text(untrusted_yaml(plan.untrusted_vars),
                                                       encoding="utf-8")
        return data_dir

    def run(self, plan: RunPlan, progress: ProgressFn | None = None) -> RunResult:
        """Run ``plan`` through ansible-runner and collect its events as they arrive."""
        import ansible_runner  # type: ignore[import-untyped]

        accelerated = strategy_env(plan.accelerator or self.accelerator, os.environ)
        data_dir = self.prepare(plan)
        collector = ResultCollector()

        def on_event(event: dict[str, Any]) -> bool:
            task = collector.feed(event)
            if task is not None and progress is not None:
                progress(str(event.get("event_data", {}).get("host", "")),
                         redact_value(task, self.vault))
            return True  # keep runner's job_events on disk too

        cmdline = "--check --diff" if plan.mode is Mode.CHECK else "--diff"
        bindir = str(Path(sys.executable).parent)
        envvars = {
            "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            **_outer_runner_undone(os.environ),
            **(self.ansible.env() if self.ansible else {}),
            **accelerated,
            # ansible-runner starts from our environment: blank what only remediator needs
            **{name: "" for name in self.hide_env if os.environ.get(name)},
        }
        # like `ansible-playbook playbooks/x.yml` typed at the project root
        root = self.ansible.root if self.ansible else plan.playbook.parent
        started = self.clock()
        t0 = time.monotonic()
        status, rc, error = RunnerStatus.ERROR, None, None
        try:
            runner = ansible_runner.interface.init_runner(
                private_data_dir=str(data_dir),
                project_dir=str(root),
                playbook=relative(plan.playbook, root),
                inventory=[str(source) for source in plan.inventory],
                limit=",".join(plan.hosts),
                cmdline=cmdline,
                extravars=str(data_dir / "env" / UNTRUSTED_VARS),
                envvars=envvars,
                ident=plan.ident,
                timeout=plan.timeout_s,
                quiet=True,
                event_handler=on_event,
                cancel_callback=self.cancel.is_set,
            )
            # under the reaper: if this process dies, the playbook's processes die with it
            runner.config.command = runproc.wrap(plan.ident, runner.config.command,
                                                 sys.executable)
            runner.run()
            status = _status(runner.status)
            rc = runner.rc
            if status is not RunnerStatus.SUCCESSFUL:
                error = _stderr_tail(data_dir / "artifacts" / plan.ident)
        except Exception as exc:  # noqa: BLE001 - any runner failure becomes recorded data
            error = f"{type(exc).__name__}: {exc}"
        duration = time.monotonic() - t0
        artifacts = data_dir / "artifacts" / plan.ident
        _scrub_command(artifacts / "command")
        redact_tree(artifacts, self.vault)
        hosts = collector.hosts(plan.hosts)
        setup = setup_failure(collector, status, error, plan.hosts)
        if setup is not None:
            error = setup[1] if not error else f"{setup[1]}\n{error}"
        self.rotate()
        return redact_value(RunResult(
            ident=plan.ident, status=status, rc=rc, started_at=iso(started),
            finished_at=iso(self.clock()), duration_s=round(duration, 3), hosts=hosts,
            outcome=outcome_of(status, hosts, plan.hosts),
            artifacts=str(artifacts), error=error,
            strategy=accelerated.get("ANSIBLE_STRATEGY"),
            setup_failure=None if setup is None else setup[0],
        ), self.vault)

    def rotate(self) -> list[Path]:
        """Remove the oldest run folders beyond ``keep_runs``; only folders we made."""
        try:
            runs = [p for p in self.runs_dir.iterdir() if (p / RUN_MARKER).is_file()]
        except OSError:
            return []
        runs.sort(key=lambda p: p.stat().st_mtime)
        doomed = runs[: max(0, len(runs) - self.keep_runs)]
        for path in doomed:
            shutil.rmtree(path, ignore_errors=True)
        return doomed


def _outer_runner_undone(env: Mapping[str, str]) -> dict[str, str]:
    """Inside an ansible-runner job (an AWX job), the stdout callback that runner replaced.

    The enclosing runner sets ANSIBLE_STDOUT_CALLBACK to its own event callback; ours would
    take that as the "original" callback to wrap, and ansible-playbook fails to load it.
    """
    if env.get("ANSIBLE_STDOUT_CALLBACK") != _RUNNER_CALLBACK:
        return {}
    original = env.get("ORIGINAL_STDOUT_CALLBACK", "")
    return {"ANSIBLE_STDOUT_CALLBACK": original if original not in ("", _RUNNER_CALLBACK)
            else "default"}


def _status(value: str) -> RunnerStatus:
    try:
        return RunnerStatus(value)
    except ValueError:
        return RunnerStatus.ERROR


def _stderr_tail(artifacts: Path, limit: int = 2000) -> str | None:
    """The end of the run's stdout, where ansible prints why it could not start."""
    for name in ("stderr", "stdout"):
        path = artifacts / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace").strip()
            if text:
                return text[-limit:]
    return None


def _scrub_command(path: Path) -> None:
    """Drop the environment ansible-runner writes beside the command: it may hold secrets."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    env = data.get("env")
    if isinstance(env, dict):
        data["env"] = {k: v for k, v in env.items() if k.startswith(_KEEP_ENV_PREFIXES)}
        path.write_text(json.dumps(data), encoding="utf-8")
