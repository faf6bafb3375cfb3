"""Executors run a plan and return a RunResult; the local one wraps ansible-runner."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..models import Mode, RunResult, TaskResult, frozen_map

ProgressFn = Callable[[str, TaskResult], None]


@dataclass(frozen=True, slots=True)
class RunPlan:
    """Everything one playbook run needs, decided before it starts."""

    ident: str
    playbook: Path
    inventory: Path
    hosts: tuple[str, ...]
    mode: Mode
    untrusted_vars: Mapping[str, Any] = field(default_factory=frozen_map)  # from alerts/people
    trusted_vars: Mapping[str, Any] = field(default_factory=frozen_map)  # from the catalog
    timeout_s: int = 600


class Executor(Protocol):
    """Runs a plan to its end; a failed playbook is a RunResult, never an exception."""

    def run(self, plan: RunPlan, progress: ProgressFn | None = None) -> RunResult:
        """Run ``plan`` and report each finished task to ``progress``."""
        ...
