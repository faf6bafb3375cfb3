"""Executors run a plan and return a RunResult: the local one wraps ansible-runner, the AWX
one launches a job template; ``Router`` sends each plan to the one it names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..models import Mode, RunResult, TaskResult, frozen_map

ProgressFn = Callable[[str, TaskResult], None]


def plain_data(value: Any) -> Any:
    """Variables as plain JSON/YAML-ready data (read-only mappings become dicts, tuples lists)."""
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class RunPlan:
    """Everything one playbook run needs, decided before it starts.

    A plan with ``job_template`` runs on AWX (its ``playbook`` and ``inventory`` are unused);
    any other plan runs ``playbook`` here.
    """

    ident: str
    playbook: Path
    inventory: tuple[Path, ...]  # the inventory sources (one ``-i`` each)
    hosts: tuple[str, ...]
    mode: Mode
    untrusted_vars: Mapping[str, Any] = field(default_factory=frozen_map)  # from alerts/people
    trusted_vars: Mapping[str, Any] = field(default_factory=frozen_map)  # from the catalog
    timeout_s: int = 600
    job_template: str | int | None = None  # an AWX job template name or id
    accelerator: str | None = None  # "none" or "mitogen"; None: the executor's default


class Executor(Protocol):
    """Runs a plan to its end; a failed playbook is a RunResult, never an exception."""

    def run(self, plan: RunPlan, progress: ProgressFn | None = None) -> RunResult:
        """Run ``plan`` and report each finished task to ``progress``."""
        ...
