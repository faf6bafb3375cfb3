"""Promotion rules over recorded track records (pure)."""

from __future__ import annotations

from remediator.models import Remediation, Stage
from remediator.stages import Rules, TrackRecord, recommend, track_record


def entry(stage: Stage, stage_line: int = 7) -> Remediation:
    """A catalog entry at ``stage`` whose stage key is on ``stage_line``."""
    return Remediation(name="fix", matchers=(), playbook="p.yml", playbook_path="/p.yml",
                       stage=stage, source_file="cat.yml", source_line=3, stage_line=stage_line)


def rec(n: int, mode: str, outcome: str, changed: tuple[str, ...] = (), host: str = "h",
        action: str = "run") -> dict:
    """A minimal record of one run."""
    tasks = [{"name": t, "changed": True} for t in changed]
    return {"id": f"r{n}", "created_at": f"t{n}", "mode": mode, "outcome": outcome,
            "decision": {"action": action, "reason": "x"},
            "hosts": {host: {"tasks": tasks}} if mode != "none" else {}}


def test_predictions_hold_only_when_the_live_run_changed_the_same_tasks() -> None:
    """A check prediction holds if the next live run on that host changed exactly those tasks."""
    track = track_record([
        rec(1, "check", "succeeded", ("a", "b")), rec(2, "live", "succeeded", ("a", "b")),
        rec(3, "check", "succeeded", ("a",)), rec(4, "live", "succeeded", ("a", "c")),
        rec(5, "check", "succeeded", ("a",), host="other"),
        rec(6, "live", "succeeded", ("a",), host="third"),
    ])
    assert (track.predictions_held, track.predictions_missed) == (1, 1)


def test_a_failed_live_run_misses_its_prediction_and_is_the_last_failure() -> None:
    """A live failure after a check counts as a missed prediction and the last failure."""
    track = track_record([rec(1, "check", "succeeded", ("a",)), rec(2, "live", "failed")])
    assert track.predictions_missed == 1
    assert track.last_failure is not None and track.last_failure["id"] == "r2"


def test_escalations_and_not_run_records_are_counted_apart() -> None:
    """Escalations are counted; records that ran nothing are not runs."""
    track = track_record([rec(1, "none", "not-run", action="escalate"),
                          rec(2, "none", "not-run", action="skip")])
    assert (track.escalations, track.checks, track.live) == (1, 0, 0)


def test_oversight_promotes_after_enough_clean_live_runs() -> None:
    """Ten successful live runs, the recent ones all good, promote oversight to fallback."""
    track = TrackRecord(live=10, live_successes=10, recent=["succeeded"] * 10)
    advice = recommend(entry(Stage.OVERSIGHT), track)
    assert (advice.verdict, advice.to) == ("promote", Stage.FALLBACK)
    assert advice.edit == ("cat.yml:7: in entry 'fix' change 'stage: oversight' to "
                           "'stage: fallback'")


def test_a_recent_failure_holds_a_promotion() -> None:
    """A failure among the last runs holds the entry even with enough successes."""
    track = TrackRecord(live=12, live_successes=11, live_failures=1,
                        recent=["succeeded"] * 10 + ["failed", "succeeded"])
    advice = recommend(entry(Stage.OVERSIGHT), track, Rules(min_success_pct=90))
    assert advice.verdict == "hold"
    assert any("last 5 live runs all succeeding" in e for e in advice.evidence)


def test_entry_without_stage_key_gets_an_add_instruction() -> None:
    """An entry relying on the default stage is told to add the key."""
    track = TrackRecord(checks=5)
    advice = recommend(entry(Stage.OBSERVE, stage_line=0), track)
    assert advice.edit == ("cat.yml:3: in entry 'fix' add 'stage: human-initiated' (it has no "
                           "stage key, so it is observe)")


def test_fallback_two_failures_demote_to_oversight() -> None:
    """Two consecutive failures at fallback recommend oversight."""
    track = TrackRecord(live=5, live_successes=3, live_failures=2,
                        recent=["succeeded"] * 3 + ["failed", "unreachable"])
    advice = recommend(entry(Stage.FALLBACK), track)
    assert (advice.verdict, advice.to) == ("demote", Stage.OVERSIGHT)


def test_escalations_are_counted_by_reason_code_old_records_by_their_prose() -> None:
    """A recorded code counts whatever the words say; a record from before codes counts
    under the code its prose derives; the last failure carries its code."""
    coded = rec(1, "none", "not-run", action="escalate")
    coded["decision"] = {"action": "escalate", "code": "throttle-host", "reason": "reworded"}
    old = rec(2, "none", "not-run", action="escalate")
    old["decision"] = {"action": "escalate",
                       "reason": "throttled: 3 runs on this host in the last 3600s (limit 3)"}
    failed = rec(3, "live", "failed")
    failed["decision"] = {"action": "run", "code": "stage", "reason": "stage oversight: live run"}
    track = track_record([coded, old, failed])
    assert track.as_dict()["escalation_codes"] == {"throttle-host": 2}
    assert track.last_failure is not None and track.last_failure["code"] == "stage"
