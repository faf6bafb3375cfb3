"""Guardrail settings, maintenance windows, the cron parser and the pure guardrail checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from remediator.guardrails import GuardFacts, apply, radius
from remediator.limits import DEFAULT, Cron, Guardrails, Window, parse
from remediator.models import Action, Decision, Mode, Stage
from remediator.reasons import Reason

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday
LIVE = Decision(Action.RUN, Reason.STAGE, "stage oversight: live run", Mode.LIVE, Stage.OVERSIGHT,
                Stage.OVERSIGHT, ("web01",))
CHECK = Decision(Action.RUN, Reason.STAGE, "stage observe: check-mode run", Mode.CHECK, Stage.OBSERVE,
                 Stage.OBSERVE, ("web01",))
NOTHING = Decision(Action.SKIP, Reason.RESOLVED, "alert is resolved", Mode.NONE, Stage.OVERSIGHT,
                   Stage.OVERSIGHT)
OPEN_WINDOW = Window("patching", start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1))


def at(text: str) -> datetime:
    """An aware UTC datetime from ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- limits.parse --


def test_parse_nothing_gives_the_conservative_defaults() -> None:
    """No ``guardrails:`` mapping leaves the documented defaults, with no problems."""
    assert parse(None) == (DEFAULT, [])
    assert parse({}) == (DEFAULT, [])
    assert (DEFAULT.throttle_host, DEFAULT.throttle_entry, DEFAULT.throttle_window_s) == (
        3, 20, 3600)
    assert (DEFAULT.cooldown_s, DEFAULT.max_hosts, DEFAULT.max_percent, DEFAULT.group) == (
        300, 10, None, None)
    assert (DEFAULT.breaker_failures, DEFAULT.recurrence_host, DEFAULT.recurrence_entry,
            DEFAULT.recurrence_window_s) == (3, 3, 20, 86400)
    assert (DEFAULT.lock_timeout_s, DEFAULT.storm_window_s, DEFAULT.maintenance) == (0, 0, ())


def test_parse_sets_every_key() -> None:
    """Each documented key lands on its own field."""
    rules, problems = parse({
        "throttle": {"per_host": 1, "per_entry": 5, "window": 600},
        "cooldown": 0,
        "blast_radius": {"max_hosts": 4, "max_percent": 25, "group": "web"},
        "breaker": {"failures": 2},
        "recurrence": {"per_host": 6, "overall": 40, "window": 7200},
        "lock_timeout": 900,
        "storm": {"window": 30},
        "maintenance": [{"name": "nightly", "cron": "0 2 * * 6", "duration": 7200},
                        {"start": "2026-01-10T00:00:00Z", "end": "2026-01-10T06:00:00+00:00"}],
    })
    assert problems == []
    assert rules == Guardrails(
        throttle_host=1, throttle_entry=5, throttle_window_s=600, cooldown_s=0, max_hosts=4,
        max_percent=25.0, group="web", breaker_failures=2, recurrence_host=6,
        recurrence_entry=40, recurrence_window_s=7200, lock_timeout_s=900, storm_window_s=30,
        maintenance=(Window("nightly", cron="0 2 * * 6", duration_s=7200),
                     Window("window 2", start=at("2026-01-10 00:00"),
                            end=at("2026-01-10 06:00"))))


def test_parse_overrides_only_the_keys_given() -> None:
    """An entry's mapping is laid over the config's defaults, key by key."""
    base = replace(DEFAULT, throttle_host=7, cooldown_s=60)
    rules, problems = parse({"throttle": {"per_entry": 2}}, base)
    assert problems == []
    assert (rules.throttle_host, rules.throttle_entry, rules.cooldown_s) == (7, 2, 60)


def test_parse_naive_maintenance_times_are_utc() -> None:
    """A start/end without a zone (as YAML gives a bare timestamp) is read as UTC."""
    rules, problems = parse({"maintenance": [
        {"name": "m", "start": datetime(2026, 1, 10, 1, 0), "end": "2026-01-10T03:00"}]})
    assert problems == []
    (window,) = rules.maintenance
    assert (window.start, window.end) == (at("2026-01-10 01:00"), at("2026-01-10 03:00"))


