"""Incidents from the audit store: one per alert occurrence (fingerprint and start).

Records come in chain order. The records of one occurrence (its firing delivery, runs,
approvals, its resolved delivery) may be far apart, so only the open occurrences are held;
each is handed out when its resolved delivery is recorded, the rest at the end.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import StoreError
from ..models import frozen_map
from ..record import AlertPart, AuditRecord
from ..store import StoreLocation, describe, exists, open_store
from ._common import Incident, Occurrences, Open, Progress, host_of, moment, ticker

NAME = "store"


def read(path: StoreLocation, *, progress: Progress | None = None) -> Iterator[Incident]:
    """Every alert occurrence recorded in the store at ``path``."""
    if not exists(path):
        raise StoreError("no audit store here", where=describe(path))
    store = open_store(path)
    try:
        yield from incidents(store.records(), progress=progress, origin=describe(path))
    finally:
        store.close()


def incidents(records: Iterator[AuditRecord], *, progress: Progress | None = None,
              origin: str = NAME) -> Iterator[Incident]:
    """The occurrences in ``records`` (audit records in chain order)."""
    tick = ticker(progress)
    occurrences = Occurrences()
    for count, record in enumerate(records, 1):
        tick(count)
        alert = record.get("alert")
        if not alert:  # a manual run or a breaker reset: no alert occurrence
            continue
        key = (str(alert["fingerprint"]), str(alert.get("starts_at") or ""))

        def first(alert: AlertPart = alert, record: AuditRecord = record) -> Incident:
            return _incident(alert, record, origin)

        if alert.get("status") == "resolved":
            found = occurrences.resolve(key, first)
            if found is not None:
                _learn(found, record)
                yield found.finish(moment(str(record["created_at"]),
                                          f"{origin}: record {record['id']}"))
            continue
        opened = occurrences.fire(key, first)
        if opened is not None:
            _learn(opened, record)
    yield from occurrences.remaining()


def _incident(alert: AlertPart, record: AuditRecord, origin: str) -> Incident:
    """The occurrence as its first record shows it."""
    where = f"{origin}: record {record['id']}"
    labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    hosts = alert.get("hosts") or sorted(record.get("hosts") or {})
    started = alert.get("starts_at") or record["created_at"]
    return Incident(
        source=NAME, name=str(alert["name"]), fingerprint=str(alert["fingerprint"]),
        started=moment(str(started), where),
        host=str(hosts[0]) if hosts else host_of(labels),
        service=labels.get("service"), labels=frozen_map(labels),
        annotations=frozen_map({str(k): str(v)
                                for k, v in (alert.get("annotations") or {}).items()}),
        human=False, automated=False)


def _learn(found: Open, record: AuditRecord) -> None:
    """What this record says about who acted: a person, and a successful live fix."""
    if record.get("initiated_by", "automation") != "automation" or record.get("request"):
        found.human = True
    if record.get("mode") == "live" and record.get("outcome") == "succeeded":
        found.automated = True
