"""Alert history from any source, as one stream of Incidents: the store's own records,
PagerDuty incident exports (CSV) and Alertmanager webhook logs (JSON lines).

Readers stream: memory stays bounded however long the file is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..models import frozen_map


@dataclass(frozen=True, slots=True)
class Incident:
    """One occurrence of an alert: when it fired, when (if) it resolved, and who acted."""

    source: str  # "store" | "pagerduty" | "alertmanager"
    name: str  # the alert type: alertname, or the PagerDuty incident title
    fingerprint: str  # the alert's identity; (fingerprint, started) is one occurrence
    started: datetime  # timezone-aware (UTC)
    resolved: datetime | None = None  # None: still open when the history ends
    host: str | None = None  # the target (instance without its port), when known
    service: str | None = None
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    annotations: Mapping[str, str] = field(default_factory=frozen_map)
    human: bool | None = None  # a person acted (assigned, acknowledged, ran a fix); None: unknown
    automated: bool | None = None  # remediator ran a fix for it (store history); None: unknown
