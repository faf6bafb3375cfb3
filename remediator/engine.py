"""The engine wires one alert through match -> decide -> execute -> record."""

from __future__ import annotations

import getpass
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import audit
from . import catalog as catalog_mod
from . import inventory as inventory_mod
from .catalog import Catalog
from .config import Config
from .errors import StoreError, UsageError
from .executor import Executor, ProgressFn, RunPlan
from .inventory import Inventory
from .models import Action, Alert, Decision, Mode, Remediation, RunResult
from .policy import PolicyContext, decide, decide_manual
from .revision import catalog_revision, file_sha256
from .store import AuditStore, open_store

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]


def utc_now() -> datetime:
    """The current time in UTC; records are stamped in UTC so their times sort as text."""
    return datetime.now(UTC)


def new_record_id() -> str:
    """A time-ordered id: 11 hex digits of milliseconds, then 6 random hex digits."""
    return f"{int(time.time() * 1000):011x}{secrets.token_hex(3)}"


def current_user() -> str:
    """Who is at the keyboard: $REMEDIATOR_USER, else the login name."""
    try:
        return os.environ.get("REMEDIATOR_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class Engine:
    """Handles alerts and manual runs; every decision ends as one audit record."""

    config: Config
    catalog: Catalog
    inventory: Inventory
    store: AuditStore
    executor: Executor
    revision: Mapping[str, Any]
    clock: Clock = utc_now
    new_id: IdFactory = new_record_id
    progress: ProgressFn | None = None
    _playbook_sha: dict[str, str | None] = field(default_factory=dict)

    def context(self, allow_uncommitted: bool = False) -> PolicyContext:
        """The policy's view of the world right now."""
        return PolicyContext(
            inventory=self.inventory,
            max_stage=self.config.max_stage,
            uncommitted=bool(self.revision.get("dirty")),
            allow_uncommitted=allow_uncommitted,
        )

    def handle(self, alerts: Iterable[Alert], *, allow_uncommitted: bool = False,
               initiated_by: str = "automation") -> list[dict[str, Any]]:
        """Match, decide, run and record each alert in turn; returns the sealed records."""
        ctx = self.context(allow_uncommitted)
        records = []
        for alert in alerts:
            remediation = self.catalog.match(alert)
            decision = decide(alert, remediation, ctx)
            records.append(self._carry_out(alert, remediation, decision, initiated_by,
                                           allow_uncommitted))
        return records

    def run_manual(self, entry: str, hosts: Iterable[str], mode: Mode, *,
                   variables: Mapping[str, str] | None = None, user: str | None = None,
                   allow_uncommitted: bool = False) -> dict[str, Any]:
        """A person starts ``entry`` on ``hosts``; unknown entries, hosts or vars are errors."""
        remediation = self.catalog.get(entry)
        if remediation is None:
            names = ", ".join(e.name for e in self.catalog) or "none"
            raise UsageError(f"no catalog entry '{entry}' (entries: {names})",
                             where=str(self.catalog.path))
        resolved = []
        for host in hosts:
            name = self.inventory.resolve(host)
            if name is None:
                raise UsageError(f"host '{host}' is not in the inventory",
                                 where=str(self.inventory.path))
            resolved.append(name)
        if not resolved:
            raise UsageError("--limit names no host")
        variables = dict(variables or {})
        allowed = set(remediation.vars) | set(remediation.static_vars)
        unknown = sorted(set(variables) - allowed)
        if unknown:
            raise UsageError(f"entry '{entry}' has no variable {', '.join(unknown)} "
                             f"(allowed: {', '.join(sorted(allowed)) or 'none'})")
        missing = [v for v, s in remediation.vars.items()
                   if s.required and v not in variables and v not in remediation.static_vars]
        if missing:
            raise UsageError(f"entry '{entry}' needs --var for {', '.join(missing)}")
        for var, source in remediation.vars.items():
            if var not in variables and source.default is not None:
                variables[var] = source.default
        user = user or current_user()
        decision = decide_manual(remediation, tuple(dict.fromkeys(resolved)), mode, user,
                                 variables, self.context(allow_uncommitted))
        return self._carry_out(None, remediation, decision, user, allow_uncommitted)

    def _carry_out(self, alert: Alert | None, remediation: Remediation | None,
                   decision: Decision, initiated_by: str,
                   allow_uncommitted: bool) -> dict[str, Any]:
        """Run the decision's playbook if it has one, then append the record."""
        record_id = self.new_id()
        run: RunResult | None = None
        if remediation is not None and decision.executes:
            plan = RunPlan(
                ident=record_id,
                playbook=Path(remediation.playbook_path),
                inventory=self.inventory.path,
                hosts=decision.hosts,
                mode=decision.mode,
                untrusted_vars=decision.variables,
                trusted_vars=_without(remediation.static_vars, decision.variables),
                timeout_s=remediation.timeout_s,
            )
            run = self.executor.run(plan, self.progress)
        revision = dict(self.revision)
        if decision.mode is Mode.LIVE and revision.get("dirty"):
            revision["allow_uncommitted"] = allow_uncommitted
        record = audit.build(
            record_id=record_id,
            created_at=self.clock().isoformat(timespec="milliseconds"),
            alert=alert,
            hosts=decision.hosts,
            remediation=remediation,
            playbook_sha256=self._sha(remediation),
            catalog_revision=revision if remediation else None,
            decision=decision,
            initiated_by=initiated_by,
            run=run,
        )
        try:
            return self.store.append(record)
        except StoreError as exc:
            exc.unsaved = record  # the caller must not lose what already happened
            raise

    def _sha(self, remediation: Remediation | None) -> str | None:
        if remediation is None:
            return None
        if remediation.playbook_path not in self._playbook_sha:
            self._playbook_sha[remediation.playbook_path] = file_sha256(
                Path(remediation.playbook_path))
        return self._playbook_sha[remediation.playbook_path]


def _without(values: Mapping[str, Any], drop: Iterable[str]) -> dict[str, Any]:
    dropped = set(drop)
    return {k: v for k, v in values.items() if k not in dropped}


def open_engine(config: Config, *, progress: ProgressFn | None = None,
                clock: Clock = utc_now, new_id: IdFactory = new_record_id) -> Engine:
    """An Engine over the config's catalog, inventory, store and a local executor."""
    from .executor.local import LocalExecutor

    catalog = catalog_mod.load(config.catalog, config.playbooks)
    inventory = inventory_mod.load(config.inventory)
    return Engine(
        config=config,
        catalog=catalog,
        inventory=inventory,
        store=open_store(config.store),
        executor=LocalExecutor(config.runs, keep_runs=config.keep_runs, clock=clock),
        revision=catalog_revision(config.catalog, config.playbooks),
        clock=clock,
        new_id=new_id,
        progress=progress,
    )


def is_trouble(record: Mapping[str, Any]) -> bool:
    """True when a record needs a person: escalated, or a run that failed or was unreachable."""
    return record["decision"]["action"] == Action.ESCALATE or record["outcome"] in (
        "failed", "unreachable")
