"""The engine wires one alert through match -> decide -> execute -> notify -> record."""

from __future__ import annotations

import getpass
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import audit, notify
from . import catalog as catalog_mod
from . import inventory as inventory_mod
from .catalog import Catalog
from .config import Config
from .errors import ConfigError, RefusedError, StoreError, UsageError
from .executor import Executor, ProgressFn, RunPlan
from .inventory import Inventory
from .models import (
    Action,
    Alert,
    Decision,
    Mode,
    PendingRequest,
    Remediation,
    RequestState,
    RunResult,
    Stage,
    frozen_map,
)
from .notify.message import plan as plan_message
from .policy import PolicyContext, decide, decide_manual, parse_time, refire
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


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


@dataclass
class Engine:
    """Handles alerts, manual runs and approvals; every decision ends as one audit record."""

    config: Config
    catalog: Catalog
    inventory: Inventory
    store: AuditStore
    executor: Executor
    revision: Mapping[str, Any]
    notifiers: Mapping[str, notify.Notifier] = field(default_factory=dict)
    clock: Clock = utc_now
    new_id: IdFactory = new_record_id
    progress: ProgressFn | None = None
    sleep: Callable[[float], None] = time.sleep
    _playbook_sha: dict[str, str | None] = field(default_factory=dict)

    def context(self, allow_uncommitted: bool = False) -> PolicyContext:
        """The policy's view of the world right now."""
        return PolicyContext(
            inventory=self.inventory,
            max_stage=self.config.max_stage,
            uncommitted=bool(self.revision.get("dirty")),
            allow_uncommitted=allow_uncommitted,
        )

    # -- alerts --

    def handle(self, alerts: Iterable[Alert], *, allow_uncommitted: bool = False,
               initiated_by: str = "automation") -> list[dict[str, Any]]:
        """Match, decide, run, notify and record each alert in turn; the sealed records."""
        ctx = self.context(allow_uncommitted)
        records = []
        for alert in alerts:
            remediation = self.catalog.match(alert)
            decision = decide(alert, remediation, ctx)
            if remediation is not None and decision.hosts:
                last = self.store.last_live_fix(remediation.name, decision.hosts[0])
                decision = refire(alert, decision, last, self.clock(),
                                  self.config.refire_window) or decision
            if remediation is not None and not alert.firing:
                self.store.resolve_requests(alert.fingerprint, _iso(self.clock()))
            record = self._carry_out(alert, remediation, decision, initiated_by,
                                     allow_uncommitted)
            if decision.action is Action.PENDING and remediation is not None:
                self._open_request(record, alert, remediation, decision)
            records.append(record)
        return records

    def run_manual(self, entry: str, hosts: Iterable[str], mode: Mode, *,
                   variables: Mapping[str, str] | None = None, user: str | None = None,
                   allow_uncommitted: bool = False) -> dict[str, Any]:
        """A person starts ``entry`` on ``hosts``; unknown entries, hosts or vars are errors."""
        remediation = self._entry(entry)
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

    # -- approvals --

    def approve(self, request_id: str, *, by: str | None = None,
                allow_uncommitted: bool = False) -> tuple[dict[str, Any], bool]:
        """Start the live run a pending request asked for; (record, True if this call ran it).

        Approving an already approved request runs nothing and returns the run it started.
        """
        by = by or current_user()
        request = self._live_request(request_id)
        if request.state is RequestState.APPROVED:
            if request.result_record:
                return self.store.get(request.result_record), False
            raise RefusedError(f"request {request.id} was approved by {request.decided_by} at "
                               f"{request.decided_at}; its run is in progress")
        remediation = self._entry(request.entry)
        ctx = self.context(allow_uncommitted)
        now = _iso(self.clock())
        if ctx.max_stage is Stage.OBSERVE:
            raise RefusedError("the max-stage ceiling is observe (change freeze): live runs are "
                               "refused; the request stays pending")
        if ctx.uncommitted and not allow_uncommitted:
            raise RefusedError("the catalog or playbooks have uncommitted changes; commit them "
                               "or pass --allow-uncommitted; the request stays pending")
        if not self.store.transition_request(request.id, RequestState.APPROVED, by=by, at=now):
            current = self.store.get_request(request.id)
            if current.result_record:
                return self.store.get(current.result_record), False
            raise RefusedError(f"request {request.id} is {current.state} (by "
                               f"{current.decided_by} at {current.decided_at})")
        decision = Decision(Action.RUN, f"approved by {by} (request {request.id})", Mode.LIVE,
                            remediation.stage, remediation.stage, request.hosts,
                            frozen_map(request.variables), remediation.static_vars)
        record = self._carry_out(_alert_of(request), remediation, decision, by,
                                 allow_uncommitted, request=self._request_link(request, by, now,
                                                                               "approved"))
        self.store.set_request_result(request.id, record["id"])
        return record, True

    def deny(self, request_id: str, *, by: str | None = None, reason: str = ""
             ) -> dict[str, Any]:
        """Close a pending request without running anything; recorded."""
        by = by or current_user()
        request = self._live_request(request_id)
        now = _iso(self.clock())
        if not self.store.transition_request(request.id, RequestState.DENIED, by=by, at=now):
            current = self.store.get_request(request.id)
            raise RefusedError(f"request {request.id} is {current.state} (by "
                               f"{current.decided_by} at {current.decided_at})")
        remediation = self.catalog.get(request.entry)
        text = f"denied by {by}" + (f": {reason}" if reason else "")
        decision = Decision(Action.SKIP, f"{text} (request {request.id})", Mode.NONE,
                            remediation.stage if remediation else None,
                            remediation.stage if remediation else None, request.hosts)
        record = self._carry_out(_alert_of(request), remediation, decision, by, False,
                                 request=self._request_link(request, by, now, "denied"))
        self.store.set_request_result(request.id, record["id"])
        return record

    def pending(self, include_closed: bool = False) -> list[PendingRequest]:
        """Requests waiting for a person (expired ones marked as such on the way)."""
        self._expire()
        states = tuple(RequestState) if include_closed else (RequestState.PENDING,)
        return self.store.requests(states)

    def _live_request(self, request_id: str) -> PendingRequest:
        """The request, after expiring it if its time is up; refuse closed ones clearly."""
        self._expire()
        request = self.store.get_request(request_id)
        if request.state is RequestState.EXPIRED:
            raise RefusedError(f"request {request.id} expired at {request.expires_at}; the "
                               "alert must fire again for a new preview")
        if request.state is RequestState.RESOLVED:
            raise RefusedError(f"request {request.id}: the alert has since resolved (at "
                               f"{request.decided_at}); there is nothing to fix")
        if request.state is RequestState.DENIED:
            raise RefusedError(f"request {request.id} was denied by {request.decided_by} at "
                               f"{request.decided_at}")
        return request

    def _expire(self) -> None:
        now = self.clock()
        for request in self.store.requests():
            expires = parse_time(request.expires_at)
            if expires is not None and expires <= now:
                self.store.transition_request(request.id, RequestState.EXPIRED, by=None,
                                              at=_iso(now))

    def _open_request(self, record: Mapping[str, Any], alert: Alert, remediation: Remediation,
                      decision: Decision) -> None:
        ttl = remediation.approval_ttl_s or self.config.approval_ttl
        created = parse_time(record["created_at"]) or self.clock()
        preview = {host: [{"name": t["name"], "diff": t["diff"]} for t in result["tasks"]
                          if t["changed"]]
                   for host, result in (record.get("hosts") or {}).items()}
        self.store.add_request(PendingRequest(
            id=record["id"], entry=remediation.name, hosts=decision.hosts,
            fingerprint=alert.fingerprint, alert=alert.as_dict(), variables=decision.variables,
            preview=preview, created_at=record["created_at"],
            expires_at=_iso(created + timedelta(seconds=ttl))))

    @staticmethod
    def _request_link(request: PendingRequest, by: str, at: str, state: str) -> dict[str, Any]:
        return {"id": request.id, "state": state, "by": by, "at": at,
                "requested_at": request.created_at}

    # -- the common path --

    def _entry(self, name: str) -> Remediation:
        remediation = self.catalog.get(name)
        if remediation is None:
            names = ", ".join(e.name for e in self.catalog) or "none"
            raise UsageError(f"no catalog entry '{name}' (entries: {names})",
                             where=str(self.catalog.path))
        return remediation

    def _carry_out(self, alert: Alert | None, remediation: Remediation | None,
                   decision: Decision, initiated_by: str, allow_uncommitted: bool,
                   request: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run the decision's playbook if it has one, notify, then append the record."""
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
            created_at=_iso(self.clock()),
            alert=alert,
            hosts=decision.hosts,
            remediation=remediation,
            playbook_sha256=self._sha(remediation),
            catalog_revision=revision if remediation else None,
            decision=decision,
            initiated_by=initiated_by,
            run=run,
            extra={"request": dict(request)} if request else None,
        )
        record["notifications"] = self._notify(record, remediation)
        try:
            return self.store.append(record)
        except StoreError as exc:
            exc.unsaved = record  # the caller must not lose what already happened
            raise

    def _notify(self, record: dict[str, Any], remediation: Remediation | None
                ) -> list[dict[str, Any]]:
        """Tell the entry's channels what its stage calls for; delivery results for the record."""
        message = plan_message(record, record_url=self.config.notifications.record_url)
        if message is None or remediation is None:
            return []
        names = remediation.notify if remediation.notify is not None \
            else self.config.notifications.default
        targets = [self.notifiers[n] for n in names if n in self.notifiers]
        return notify.deliver(targets, message, self.config.notifications, self.sleep)

    def _sha(self, remediation: Remediation | None) -> str | None:
        if remediation is None:
            return None
        if remediation.playbook_path not in self._playbook_sha:
            self._playbook_sha[remediation.playbook_path] = file_sha256(
                Path(remediation.playbook_path))
        return self._playbook_sha[remediation.playbook_path]


