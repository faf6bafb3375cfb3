"""Accelerators for local runs: Mitogen for Ansible, chosen per project or per catalog entry.

Where a coalesced storm run spends its time: each host's task starts a fresh Python that imports
ansible's ``module_utils`` from the AnsiballZ zip, uncompiled, and the controller forks a worker
for it; about 0.2 CPU-s a host and task. Mitogen's strategy plugins keep one interpreter per host
for the whole run and run modules inside it. bench/storm.py measures the difference on 200 local
hosts (docs/benchmarks.md, "Storms").

Nothing here imports Mitogen or ansible: the plugins are found on disk and handed to
ansible-playbook through its environment, so a run's semantics stay Ansible's own strategy's
(``linear`` becomes ``mitogen_linear``, ``free`` becomes ``mitogen_free``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import ExecutionError
from ..settings.accelerators import ACCELERATORS, MITOGEN, NONE

__all__ = ["ACCELERATORS", "MITOGEN", "NONE", "mitogen_strategies", "strategy_env"]

INSTALL_HINT = "pip install 'remediator[mitogen]' into the Python that runs remediator"
# Ansible's strategies that Mitogen ships a counterpart of.
_MITOGEN_STRATEGIES = frozenset({"linear", "free", "host_pinned"})


def mitogen_strategies() -> Path | None:
    """The folder of Mitogen's strategy plugins in this Python, or None when not installed.

    ``find_spec`` of a top-level package locates it without running it (no ansible import).
    """
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "plugins" / "strategy"
    return folder if (folder / "mitogen_linear.py").is_file() else None


def strategy_env(accelerator: str, env: Mapping[str, str]) -> dict[str, str]:
    """The variables that make ansible-playbook use ``accelerator``; {} for ``none``.

    ``env`` is the environment the run starts from: a strategy chosen there (ANSIBLE_STRATEGY)
    keeps its kind, and plugin folders already named there stay after Mitogen's.
    """
    if accelerator == NONE:
        return {}
    if accelerator != MITOGEN:
        raise ExecutionError(f"unknown accelerator {accelerator!r}; expected one of "
                             f"{', '.join(ACCELERATORS)}")
    folder = mitogen_strategies()
    if folder is None:
        raise ExecutionError(f"accelerator 'mitogen' is not installed: {INSTALL_HINT}")
    chosen = env.get("ANSIBLE_STRATEGY", "").strip() or "linear"
    kind = chosen.removeprefix("mitogen_")
    if kind not in _MITOGEN_STRATEGIES:
        raise ExecutionError(f"ANSIBLE_STRATEGY={chosen!r} has no Mitogen counterpart; set the "
                             f"accelerator to 'none' or the strategy to one of "
                             f"{', '.join(sorted(_MITOGEN_STRATEGIES))}")
    strategy = f"mitogen_{kind}"
    plugins = [str(folder), *(p for p in env.get("ANSIBLE_STRATEGY_PLUGINS", "").split(os.pathsep)
                              if p)]
    return {"ANSIBLE_STRATEGY": strategy, "ANSIBLE_STRATEGY_PLUGINS": os.pathsep.join(plugins)}
