"""``Router``: one Executor in front of the local and the AWX executors."""

from __future__ import annotations

import threading
from typing import Protocol

from ..models import RunResult
from . import Executor, ProgressFn, RunPlan


class _Cancellable(Executor, Protocol):
    """An executor with a ``cancel`` event, set to stop its runs (``serve`` at shutdown)."""

    cancel: threading.Event


class Router:
    """Runs plans that name a job template on AWX and every other plan locally.

    Both executors share one ``cancel`` event, so ``serve``'s shutdown reaches either.
    """

    def __init__(self, local: _Cancellable, awx: _Cancellable) -> None:
        self.local = local
        self.awx = awx
        self.cancel = threading.Event()
        local.cancel = awx.cancel = self.cancel

    def run(self, plan: RunPlan, progress: ProgressFn | None = None) -> RunResult:
        """Run ``plan`` on the executor it names."""
        executor = self.local if plan.job_template is None else self.awx
        return executor.run(plan, progress)