@pytest.mark.parametrize(("node", "key", "words"), [
    ({"throttel": {"per_host": 1}}, "throttel", "unknown guardrail"),
    ({"cooldown": -1}, "cooldown", "'cooldown' must be a non-negative integer"),
    ({"cooldown": True}, "cooldown", "non-negative integer"),
    ({"throttle": {"per_host": False}}, "throttle", "'per_host' must be a non-negative"),
    ({"throttle": {"window": "1h"}}, "throttle", "'window' must be a non-negative"),
    ({"recurrence": {"overall": 2.5}}, "recurrence", "'overall' must be"),
    ({"breaker": 3}, "breaker", "expected a mapping"),
    ({"blast_radius": {"max_percent": 50}}, "blast_radius", "'group'"),
    ({"blast_radius": {"max_percent": 0, "group": "web"}}, "blast_radius", "0 < value <= 100"),
    ({"blast_radius": {"max_percent": 101, "group": "web"}}, "blast_radius", "0 < value"),
    ({"blast_radius": {"max_host": 2}}, "blast_radius", "unknown key(s) max_host"),
    ({"maintenance": [{"name": "n", "cron": "0 25 * * *", "duration": 60}]}, "maintenance",
     "n: cron '0 25 * * *'"),
    ({"maintenance": [{"cron": "0 2 * *", "duration": 60}]}, "maintenance", "5 fields"),
    ({"maintenance": [{"cron": "0 2 * * *"}]}, "maintenance", "'duration' must be a positive number"),
    ({"maintenance": [{"cron": "0 2 * * *", "duration": 0}]}, "maintenance", "'duration'"),
    ({"maintenance": [{"start": "2026-01-10T06:00Z", "end": "2026-01-10T05:00Z"}]},
     "maintenance", "start before end"),
    ({"maintenance": [{"start": "soon", "end": "later"}]}, "maintenance", "ISO times"),
    ({"maintenance": [{"when": "always"}]}, "maintenance", "expected {cron, duration}"),
    ({"maintenance": {"cron": "0 2 * * *"}}, "maintenance", "expected a list"),
    ([1, 2], "guardrails", "expected a mapping"),
])
def test_parse_reports_bad_input_by_key(node: object, key: str, words: str) -> None:
    """Each kind of mistake is one (key, message) problem naming the key."""
    _rules, problems = parse(node)
    assert len(problems) == 1, problems
    assert problems[0][0] == key
    assert words in problems[0][1]


def test_parse_does_not_apply_a_rejected_value() -> None:
    """A bad value is reported and the base value stays."""
    rules, problems = parse({"cooldown": -5, "throttle": {"per_host": 1},
                             "blast_radius": {"max_percent": 50}})
    assert [key for key, _ in problems] == ["cooldown", "blast_radius"]
    assert (rules.cooldown_s, rules.throttle_host, rules.max_percent, rules.group) == (
        DEFAULT.cooldown_s, 1, None, None)


def test_parse_reports_a_misspelt_sub_key() -> None:
    """A misspelt limit inside a section is reported, not silently left at its default."""
    _rules, problems = parse({"throttle": {"per_hots": 1}})
    assert [key for key, _ in problems] == ["throttle"]


def test_parse_rejects_a_bool_max_percent() -> None:
    """``max_percent: true`` is a mistake, like a bool anywhere else."""
    _rules, problems = parse({"blast_radius": {"max_percent": True, "group": "web"}})
    assert [key for key, _ in problems] == ["blast_radius"]


# -- Cron --


def test_cron_star_matches_every_minute() -> None:
    """``* * * * *`` matches any moment."""
    cron = Cron.parse("* * * * *")
    assert cron.matches(at("2026-01-05 12:00")) and cron.matches(at("2027-12-31 23:59"))


