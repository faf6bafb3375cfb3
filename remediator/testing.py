"""Test doubles for users testing their own catalogs and policies (and for our property tests).

    from remediator.testing import FakeClock, RecordingExecutor, alert, engine_for, invoke

A ``RecordingExecutor`` stands in for ansible-runner where the playbook is not what is under
test (a catalog's matching, stages and guardrails): it records every plan and reports each host
as succeeded (or as the outcome you script). Everything else in the engine is real, and
``invoke`` runs the real command line with it:

    executor = RecordingExecutor()
    result = invoke(["--config", "remediator.yml", "handle", "alert.json"], executor=executor)
    assert [plan.mode for plan in executor.plans] == [Mode.CHECK]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from click.testing import CliRunner, Result

from .common import ManualClock, iso
from .config import Config
from .executor import ProgressFn, RunPlan
from .models import Alert, HostResult, Outcome, RunnerStatus, RunResult, TaskResult, frozen_map

FakeClock = ManualClock  # a clock that moves only when told to


@dataclass
class RecordingExecutor:
    """An Executor that runs nothing: it records plans and returns scripted outcomes."""

    clock: Callable[[], datetime] = field(default_factory=FakeClock)
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # host -> outcome, default ok
    duration_s: float = 0.0
    plans: list[RunPlan] = field(default_factory=list)
    on_run: Callable[[RunPlan], None] | None = None  # e.g. to check locks mid-run
    task: str = "fix"  # the name of the one task each host reports
    setup_failure: str | None = None  # set (a SETUP kind): every run stops before any host

    def run(self, plan: RunPlan, progress: ProgressFn | None = None) -> RunResult:
        """Record ``plan``; every host 'changed' one task unless scripted otherwise."""
        self.plans.append(plan)
        if self.on_run is not None:
            self.on_run(plan)
        started = self.clock()
        if self.setup_failure is not None:
            return RunResult(
                ident=plan.ident, status=RunnerStatus.FAILED, rc=1,
                started_at=iso(started),
                finished_at=iso(started), duration_s=0.0,
                hosts={host: HostResult() for host in plan.hosts}, outcome=Outcome.FAILED,
                error=f"scripted setup failure: {self.setup_failure}",
                setup_failure=self.setup_failure)
        hosts = {}
        for host in plan.hosts:
            outcome = self.outcomes.get(host, Outcome.SUCCEEDED)
            failed = outcome is Outcome.FAILED
            unreachable = outcome is Outcome.UNREACHABLE
            status = "failed" if failed else "unreachable" if unreachable else "changed"
            task = TaskResult(name=self.task, action="ansible.builtin.command", status=status,
                              changed=status == "changed")
            hosts[host] = HostResult(ok=int(not (failed or unreachable)),
                                     changed=int(status == "changed"), failed=int(failed),
                                     unreachable=int(unreachable), tasks=(task,))
        bad = any(h.failed or h.unreachable for h in hosts.values())
        overall = Outcome.FAILED if any(h.failed for h in hosts.values()) else (
            Outcome.UNREACHABLE if bad else Outcome.SUCCEEDED)
        return RunResult(
            ident=plan.ident, status=RunnerStatus.FAILED if bad else RunnerStatus.SUCCESSFUL,
            rc=2 if bad else 0, started_at=iso(started),
            finished_at=(started + timedelta(seconds=self.duration_s)).isoformat(
                timespec="milliseconds"),
            duration_s=self.duration_s, hosts=hosts, outcome=overall)


_counter = itertools.count()


def alert(name: str = "DiskSpaceLow", host: str = "web-01", *, status: str = "firing",
          fingerprint: str | None = None, starts_at: str = "2026-01-05T11:59:00+00:00",
          labels: Mapping[str, str] | None = None, source: str = "generic") -> Alert:
    """An Alert for ``host`` (label ``instance``), with a fresh fingerprint unless given."""
    return Alert(source=source, name=name, status=status,
                 fingerprint=fingerprint or f"fp-{next(_counter)}",
                 labels=frozen_map({"alertname": name, "instance": f"{host}:9100",
                                    **(labels or {})}),
                 starts_at=starts_at)


def engine_for(config: Config, *, clock: FakeClock | None = None,
               executor: RecordingExecutor | None = None, env: Mapping[str, str] | None = None
               ) -> Any:
    """An Engine over ``config`` with a FakeClock and a RecordingExecutor swapped in."""
    from .engine import open_engine

    clock = clock or FakeClock()
    return open_engine(config, clock=clock, env=env or {},
                       executor=executor or RecordingExecutor(clock=clock))


def invoke(args: Sequence[str], *, executor: RecordingExecutor | None = None,
           clock: FakeClock | None = None, stdin: str | None = None,
           env: Mapping[str, str | None] | None = None) -> Result:
    """Run the real ``remediator`` command line in-process, its engines using ``executor`` and
    ``clock`` (when given); exceptions propagate, so a bug shows its traceback."""
    from .cli import EngineParts, cli  # late: the CLI is the edge that imports the rest

    parts = EngineParts(executor=executor, clock=clock)
    return CliRunner().invoke(cli, list(args), input=stdin, env=env, obj=parts,
                              catch_exceptions=False)
