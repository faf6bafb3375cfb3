"""The policy: alert + catalog entry + state snapshot -> Decision, with every value passed in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remediator import catalog
from remediator.inventory import Inventory
from remediator.models import (
    Action,
    Alert,
    Matcher,
    MatchOp,
    Mode,
    Remediation,
    Stage,
    Target,
    VarSource,
    frozen_map,
)
from remediator.policy import (
    PolicyContext,
    decide,
    decide_manual,
    refire,
    strip_port,
    target_of,
)

DATA = Path(__file__).resolve().parent.parent / "data"
INVENTORY = Inventory(
    sources=(Path("/srv/inventory.yml"),),
    groups={"all": frozenset({"web01", "web02", "db01"}), "web": frozenset({"web01", "web02"})},
    addresses={"web01": "10.0.0.11", "db01": "2001:db8::21"},
)
CTX = PolicyContext(inventory=INVENTORY)


def alert(status: str = "firing", annotations: dict[str, str] | None = None,
          **labels: str) -> Alert:
    """A DiskSpaceLow alert with the given labels (instance web01:9100 unless overridden)."""
    merged = {"alertname": "DiskSpaceLow", "instance": "web01:9100", "mountpoint": "/", **labels}
    return Alert(source="alertmanager", name="DiskSpaceLow", status=status,
                 fingerprint="3f2a9c0d11e4b5a6", labels=frozen_map(merged),
                 annotations=frozen_map(annotations or {}))


def entry(stage: Stage = Stage.OBSERVE, **changes: object) -> Remediation:
    """A disk-cleanup catalog entry at ``stage``, with fields replaced by ``changes``."""
    base = Remediation(
        name="disk-space-cleanup",
        matchers=(Matcher("alertname", MatchOp.EQ, "DiskSpaceLow"),),
        playbook="noop.yml",
        playbook_path=str(DATA / "playbooks" / "noop.yml"),
        stage=stage,
        vars=frozen_map({"disk_mountpoint": VarSource("labels.mountpoint")}),
        static_vars=frozen_map({"disk_threshold_pct": 80}),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# strip_port and target_of


@pytest.mark.parametrize(("value", "expected"), [
    ("web01:9100", "web01"),
    ("web01", "web01"),
    ("10.0.0.11:9100", "10.0.0.11"),
    ("[::1]:9100", "::1"),
    ("[2001:db8::21]:9100", "2001:db8::21"),
    ("[::1]", "::1"),
    ("::1", "::1"),
    ("2001:db8::21", "2001:db8::21"),
    ("  web01:9100 ", "web01"),
    ("web01.example.com:443", "web01.example.com"),
    ("web01:http", "web01:http"),
])
def test_strip_port(value: str, expected: str) -> None:
    """A trailing numeric port is removed; brackets go from IPv6; a bare IPv6 stays whole."""
    assert strip_port(value) == expected


def test_target_of_reads_the_label_and_strips_the_port() -> None:
    """The default target is the ``instance`` label without its port."""
    assert target_of(alert(), Target()) == ("web01", "")


def test_target_of_uses_another_label() -> None:
    """A target label other than ``instance`` is read when the entry names it."""
    assert target_of(alert(host="db01"), Target(label="host")) == ("db01", "")


def test_target_of_extracts_the_pattern_group() -> None:
    """A target pattern's one group picks the host out of the label, then the port goes."""
    fired = alert(job_target="svc://web02:8080/health")
    assert target_of(fired, Target(label="job_target", pattern="^svc://([^/]+)/")) == ("web02", "")


def test_target_of_pattern_with_bracketed_ipv6() -> None:
    """A pattern that yields ``[::1]:9100`` gives ``::1``."""
    fired = alert(job_target="probe=[::1]:9100")
    assert target_of(fired, Target(label="job_target", pattern="probe=(.+)")) == ("::1", "")