def test_cron_lists_ranges_and_steps() -> None:
    """Lists, ranges, ``*/n`` and ``a-b/n`` expand to the right values."""
    cron = Cron.parse("0,30 9-11 */10 1-12/3 *")
    assert cron.fields[0] == {0, 30}
    assert cron.fields[1] == {9, 10, 11}
    assert cron.fields[2] == {1, 11, 21, 31}
    assert cron.fields[3] == {1, 4, 7, 10}
    assert Cron.parse("10-30/10 * * * *").fields[0] == {10, 20, 30}
    assert cron.matches(at("2026-04-11 10:30"))
    assert not cron.matches(at("2026-04-11 10:31"))
    assert not cron.matches(at("2026-05-11 10:30"))


def test_cron_day_of_week_seven_is_sunday_in_a_range() -> None:
    """``5-7`` covers Friday, Saturday and Sunday (7 is Sunday, like 0)."""
    cron = Cron.parse("0 0 * * 5-7")
    assert cron.fields[4] == {5, 6, 0}
    assert cron.matches(at("2026-01-11 00:00"))  # a Sunday
    assert not cron.matches(at("2026-01-12 00:00"))  # a Monday


def test_cron_lone_seven_is_sunday() -> None:
    """``0 0 * * 7`` runs on Sundays, the same as ``0 0 * * 0``."""
    assert Cron.parse("0 0 * * 7").fields[4] == {0}


def test_cron_restricted_day_fields_either_may_match() -> None:
    """With both day-of-month and day-of-week restricted, a day matching either one matches."""
    cron = Cron.parse("0 0 13 * 5")
    assert cron.matches(at("2026-01-13 00:00"))  # the 13th, a Tuesday
    assert cron.matches(at("2026-01-09 00:00"))  # a Friday, the 9th
    assert cron.matches(at("2026-02-13 00:00"))  # both
    assert not cron.matches(at("2026-01-14 00:00"))  # neither


def test_cron_one_restricted_day_field_must_match() -> None:
    """With only one day field restricted, that one decides."""
    fridays = Cron.parse("0 0 * * 5")
    assert fridays.matches(at("2026-01-09 00:00"))
    assert not fridays.matches(at("2026-01-13 00:00"))
    thirteenth = Cron.parse("0 0 13 * *")
    assert thirteenth.matches(at("2026-01-13 00:00"))
    assert not thirteenth.matches(at("2026-01-09 00:00"))


def test_cron_matches_in_utc() -> None:
    """A moment given in another zone is compared as UTC."""
    cron = Cron.parse("30 2 * * *")
    assert cron.matches(datetime(2026, 1, 10, 4, 30, tzinfo=timezone(timedelta(hours=2))))
    assert not cron.matches(datetime(2026, 1, 10, 2, 30, tzinfo=timezone(timedelta(hours=2))))


@pytest.mark.parametrize("text", [
    "", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
    "* * * 0 *", "* * * 13 *", "* * * * 8", "a * * * *", "*/0 * * * *", "5-1 * * * *",
    "1,,2 * * * *", "-1 * * * *", "* * * * MON",
])
def test_cron_bad_fields_raise(text: str) -> None:
    """A malformed or out-of-range schedule is a ValueError naming the schedule."""
    with pytest.raises(ValueError, match="cron"):
        Cron.parse(text)


# -- Window --


NIGHTLY = Window("nightly", cron="0 2 * * 6", duration_s=7200)  # Saturdays 02:00-04:00


@pytest.mark.parametrize(("moment", "ends"), [
    ("2026-01-10 02:00", "2026-01-10 04:00"),
    ("2026-01-10 02:30", "2026-01-10 04:00"),
    ("2026-01-10 03:59", "2026-01-10 04:00"),
    ("2026-01-10 04:00", None),
    ("2026-01-10 04:01", None),
    ("2026-01-10 01:59", None),
    ("2026-01-09 02:30", None),  # a Friday
    ("2026-01-11 02:30", None),  # a Sunday
])
def test_cron_window_is_active_for_its_duration(moment: str, ends: str | None) -> None:
    """Inside a cron window ``active`` is when it ends; outside it is None."""
    assert NIGHTLY.active(at(moment)) == (at(ends) if ends else None)


