"""``python -m tests.fakecli ARGS``: the real ``remediator`` command line with a
``RecordingExecutor`` in place of ansible-runner, for tests that run remediator as a subprocess
(``serve``, concurrent ``handle`` processes) where no playbook is under test.

Its environment scripts the runs: ``REMEDIATOR_FAKE_RUN_S``, how long a run takes, as seconds
or per playbook file name (``sleep.yml=120,*=0.2``; default 0), cut short when ``serve``'s
grace period is over, as a real run would be cancelled; ``REMEDIATOR_FAKE_OUTCOMES``,
``host=failed,other=unreachable`` (default: every host changed one task and succeeded).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from remediator.cli import EngineParts, cli
from remediator.common import utc_now
from remediator.executor import ProgressFn, RunPlan
from remediator.models import Outcome, RunResult
from remediator.testing import RecordingExecutor


def _pairs(name: str) -> list[tuple[str, str]]:
    """``a=b,c=d`` from the environment variable ``name``."""
    return [(key, value) for key, _, value in (
        item.partition("=") for item in os.environ.get(name, "").split(",") if item)]


@dataclass
class TimedExecutor(RecordingExecutor):
    """A RecordingExecutor whose runs take time, and stop early when cancelled."""

    seconds: dict[str, float] = field(default_factory=dict)  # playbook file name or "*"
    cancel: threading.Event = field(default_factory=threading.Event)  # serve sets it

    def run(self, plan: RunPlan, progress: ProgressFn | None = None) -> RunResult:
        """Wait the playbook's time (or until cancelled), then record the plan."""
        self.cancel.wait(self.seconds.get(plan.playbook.name, self.seconds.get("*", 0.0)))
        return super().run(plan, progress)


def executor_from_env() -> TimedExecutor:
    """The executor the environment describes."""
    spec = os.environ.get("REMEDIATOR_FAKE_RUN_S", "0")
    seconds = ({"*": float(spec)} if "=" not in spec else
               {key: float(value) for key, value in _pairs("REMEDIATOR_FAKE_RUN_S")})
    outcomes = {host: Outcome(value) for host, value in _pairs("REMEDIATOR_FAKE_OUTCOMES")}
    return TimedExecutor(clock=utc_now, outcomes=outcomes, seconds=seconds)


if __name__ == "__main__":
    cli.main(prog_name="remediator", obj=EngineParts(executor=executor_from_env()))