def _alert_of(request: PendingRequest) -> Alert | None:
    """The alert a request was opened for, rebuilt from its stored form."""
    data = request.alert
    if data is None:
        return None
    return Alert(source=data["source"], name=data["name"], status=data["status"],
                 fingerprint=data["fingerprint"], labels=frozen_map(data["labels"]),
                 annotations=frozen_map(data["annotations"]), starts_at=data.get("starts_at"),
                 ends_at=data.get("ends_at"))


def _without(values: Mapping[str, Any], drop: Iterable[str]) -> dict[str, Any]:
    dropped = set(drop)
    return {k: v for k, v in values.items() if k not in dropped}


def check_channels(catalog: Catalog, config: Config) -> list[str]:
    """Problems with notification channel names used by the catalog or the default."""
    known = set(config.notifications.channels)
    problems = []
    for entry in catalog:
        for name in entry.notify or ():
            if name not in known:
                problems.append(f"{entry.source_file}:{entry.source_line}: entry '{entry.name}':"
                                f" key 'notify': no channel '{name}' in the config")
    return problems


def open_engine(config: Config, *, progress: ProgressFn | None = None,
                clock: Clock = utc_now, new_id: IdFactory = new_record_id,
                env: Mapping[str, str] | None = None) -> Engine:
    """An Engine over the config's catalog, inventory, store, channels and a local executor."""
    from .executor.local import LocalExecutor

    catalog = catalog_mod.load(config.catalog, config.playbooks)
    problems = check_channels(catalog, config)
    if problems:
        raise ConfigError("; ".join(problems))
    inventory = inventory_mod.load(config.inventory)
    return Engine(
        config=config,
        catalog=catalog,
        inventory=inventory,
        store=open_store(config.store),
        executor=LocalExecutor(config.runs, keep_runs=config.keep_runs, clock=clock),
        revision=catalog_revision(config.catalog, config.playbooks),
        notifiers=notify.build(config.notifications, os.environ if env is None else env),
        clock=clock,
        new_id=new_id,
        progress=progress,
    )


def open_store_only(config: Config) -> AuditStore:
    """The store alone, for commands that only read it."""
    return open_store(config.store)


def is_trouble(record: Mapping[str, Any]) -> bool:
    """True when a record needs a person: escalated, or a run that failed or was unreachable."""
    return record["decision"]["action"] == Action.ESCALATE or record["outcome"] in (
        "failed", "unreachable")
