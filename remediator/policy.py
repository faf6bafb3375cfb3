"""The policy: from an alert, its catalog entry and a state snapshot to a Decision. Pure."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from .catalog import resolve_var
from .common import parse_time
from .inventory import Inventory
from .models import (
    EMPTY_MAP,
    Action,
    Alert,
    Decision,
    Mode,
    Remediation,
    Stage,
    Target,
    frozen_map,
)
from .reasons import Reason
from .revision import dirty_summary

_BRACKETED_RE = re.compile(r"^\[([^\]]+)\](?::\d+)?$")
_HOST_PORT_RE = re.compile(r"^([^:]+):\d+$")
_REVIEW_HINT = ("install the reviewed version, or commit a requirements.yml that pins the "
                "installed one, or pass --allow-uncommitted")


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """What the policy may look at besides the alert: all of it a read-only snapshot."""

    inventory: Inventory
    max_stage: Stage | None = None
    uncommitted: bool = False  # what runs read differs from the committed revision
    allow_uncommitted: bool = False
    dirty_paths: tuple[str, ...] = ()  # which paths differ, as git names them
    # collection -> why its installed version is not the reviewed one (galaxy.unreviewed)
    unreviewed: Mapping[str, str] = field(default_factory=dict)

    def uncommitted_changes(self) -> str:
        """``uncommitted changes`` with the paths that have them, for refusals."""
        paths = dirty_summary(self.dirty_paths)
        return f"uncommitted changes ({paths})" if paths else "uncommitted changes"

    def unreviewed_collection(self, remediation: Remediation) -> str | None:
        """Why the entry's collection is not at the reviewed version; None when it is, when the
        entry runs no collection playbook, or when unreviewed changes are allowed."""
        ref = remediation.collection
        if ref is None or self.allow_uncommitted:
            return None
        return self.unreviewed.get(ref.name)


@functools.lru_cache(maxsize=65536)  # alerts name the same hosts over and over
def strip_port(value: str) -> str:
    """``host:9100`` -> ``host``; ``[::1]:9100`` -> ``::1``; a bare IPv6 address stays whole."""
    value = value.strip()
    bracketed = _BRACKETED_RE.match(value)
    if bracketed:
        return bracketed.group(1)
    plain = _HOST_PORT_RE.match(value)
    return plain.group(1) if plain else value


def target_of(alert: Alert, target: Target) -> tuple[str | None, str]:
    """The host named by the alert (port stripped), or None and the reason it has none."""
    raw = alert.labels.get(target.label)
    if not raw:
        return None, f"label '{target.label}' is missing: cannot tell which host to fix"
    value = raw
    if target.pattern:
        found = target.host_part(raw)
        if found is None:
            return None, (f"label {target.label}={raw!r} does not match target pattern "
                          f"{target.pattern!r}")
        value = found
    return strip_port(value), ""


def alert_variables(alert: Alert, remediation: Remediation) -> tuple[dict[str, str], str]:
    """The allow-listed playbook variables from the alert, or an empty map and what is missing."""
    result: dict[str, str] = {}
    for var, source in remediation.vars.items():
        value = resolve_var(alert, source.path)
        if value is None:
            if source.required:
                return {}, f"alert has no {source.path}, needed for variable '{var}'"
            if source.default is None:
                continue
            value = source.default
        result[var] = value
    return result, ""


def decide(alert: Alert, remediation: Remediation | None, ctx: PolicyContext) -> Decision:
    """Decide what to do with one alert: run (check or live), pending, skip or escalate."""
    if remediation is None:
        return Decision(Action.SKIP, Reason.NO_ENTRY,
                        f"no catalog entry matches alert '{alert.name}'", Mode.NONE, None)
    configured = remediation.stage
    stage = configured.capped(ctx.max_stage)
    capped_by = ctx.max_stage if stage is not configured else None
    notes = (f"stage capped from {configured} to {stage} by the max-stage ceiling",) \
        if capped_by else ()

    def final(action: Action, code: Reason, reason: str, mode: Mode,
              hosts: tuple[str, ...] = (), variables: dict[str, str] | None = None) -> Decision:
        # ``variables`` is alert_variables' own new dict: wrapped, not copied
        return Decision(action, code, reason, mode, stage, configured, hosts,
                        MappingProxyType(variables) if variables else EMPTY_MAP,
                        remediation.static_vars if mode is not Mode.NONE else EMPTY_MAP,
                        capped_by, notes)

    target, why = target_of(alert, remediation.target)
    if not alert.firing:  # its host still names the record (audit list, --host)
        host = ctx.inventory.resolve(target) if target is not None else None
        return final(Action.SKIP, Reason.RESOLVED,
                     "alert is resolved: resolved alerts never trigger a fix", Mode.NONE,
                     (host,) if host else ())
    if target is None:
        return final(Action.ESCALATE, Reason.NO_TARGET, why, Mode.NONE)
    host = ctx.inventory.resolve(target)
    if host is None:
        return final(Action.ESCALATE, Reason.UNKNOWN_HOST,
                     f"target '{target}' is not in the inventory {ctx.inventory.path}", Mode.NONE)
    variables, missing = alert_variables(alert, remediation)
    if missing:
        return final(Action.ESCALATE, Reason.MISSING_VARIABLE, missing, Mode.NONE, (host,))
    hosts = (host,)
    if stage is Stage.OBSERVE:
        return final(Action.RUN, Reason.STAGE,
                     "stage observe: check-mode run shows what the fix would change", Mode.CHECK,
                     hosts, variables)
    if stage is Stage.HUMAN_INITIATED:
        return final(Action.PENDING, Reason.STAGE, "stage human-initiated: check-mode preview; "
                     "a person must approve the live run", Mode.CHECK, hosts, variables)
    if ctx.uncommitted and not ctx.allow_uncommitted:
        return final(Action.ESCALATE, Reason.UNCOMMITTED,
                     f"stage {stage}: live run refused, the repository has "
                     f"{ctx.uncommitted_changes()}; ran in check mode instead (commit them, or "
                     "pass --allow-uncommitted)", Mode.CHECK, hosts, variables)
    unreviewed = ctx.unreviewed_collection(remediation)
    if unreviewed:
        return final(Action.ESCALATE, Reason.UNCOMMITTED,
                     f"stage {stage}: live run refused, {unreviewed}; ran in check mode instead "
                     f"({_REVIEW_HINT})", Mode.CHECK, hosts, variables)
    return final(Action.RUN, Reason.STAGE, f"stage {stage}: live run", Mode.LIVE, hosts, variables)


def refire(alert: Alert, decision: Decision, last_fix: Mapping[str, Any] | None, now: datetime,
           window_s: int, settle_s: int = 0) -> Decision | None:
    """An escalation when the alert is still firing after a recent successful fix, else None.

    The same incident (it started before the fix finished) arriving again within ``window_s``
    of that fix means the fix did not hold: a person must look, the fix is not run again.
    Within ``settle_s`` of the fix it is only a re-delivery: monitoring has not yet seen the
    fix (a scrape, an evaluation and Alertmanager's group interval must pass).
    """
    if last_fix is None or not alert.firing or decision.mode is Mode.NONE:
        return None
    if (last_fix.get("alert") or {}).get("fingerprint") != alert.fingerprint:
        return None  # the fix was for another alert on this host
    fixed_at = parse_time(last_fix.get("finished_at"))
    if fixed_at is None or not settle_s <= (now - fixed_at).total_seconds() <= window_s:
        return None
    started = parse_time(alert.starts_at)
    if started is not None and started > fixed_at:
        return None  # a new incident, not the old one still firing
    ago = int((now - fixed_at).total_seconds())
    return Decision(Action.ESCALATE, Reason.REFIRE,
                    f"still firing {ago}s after the fix {last_fix['id']}: the fix did not hold, "
                    "a person must look", Mode.NONE, decision.stage,
                    decision.configured_stage, decision.hosts, capped_by=decision.capped_by,
                    notes=decision.notes)


def decide_manual(remediation: Remediation, hosts: tuple[str, ...], mode: Mode, user: str,
                  variables: Mapping[str, str], ctx: PolicyContext) -> Decision:
    """Decide a run a person starts by hand; a refused live run is an escalate with no mode."""
    stage = remediation.stage
    base = Decision(Action.RUN, Reason.MANUAL, f"started by {user} in {mode} mode", mode, stage,
                    stage, hosts, frozen_map(variables), remediation.static_vars)
    if mode is Mode.LIVE and ctx.max_stage is Stage.OBSERVE:
        return Decision(Action.ESCALATE, Reason.MAX_STAGE, "live run refused: the max-stage "
                        "ceiling is observe (change freeze); use --check", Mode.NONE, stage, stage,
                        hosts,
                        capped_by=ctx.max_stage)
    if mode is Mode.LIVE and ctx.uncommitted and not ctx.allow_uncommitted:
        return Decision(Action.ESCALATE, Reason.UNCOMMITTED, "live run refused: the repository has "
                        f"{ctx.uncommitted_changes()} (commit them, or pass "
                        "--allow-uncommitted)",
                        Mode.NONE, stage, stage, hosts)
    unreviewed = ctx.unreviewed_collection(remediation)
    if mode is Mode.LIVE and unreviewed:
        return Decision(Action.ESCALATE, Reason.UNCOMMITTED,
                        f"live run refused: {unreviewed} ({_REVIEW_HINT})",
                        Mode.NONE, stage, stage, hosts)
    return base