def test_cron_window_counts_seconds_within_the_minute() -> None:
    """A window that is not whole minutes ends to the second."""
    window = Window("short", cron="0 2 * * *", duration_s=90)
    assert window.active(at("2026-01-10 02:01") + timedelta(seconds=29)) == \
        at("2026-01-10 02:01") + timedelta(seconds=30)
    assert window.active(at("2026-01-10 02:01") + timedelta(seconds=30)) is None


def test_cron_window_runs_past_midnight() -> None:
    """A Saturday 23:00 window of two hours is still active early on Sunday."""
    window = Window("late", cron="0 23 * * 6", duration_s=7200)
    assert window.active(at("2026-01-11 00:30")) == at("2026-01-11 01:00")
    assert window.active(at("2026-01-11 01:00")) is None


def test_fixed_window_is_half_open() -> None:
    """A start/end window includes its start and excludes its end."""
    window = Window("fixed", start=at("2026-01-10 00:00"), end=at("2026-01-10 06:00"))
    assert window.active(at("2026-01-10 00:00")) == at("2026-01-10 06:00")
    assert window.active(at("2026-01-10 05:59")) == at("2026-01-10 06:00")
    assert window.active(at("2026-01-10 06:00")) is None
    assert window.active(at("2026-01-09 23:59")) is None


def test_window_without_schedule_is_never_active() -> None:
    """A window with neither cron nor both times never bites."""
    assert Window("empty").active(NOW) is None
    assert Window("half", start=NOW - timedelta(hours=1)).active(NOW) is None


# -- apply --


def test_non_executing_decisions_pass_through_untouched() -> None:
    """A decision that runs nothing is returned as it is, whatever the facts."""
    facts = GuardFacts(in_progress="r1", host_runs=(NOW,) * 9, breaker_since="x")
    rules = replace(DEFAULT, maintenance=(OPEN_WINDOW,))
    assert apply(NOTHING, facts, rules, NOW) is NOTHING


def test_no_limit_biting_keeps_the_decision() -> None:
    """Under every limit, the decision is unchanged."""
    facts = GuardFacts(host_runs=(NOW,) * 2, entry_runs=19, host_fixes=2, entry_fixes=19,
                       last_run_end=NOW - timedelta(seconds=300))
    assert apply(LIVE, facts, DEFAULT, NOW) == LIVE


def test_maintenance_caps_a_live_run_to_a_check_run() -> None:
    """During a maintenance window a live decision becomes an observe-stage check run."""
    noted = replace(LIVE, notes=("stage capped",))
    guarded = apply(noted, GuardFacts(), replace(DEFAULT, maintenance=(OPEN_WINDOW,)), NOW)
    assert (guarded.action, guarded.mode, guarded.stage) == (Action.RUN, Mode.CHECK,
                                                            Stage.OBSERVE)
    assert guarded.reason == "maintenance window 'patching': check-mode run only"
    assert guarded.notes == ("stage capped", "maintenance window 'patching' until "
                             f"{(NOW + timedelta(hours=1)).isoformat()}: observe only")
    assert guarded.hosts == LIVE.hosts and guarded.configured_stage is Stage.OVERSIGHT


def test_maintenance_outside_the_window_does_nothing() -> None:
    """A window that is not active leaves the live decision alone."""
    past = Window("past", start=NOW - timedelta(hours=2), end=NOW - timedelta(hours=1))
    assert apply(LIVE, GuardFacts(), replace(DEFAULT, maintenance=(past, NIGHTLY)), NOW) == LIVE