def test_target_of_pattern_that_does_not_match() -> None:
    """A label the pattern does not match gives no host and says why."""
    host, why = target_of(alert(), Target(pattern="^svc://([^/]+)/"))
    assert host is None
    assert why == "label instance='web01:9100' does not match target pattern '^svc://([^/]+)/'"


def test_target_of_missing_label() -> None:
    """A missing (or empty) target label gives no host and names the label."""
    host, why = target_of(alert(), Target(label="node"))
    assert host is None
    assert why == "label 'node' is missing: cannot tell which host to fix"
    assert target_of(alert(instance=""), Target())[0] is None


# decide: before the stage matters


def test_no_entry_is_a_skip() -> None:
    """An alert no catalog entry matches is skipped with mode none, naming the alert."""
    decision = decide(alert(), None, CTX)
    assert (decision.action, decision.mode, decision.stage) == (Action.SKIP, Mode.NONE, None)
    assert decision.reason == "no catalog entry matches alert 'DiskSpaceLow'"
    assert not decision.executes


@pytest.mark.parametrize("stage", list(Stage))
def test_resolved_alert_is_skipped_with_mode_none(stage: Stage) -> None:
    """A resolved alert never triggers a fix, at any stage."""
    decision = decide(alert(status="resolved"), entry(stage), CTX)
    assert (decision.action, decision.mode) == (Action.SKIP, Mode.NONE)
    assert "resolved" in decision.reason
    assert decision.hosts == ("web01",)  # the record still names the host
    assert dict(decision.static_vars) == {}
    assert not decision.executes
    unknown = decide(alert(status="resolved", instance="gone:9100"), entry(stage), CTX)
    assert (unknown.action, unknown.hosts) == (Action.SKIP, ())  # not an escalation


def test_missing_target_label_escalates() -> None:
    """Without the target label nobody can tell which host to fix: escalate."""
    fired = Alert(source="generic", name="DiskSpaceLow", status="firing", fingerprint="x",
                  labels=frozen_map({"alertname": "DiskSpaceLow"}))
    decision = decide(fired, entry(Stage.FALLBACK), CTX)
    assert (decision.action, decision.mode) == (Action.ESCALATE, Mode.NONE)
    assert decision.reason == "label 'instance' is missing: cannot tell which host to fix"


def test_target_not_in_inventory_escalates_naming_it() -> None:
    """A target the inventory does not know is escalated, naming the target and inventory."""
    decision = decide(alert(instance="ghost07:9100"), entry(Stage.FALLBACK), CTX)
    assert (decision.action, decision.mode) == (Action.ESCALATE, Mode.NONE)
    assert decision.reason == "target 'ghost07' is not in the inventory /srv/inventory.yml"
    assert decision.hosts == ()


@pytest.mark.parametrize(("instance", "host"), [
    ("web01:9100", "web01"),
    ("web02", "web02"),
    ("10.0.0.11:9100", "web01"),
    ("[2001:db8::21]:9100", "db01"),
])
def test_target_resolves_by_name_or_address(instance: str, host: str) -> None:
    """The target is found by inventory name or by ``ansible_host``, port stripped."""
    decision = decide(alert(instance=instance), entry(), CTX)
    assert decision.action is Action.RUN
    assert decision.hosts == (host,)


def test_target_pattern_is_applied_by_decide() -> None:
    """An entry with a target pattern runs on the host the pattern extracts."""
    remediation = entry(target=Target(label="job_target", pattern="^svc://([^/]+)/"))
    decision = decide(alert(job_target="svc://web02:8080/health"), remediation, CTX)
    assert decision.hosts == ("web02",)


def test_missing_required_var_escalates_naming_the_path() -> None:
    """A required variable the alert lacks escalates, naming its path and variable."""
    fired = Alert(source="generic", name="DiskSpaceLow", status="firing", fingerprint="x",
                  labels=frozen_map({"alertname": "DiskSpaceLow", "instance": "web01"}))
    decision = decide(fired, entry(Stage.OVERSIGHT), CTX)
    assert (decision.action, decision.mode) == (Action.ESCALATE, Mode.NONE)
    assert decision.reason == ("alert has no labels.mountpoint, needed for variable "
                               "'disk_mountpoint'")
    assert decision.hosts == ("web01",)
    assert dict(decision.variables) == {}


