"""``/metrics`` in the Prometheus text format, from a registry of this server's own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from ..record import AuditRecord

__all__ = ["CONTENT_TYPE", "Metrics"]

# what the store says at scrape: pending requests by entry; decisions by (channel, outcome)
ApprovalCounts = Callable[[], tuple[Mapping[str, int], Mapping[tuple[str, str], int]]]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_RUN_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)


class Metrics:
    """Counters for what came in, what was decided and how runs ended."""

    def __init__(self, backlog: Callable[[], Mapping[str, int]],
                 approvals: ApprovalCounts | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created is noise
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # what every Python exporter shows: process_* (memory, CPU, open files, start time),
        # python_info, python_gc_*
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.requests = Counter("remediator_webhook_requests", "Webhook requests by endpoint "
                                "and HTTP status.", ["endpoint", "code"], registry=r)
        self.request_seconds = Histogram("remediator_webhook_seconds", "Time from request to "
                                         "answer (the payload is on disk before a 2xx).",
                                         ["endpoint"], buckets=_LATENCY_BUCKETS, registry=r)
        self.alerts = Counter("remediator_alerts_received", "Alerts in accepted payloads.",
                              ["source"], registry=r)
        self.decisions = Counter("remediator_decisions", "Recorded decisions by action.",
                                 ["action"], registry=r)
        self.duplicates = Counter("remediator_duplicate_deliveries", "Alerts delivered again "
                                  "after they were handled (no new record).", registry=r)
        self.runs = Counter("remediator_runs", "Playbook runs (per alert record) by outcome.",
                            ["outcome"], registry=r)
        self.run_seconds = Histogram("remediator_run_seconds", "Playbook run durations.",
                                     buckets=_RUN_BUCKETS, registry=r)
        self.handle_seconds = Histogram("remediator_handle_seconds", "From accepted to "
                                        "recorded, per payload.", buckets=_RUN_BUCKETS,
                                        registry=r)
        self.errors = Counter("remediator_worker_errors", "Payloads a worker could not "
                              "handle (see the server log and the intake row).", registry=r)
        self.connections = Gauge("remediator_connections", "Open client connections.",
                                 registry=r)
        self.connections_refused = Counter("remediator_connections_refused", "Connections "
                                           "closed at once: over server.max_connections.",
                                           registry=r)
        self.connection_timeouts = Counter("remediator_connection_timeouts", "Connections "
                                           "closed for slowness: a request head (headers) "
                                           "or body past its timeout, or a new connection "
                                           "that sent nothing (silent).", ["phase"],
                                           registry=r)
        self.accept_errors = Counter("remediator_accept_errors", "Connections the server "
                                     "could not accept (out of file descriptors).",
                                     registry=r)
        self.slack = Counter("remediator_slack_interactions", "Slack button clicks by "
                             "outcome: rejected (4xx: signature, timestamp, replay, payload, "
                             "unknown request), approved, approved-before (another click's "
                             "run), counted (more approvers needed), locked (a host was "
                             "being fixed: nothing ran), denied, refused, "
                             "error.", ["outcome"], registry=r)
        queue = Gauge("remediator_intake", "Intake rows by state.", ["state"], registry=r)
        self._queue = queue
        self._backlog = backlog
        self._approvals = approvals
        self._approvals_lock = threading.Lock()  # one store read at a time (scrapes overlap)
        self.pending = Gauge("remediator_pending_requests", "Requests waiting for approval "
                             "(not yet expired), by catalog entry: what `pending` lists.",
                             ["entry"], registry=r)
        self.approval_decisions = Gauge("remediator_approval_decisions", "Decisions people "
                                        "made on requests, by channel (cli, slack, web) and "
                                        "outcome (approved: each distinct approval; denied; "
                                        "refused), as the store holds them.",
                                        ["channel", "outcome"], registry=r)

    def observe_records(self, records: Iterable[AuditRecord]) -> None:
        """Count the decisions and runs of freshly stored records."""
        for record in records:
            self.decisions.labels(record["decision"]["action"]).inc()
            if record.get("runner") is not None or record["outcome"] == "interrupted":
                self.runs.labels(record["outcome"]).inc()
            duration = record.get("duration_s")
            if duration is not None:
                self.run_seconds.observe(duration)

    def render(self) -> bytes:
        """The exposition, with the queue gauge read now."""
        for state, count in self._backlog().items():
            self._queue.labels(state).set(count)
        if self._approvals is not None:
            with self._approvals_lock:
                pending, decided = self._approvals()
                self.pending.clear()
                self.approval_decisions.clear()
                for entry, count in pending.items():
                    self.pending.labels(entry).set(count)
                for (channel, outcome), count in decided.items():
                    self.approval_decisions.labels(channel, outcome).set(count)
        return generate_latest(self.registry)