def test_maintenance_leaves_an_observe_check_run_alone() -> None:
    """A check run at observe is already what a maintenance window allows."""
    rules = replace(DEFAULT, maintenance=(OPEN_WINDOW,))
    assert apply(CHECK, GuardFacts(), rules, NOW) == CHECK


def test_open_breaker_holds_a_live_run_at_human_initiated() -> None:
    """With the breaker open a live decision becomes a pending check-mode preview."""
    facts = GuardFacts(breaker_since="2026-01-05T11:00:00.000+00:00")
    guarded = apply(LIVE, facts, DEFAULT, NOW)
    assert (guarded.action, guarded.mode, guarded.stage) == (Action.PENDING, Mode.CHECK,
                                                            Stage.HUMAN_INITIATED)
    assert guarded.reason.startswith("circuit breaker open")
    assert "since 2026-01-05T11:00:00.000+00:00" in guarded.notes[-1]
    assert "remediator breaker reset" in guarded.notes[-1]


def test_open_breaker_lets_a_check_run_through() -> None:
    """The breaker holds live runs only; a check run is not a change."""
    assert apply(CHECK, GuardFacts(breaker_since="x"), DEFAULT, NOW) == CHECK


def test_run_in_progress_is_skipped_as_locked() -> None:
    """An unfinished run of the entry on the host skips the decision, naming that run."""
    for decision in (LIVE, CHECK):
        guarded = apply(decision, GuardFacts(in_progress="0190abc"), DEFAULT, NOW)
        assert (guarded.action, guarded.mode) == (Action.SKIP, Mode.NONE)
        assert guarded.reason.startswith("locked:") and "record 0190abc" in guarded.reason


def test_cooldown_skips_with_the_next_allowed_time() -> None:
    """Within the cooldown after a run, the decision is skipped and says when to retry."""
    facts = GuardFacts(last_run_end=NOW - timedelta(seconds=100))
    guarded = apply(LIVE, facts, DEFAULT, NOW)
    assert (guarded.action, guarded.mode) == (Action.SKIP, Mode.NONE)
    assert guarded.reason == ("cooldown: the last run on this host ended 100s ago; next run "
                              f"allowed at {(NOW + timedelta(seconds=200)).isoformat()}")


def test_cooldown_ends_and_can_be_turned_off() -> None:
    """At the end of the cooldown, or with cooldown 0, the run goes ahead."""
    ended = GuardFacts(last_run_end=NOW - timedelta(seconds=300))
    assert apply(LIVE, ended, DEFAULT, NOW) == LIVE
    just_now = GuardFacts(last_run_end=NOW)
    assert apply(LIVE, just_now, replace(DEFAULT, cooldown_s=0), NOW) == LIVE


def test_host_throttle_escalates_with_count_and_limit() -> None:
    """At the per-host limit the decision escalates with no run, saying count and limit."""
    facts = GuardFacts(host_runs=(NOW,) * 2)
    rules = replace(DEFAULT, throttle_host=2, throttle_window_s=600)
    guarded = apply(LIVE, facts, rules, NOW)
    assert (guarded.action, guarded.mode) == (Action.ESCALATE, Mode.NONE)
    assert guarded.reason == "throttled: 2 runs on this host in the last 600s (limit 2)"
    assert apply(LIVE, GuardFacts(host_runs=(NOW,)), rules, NOW) == LIVE


def test_entry_throttle_escalates_with_count_and_limit() -> None:
    """At the per-entry limit the decision escalates with no run, check runs included."""
    rules = replace(DEFAULT, throttle_entry=5)
    guarded = apply(CHECK, GuardFacts(entry_runs=5), rules, NOW)
    assert (guarded.action, guarded.mode) == (Action.ESCALATE, Mode.NONE)
    assert guarded.reason == "throttled: 5 runs of this entry in the last 3600s (limit 5)"
    assert apply(CHECK, GuardFacts(entry_runs=4), rules, NOW) == CHECK