def test_optional_var_takes_its_default() -> None:
    """An optional variable the alert lacks gets its default; one without a default is left out."""
    remediation = entry(vars=frozen_map({
        "disk_mountpoint": VarSource("labels.mountpoint"),
        "summary": VarSource("annotations.summary", required=False, default="n/a"),
        "runbook": VarSource("annotations.runbook", required=False),
    }))
    decision = decide(alert(), remediation, CTX)
    assert dict(decision.variables) == {"disk_mountpoint": "/", "summary": "n/a"}


def test_optional_var_present_beats_its_default() -> None:
    """An optional variable the alert has takes the alert's value, not the default."""
    remediation = entry(vars=frozen_map({
        "summary": VarSource("annotations.summary", required=False, default="n/a")}))
    decision = decide(alert(annotations={"summary": "{{ disk }} 91% full"}), remediation, CTX)
    assert dict(decision.variables) == {"summary": "{{ disk }} 91% full"}


def test_variables_come_from_the_good_catalog_entry() -> None:
    """An entry loaded from disk maps labels, name and fingerprint into variables."""
    remediation = catalog.load(DATA / "catalogs" / "good.yml", DATA / "playbooks").get(
        "service-restart")
    assert remediation is not None
    fired = Alert(source="alertmanager", name="ServiceDown", status="firing",
                  fingerprint="9b1e77c2a0d4f3e8", labels=frozen_map({
                      "alertname": "ServiceDown", "job_target": "svc://web02/",
                      "service": "nginx"}))
    assert remediation.matches(fired)
    decision = decide(fired, remediation, CTX)
    assert (decision.action, decision.mode) == (Action.PENDING, Mode.CHECK)
    assert decision.hosts == ("web02",)
    assert dict(decision.variables) == {"service": "nginx", "alert_name": "ServiceDown",
                                        "alert_id": "9b1e77c2a0d4f3e8"}


# decide: stages


@pytest.mark.parametrize(("stage", "action", "mode"), [
    (Stage.OBSERVE, Action.RUN, Mode.CHECK),
    (Stage.HUMAN_INITIATED, Action.PENDING, Mode.CHECK),
    (Stage.OVERSIGHT, Action.RUN, Mode.LIVE),
    (Stage.FALLBACK, Action.RUN, Mode.LIVE),
])
def test_each_stage_gives_its_action_and_mode(stage: Stage, action: Action, mode: Mode) -> None:
    """observe and human-initiated run in check mode; oversight and fallback run live."""
    decision = decide(alert(), entry(stage), CTX)
    assert (decision.action, decision.mode) == (action, mode)
    assert decision.stage is stage
    assert decision.configured_stage is stage
    assert decision.capped_by is None
    assert decision.notes == ()
    assert decision.hosts == ("web01",)
    assert dict(decision.variables) == {"disk_mountpoint": "/"}
    assert dict(decision.static_vars) == {"disk_threshold_pct": 80}
    assert decision.executes


@pytest.mark.parametrize(("configured", "ceiling", "effective", "action", "mode"), [
    (Stage.FALLBACK, Stage.OBSERVE, Stage.OBSERVE, Action.RUN, Mode.CHECK),
    (Stage.OVERSIGHT, Stage.HUMAN_INITIATED, Stage.HUMAN_INITIATED, Action.PENDING, Mode.CHECK),
    (Stage.FALLBACK, Stage.OVERSIGHT, Stage.OVERSIGHT, Action.RUN, Mode.LIVE),
])
def test_max_stage_lowers_the_stage(configured: Stage, ceiling: Stage, effective: Stage,
                                    action: Action, mode: Mode) -> None:
    """A ceiling below the entry's stage lowers it, sets capped_by and says so in a note."""
    decision = decide(alert(), entry(configured), replace(CTX, max_stage=ceiling))
    assert (decision.action, decision.mode) == (action, mode)
    assert decision.stage is effective
    assert decision.configured_stage is configured
    assert decision.capped_by is ceiling
    assert decision.notes == (
        f"stage capped from {configured} to {effective} by the max-stage ceiling",)


