"""Every run that starts ends as a record, whatever dies meanwhile.

Each decision transaction journals its draft records and reserved runs (``journal``, into the
store's run journal; ``serve`` keeps the same plan with its intake rows). A record the store
refuses after its run is kept, durably, in the spool folder (``append``). The next command
that opens the engine stores the spool (``store_unsaved``) and records a dead owner's journal
as interrupted, after stopping what its runs left acting (``recover_unfinished``, ``recover``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from . import runproc
from .catalog import Catalog
from .common import iso
from .errors import StoreError
from .models import Remediation
from .record import AuditRecord, Draft, Notification, draft, entry_name
from .store import AuditStore, GuardSession

Journal = Callable[[GuardSession, dict[str, Any]], None]


class Owner(Protocol):
    """What recovery needs of the engine."""

    catalog: Catalog
    spool: Path | None  # where records the store refused wait for the next start

    @property
    def store(self) -> AuditStore:
        """The store (``simulate`` swaps it: read it each time)."""
        ...

    def clock(self) -> datetime:
        """Now."""
        ...

    def new_id(self) -> str:
        """A new record id."""
        ...

    def notify(self, record: Draft, remediation: Remediation | None) -> list[Notification]:
        """Tell the entry's channels what its stage calls for; delivery results."""
        ...


class Recovery:
    """The run journal, the spool, and what the next start does with them."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner

    def journal(self, keys: list[str]) -> Journal:
        """A journal into the store's run journal (journal.py); each row's key in ``keys``."""
        def journal(session: GuardSession, plan: dict[str, Any]) -> None:
            if plan["drafts"] or plan["batches"]:
                keys.append(self.owner.new_id())
                session.journal(keys[-1], plan, self.owner.clock() + timedelta(
                    seconds=self.journal_lease()))
        return journal

    def journal_lease(self) -> int:
        """How long a journal row of another machine is left to its owner: the longest lock
        lease of any entry."""
        return max([e.guardrails.lock_timeout_s or e.timeout_s + 60 for e in self.owner.catalog]
                   + [600])

    def recover_unfinished(self) -> list[AuditRecord]:
        """Store what earlier processes could not: records kept in the spool folder, then the
        journalled decisions of processes that died (their runs as interrupted)."""
        records = self.store_unsaved()
        for row in self.owner.store.journal_orphans(iso(self.owner.clock())):
            node, _, pid = row.owner.rpartition(":")
            records += self.recover(row.plan, f"interrupted: the remediator process that "
                                    f"started this run (pid {pid} on {node}) stopped before "
                                    "recording it; the playbook may have partly applied")
            self.owner.store.journal_close([row.key])
        return records

    def append(self, records: list[Draft]) -> list[AuditRecord]:
        """Append to the chain; what the store refuses (a full disk) is kept in the spool
        folder, durably, and stored by the next ``recover_unfinished``."""
        try:
            return self.owner.store.append_many(records)
        except StoreError as exc:
            unsaved = exc.unsaved if isinstance(exc.unsaved, list) else [exc.unsaved or {}]
            if self.owner.spool is not None and unsaved:
                try:
                    for record in unsaved:
                        _write_durably(self.owner.spool, f"{record['id']}.json",
                                       json.dumps(record, sort_keys=True, ensure_ascii=False))
                except (OSError, KeyError):
                    pass  # the journal still holds the drafts: recorded as interrupted
                else:
                    exc.kept = str(self.owner.spool)
            raise

    def store_unsaved(self) -> list[AuditRecord]:
        """Append the records kept in the spool folder, oldest first; each file goes once its
        record is on the chain."""
        if self.owner.spool is None or not self.owner.spool.is_dir():
            return []
        appended = []
        files = sorted(self.owner.spool.glob("*.json"), key=lambda f: (f.stat().st_mtime, f.name))
        for path in files:
            try:
                record = draft(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # a half-written file of a process that died while writing it
            if not self.owner.store.has_record(str(record.get("id"))):
                appended.append(self.owner.store.append(record))
            path.unlink(missing_ok=True)
        return appended

    def recover(self, plan: Mapping[str, Any], reason: str) -> list[AuditRecord]:
        """Record what a dead worker had planned: its runs end as interrupted, its other
        decisions are recorded as made. Drafts already on the chain are left alone, and a
        run they recorded keeps the outcome they say (its guard state was not written: a
        store that failed after the run)."""
        at = iso(self.owner.clock())
        running = {b["ident"]: b["hosts"] for b in plan.get("batches", ())}
        drafts = [d for d in plan.get("drafts", ()) if not self.owner.store.has_record(d["id"])]
        outcomes: dict[tuple[str, str], str] = {}
        for planned in plan.get("drafts", ()):
            ident = str((planned.get("batch") or {}).get("ident"))
            if ident in running and planned not in drafts:
                done = self.owner.store.get(planned["id"])
                for host in done.get("hosts") or {}:
                    outcomes[(ident, host)] = str(done.get("outcome"))
        stuck = self._stop_orphans(running, plan.get("drafts", ()))
        if running:
            self.owner.store.finish_runs([(ident, host, outcomes.get((ident, host), "interrupted"),
                                     at) for ident, hosts in running.items() for host in hosts
                                    if ident not in stuck], open_only=True)
        records = []
        for planned in drafts:
            record = draft(dict(planned))
            ident = str((planned.get("batch") or {}).get("ident"))
            if ident in running:
                record["outcome"] = "interrupted"
                record["decision"] = {**record["decision"], "notes": [
                    *record["decision"].get("notes", ()), reason,
                    *([stuck[ident]] if ident in stuck else [])]}
            record["created_at"] = at
            remediation = self.owner.catalog.get(entry_name(record) or "")
            record["notifications"] = self.owner.notify(record, remediation)
            records.append(self.owner.store.append(record))
            request = record.get("request")
            if request and request["state"] == "approved":  # the approval's run, for whoever asks
                self.owner.store.set_request_result(request["id"], record["id"])
        return records

    def _stop_orphans(self, running: Mapping[str, Any], drafts: Iterable[Mapping[str, Any]]
                      ) -> dict[str, str]:
        """Stop what a dead owner's runs left acting, before their hosts are released: a
        local playbook's processes (its reaper stops them as its owner dies; this makes sure).
        The runs whose hosts must stay locked until their lease ends, with why: processes
        that could not be stopped, and AWX jobs (nobody follows them now; AWX runs a
        template's jobs one at a time unless it allows simultaneous runs)."""
        remote = {(d.get("batch") or {}).get("ident") for d in drafts
                  if (d.get("remediation") or {}).get("job_template") is not None}
        stuck = {ident: "its AWX job may still be running: its hosts stay locked until the "
                 "run's lease ends" for ident in running if ident in remote}
        for ident, pids in runproc.stop([i for i in running if i not in remote]).items():
            stuck[ident] = (f"its processes ({', '.join(map(str, pids))}) could not be "
                            "stopped: its hosts stay locked until the run's lease ends")
        return stuck


def _write_durably(folder: Path, name: str, text: str) -> None:
    """``folder/name`` holds ``text`` after a crash or a power cut, or does not exist."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = folder / f".{name}.tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, folder / name)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
