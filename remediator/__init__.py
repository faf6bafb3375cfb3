"""remediator: hand repetitive incident fixes to Ansible, safely and step by step.

The pipeline: ``sources.normalize`` -> ``Catalog.match`` -> ``policy.decide`` ->
``executor.run`` -> ``results`` -> ``store.append``; ``Engine`` wires it together.
"""

from __future__ import annotations

from .catalog import Catalog
from .config import Config
from .engine import Engine, open_engine
from .errors import RemediatorError
from .models import Action, Alert, Decision, Mode, Outcome, Remediation, RunResult, Stage

__version__ = "0.1.0"

__all__ = [
    "Action",
    "Alert",
    "Catalog",
    "Config",
    "Decision",
    "Engine",
    "Mode",
    "Outcome",
    "Remediation",
    "RemediatorError",
    "RunResult",
    "Stage",
    "__version__",
    "open_engine",
]