@pytest.mark.parametrize("ceiling", [Stage.OBSERVE, Stage.HUMAN_INITIATED, Stage.OVERSIGHT,
                                     Stage.FALLBACK])
def test_max_stage_never_raises_the_stage(ceiling: Stage) -> None:
    """A ceiling at or above an observe entry leaves it at observe, with no cap recorded."""
    decision = decide(alert(), entry(Stage.OBSERVE), replace(CTX, max_stage=ceiling))
    assert (decision.action, decision.mode) == (Action.RUN, Mode.CHECK)
    assert decision.stage is Stage.OBSERVE
    assert decision.capped_by is None
    assert decision.notes == ()


def test_max_stage_equal_to_the_stage_is_no_cap() -> None:
    """A ceiling equal to the entry's stage changes nothing and records no cap."""
    decision = decide(alert(), entry(Stage.OVERSIGHT), replace(CTX, max_stage=Stage.OVERSIGHT))
    assert (decision.mode, decision.capped_by, decision.notes) == (Mode.LIVE, None, ())


def test_capped_stage_is_recorded_on_an_escalation_too() -> None:
    """The cap note is kept when the decision is not a run (a missing target)."""
    decision = decide(alert(instance="ghost:1"), entry(Stage.FALLBACK),
                      replace(CTX, max_stage=Stage.OBSERVE))
    assert decision.action is Action.ESCALATE
    assert decision.capped_by is Stage.OBSERVE
    assert len(decision.notes) == 1


@pytest.mark.parametrize("stage", [Stage.OVERSIGHT, Stage.FALLBACK])
def test_uncommitted_changes_turn_a_live_run_into_a_check_escalation(stage: Stage) -> None:
    """With uncommitted catalog/playbook changes a live stage escalates and runs in check mode."""
    decision = decide(alert(), entry(stage), replace(CTX, uncommitted=True))
    assert (decision.action, decision.mode) == (Action.ESCALATE, Mode.CHECK)
    assert "uncommitted changes" in decision.reason
    assert "--allow-uncommitted" in decision.reason
    assert decision.hosts == ("web01",)


@pytest.mark.parametrize("stage", [Stage.OVERSIGHT, Stage.FALLBACK])
def test_allow_uncommitted_permits_the_live_run(stage: Stage) -> None:
    """allow_uncommitted lets a live stage run live despite uncommitted changes."""
    ctx = replace(CTX, uncommitted=True, allow_uncommitted=True)
    decision = decide(alert(), entry(stage), ctx)
    assert (decision.action, decision.mode) == (Action.RUN, Mode.LIVE)


@pytest.mark.parametrize(("stage", "action"), [(Stage.OBSERVE, Action.RUN),
                                               (Stage.HUMAN_INITIATED, Action.PENDING)])
def test_uncommitted_changes_do_not_block_check_stages(stage: Stage, action: Action) -> None:
    """Check-mode stages are unaffected by uncommitted changes."""
    decision = decide(alert(), entry(stage), replace(CTX, uncommitted=True))
    assert (decision.action, decision.mode) == (action, Mode.CHECK)


# decide_manual


@pytest.mark.parametrize("mode", [Mode.CHECK, Mode.LIVE])
def test_manual_run_is_a_run_started_by_the_person(mode: Mode) -> None:
    """A person's run is a run in the mode they asked for, naming them."""
    decision = decide_manual(entry(Stage.OBSERVE), ("web01", "web02"), mode, "alice",
                             {"disk_mountpoint": "/"}, CTX)
    assert (decision.action, decision.mode) == (Action.RUN, mode)
    assert decision.reason == f"started by alice in {mode} mode"
    assert decision.hosts == ("web01", "web02")
    assert dict(decision.variables) == {"disk_mountpoint": "/"}
    assert dict(decision.static_vars) == {"disk_threshold_pct": 80}