def test_recurrence_escalates_but_the_fix_still_runs() -> None:
    """Too many fixes on a host escalate to a person while the live run goes ahead."""
    guarded = apply(LIVE, GuardFacts(host_fixes=3), DEFAULT, NOW)
    assert (guarded.action, guarded.mode, guarded.stage) == (Action.ESCALATE, Mode.LIVE,
                                                            Stage.OVERSIGHT)
    assert guarded.reason.startswith("recurrence: 4 fixes on this host within 86400s")
    assert "(the fix still runs)" in guarded.reason
    assert guarded.executes


def test_recurrence_names_host_and_entry_together() -> None:
    """When the host and the entry both recur, the reason says both."""
    rules = replace(DEFAULT, recurrence_host=1, recurrence_entry=2, recurrence_window_s=60)
    guarded = apply(LIVE, GuardFacts(host_fixes=1, entry_fixes=2), rules, NOW)
    assert guarded.reason.startswith(
        "recurrence: 2 fixes on this host and 3 fixes of this entry within 60s")


def test_recurrence_ignores_check_runs() -> None:
    """A check run changes nothing, so it never counts as a recurring fix."""
    assert apply(CHECK, GuardFacts(host_fixes=50, entry_fixes=50), DEFAULT, NOW) == CHECK


@pytest.mark.parametrize(("facts", "rules", "starts"), [
    (GuardFacts(in_progress="r1", last_run_end=NOW, host_runs=(NOW,) * 5, entry_runs=50,
                host_fixes=9), DEFAULT, "locked"),
    (GuardFacts(last_run_end=NOW, host_runs=(NOW,) * 5, entry_runs=50), DEFAULT, "cooldown"),
    (GuardFacts(host_runs=(NOW,) * 5, entry_runs=50, host_fixes=9), DEFAULT,
     "throttled: 5 runs on this host"),
    (GuardFacts(entry_runs=50, host_fixes=9), DEFAULT, "throttled: 50 runs of this entry"),
    (GuardFacts(breaker_since="x"), replace(DEFAULT, maintenance=(OPEN_WINDOW,)),
     "maintenance window"),
])
def test_first_limit_that_bites_decides(facts: GuardFacts, rules: Guardrails,
                                        starts: str) -> None:
    """Precedence: maintenance, breaker, lock, cooldown, host throttle, entry throttle, recurrence."""
    assert apply(LIVE, facts, rules, NOW).reason.startswith(starts)


def test_breaker_hold_is_still_locked_by_a_run_in_progress() -> None:
    """A decision held by the breaker still may not start on a host that is being fixed."""
    guarded = apply(LIVE, GuardFacts(in_progress="r1", breaker_since="x"), DEFAULT, NOW)
    assert (guarded.action, guarded.mode) == (Action.SKIP, Mode.NONE)


def test_maintenance_check_run_is_still_throttled() -> None:
    """A decision capped by a maintenance window still counts against the host throttle."""
    rules = replace(DEFAULT, maintenance=(OPEN_WINDOW,))
    guarded = apply(LIVE, GuardFacts(host_runs=(NOW,) * 3), rules, NOW)
    assert (guarded.action, guarded.mode) == (Action.ESCALATE, Mode.NONE)


# -- radius --


@pytest.mark.parametrize(("max_hosts", "percent", "group_size", "expected"), [
    (10, None, None, 10),
    (3, None, 100, 3),  # no percentage: the group size does not matter
    (10, 25.0, 12, 3),
    (2, 50.0, 12, 2),  # the smaller limit wins
    (10, 10.0, 4, 1),  # at least one host
    (10, 50.0, None, 10),  # a group that cannot be sized: max_hosts alone
    (0, None, None, 1),
])
def test_radius(max_hosts: int, percent: float | None, group_size: int | None,
                expected: int) -> None:
    """Hosts per run: max_hosts, or max_percent of the group when smaller; never below one."""
    rules = replace(DEFAULT, max_hosts=max_hosts, max_percent=percent,
                    group="web" if percent else None)
    assert radius(rules, group_size) == expected