def test_manual_live_run_refused_under_an_observe_ceiling() -> None:
    """During a change freeze (ceiling observe) a manual live run is refused with mode none."""
    decision = decide_manual(entry(Stage.FALLBACK), ("web01",), Mode.LIVE, "alice", {},
                             replace(CTX, max_stage=Stage.OBSERVE))
    assert (decision.action, decision.mode) == (Action.ESCALATE, Mode.NONE)
    assert decision.capped_by is Stage.OBSERVE
    assert "max-stage ceiling is observe" in decision.reason
    assert not decision.executes


def test_manual_check_run_allowed_under_an_observe_ceiling() -> None:
    """A manual check run is still allowed during a change freeze."""
    decision = decide_manual(entry(Stage.FALLBACK), ("web01",), Mode.CHECK, "alice", {},
                             replace(CTX, max_stage=Stage.OBSERVE))
    assert (decision.action, decision.mode) == (Action.RUN, Mode.CHECK)


def test_manual_live_run_refused_when_uncommitted() -> None:
    """A manual live run over uncommitted changes is refused with mode none."""
    decision = decide_manual(entry(), ("web01",), Mode.LIVE, "alice", {},
                             replace(CTX, uncommitted=True))
    assert (decision.action, decision.mode) == (Action.ESCALATE, Mode.NONE)
    assert "uncommitted changes" in decision.reason


def test_manual_live_run_allowed_when_uncommitted_is_allowed() -> None:
    """allow_uncommitted lets a manual live run through."""
    decision = decide_manual(entry(), ("web01",), Mode.LIVE, "alice", {},
                             replace(CTX, uncommitted=True, allow_uncommitted=True))
    assert (decision.action, decision.mode) == (Action.RUN, Mode.LIVE)


def test_manual_check_run_allowed_when_uncommitted() -> None:
    """A manual check run is not blocked by uncommitted changes."""
    decision = decide_manual(entry(), ("web01",), Mode.CHECK, "alice", {},
                             replace(CTX, uncommitted=True))
    assert (decision.action, decision.mode) == (Action.RUN, Mode.CHECK)


# refire: still firing after a fix


FIXED = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("after_s", "escalates"), [
    (5, False),  # within the settle time: monitoring has not seen the fix yet
    (119, False),
    (120, True),
    (600, True),
    (900, True),
    (901, False),  # past the window: a new problem, handled as such
])
def test_refire_escalates_only_between_settle_and_window(after_s: int, escalates: bool) -> None:
    firing = replace(alert(), starts_at="2026-11-26T09:55:00Z")
    decision = decide(firing, entry(Stage.FALLBACK), CTX)
    last = {"id": "fix1", "finished_at": FIXED.isoformat(),
            "alert": {"fingerprint": firing.fingerprint}}
    now = FIXED + timedelta(seconds=after_s)
    result = refire(firing, decision, last, now, 900, 120)
    assert (result is not None) is escalates
    if result is not None:
        assert result.action is Action.ESCALATE and "after the fix fix1" in result.reason


def test_refire_ignores_a_new_incident_and_another_alert() -> None:
    decision = decide(alert(), entry(Stage.FALLBACK), CTX)
    now = FIXED + timedelta(seconds=300)
    later = replace(alert(), starts_at="2026-11-26T10:01:00Z")  # started after the fix
    last = {"id": "fix1", "finished_at": FIXED.isoformat(),
            "alert": {"fingerprint": alert().fingerprint}}
    assert refire(later, decision, last, now, 900, 120) is None
    other = {**last, "alert": {"fingerprint": "another"}}
    assert refire(alert(), decision, other, now, 900, 120) is None
