"""The value types of the decision path: frozen, and copied with only what changes."""

from __future__ import annotations

import dataclasses

import pytest

from remediator.guardrails import GuardFacts
from remediator.models import Action, Alert, Decision, Mode, Stage, frozen_map
from remediator.reasons import Reason


def test_the_pipeline_types_stay_frozen() -> None:
    alert = Alert("alertmanager", "DiskSpaceLow", "firing", "fp1",
                  labels=frozen_map({"instance": "web-1"}))
    decision = Decision(Action.RUN, Reason.STAGE, "stage oversight: live run", Mode.LIVE, Stage.OVERSIGHT,
                        hosts=("web-1",))
    for value, name in ((alert, "status"), (decision, "reason"), (GuardFacts(), "entry_runs")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, None)
    assert alert.labels["instance"] == "web-1" and alert.starts_at is None
    assert decision.variables == {} and decision.notes == () and decision.executes


def test_evolve_changes_only_what_it_is_given() -> None:
    decision = Decision(Action.RUN, Reason.STAGE, "live", Mode.LIVE, Stage.OVERSIGHT, Stage.FALLBACK,
                        ("web-1",), frozen_map({"path": "/"}), frozen_map({"n": 1}),
                        Stage.OVERSIGHT, ("note",))
    escalated = decision.evolve(action=Action.ESCALATE, mode=Mode.NONE, reason="why")
    assert escalated == dataclasses.replace(decision, action=Action.ESCALATE, mode=Mode.NONE,
                                            reason="why")
    assert decision.action is Action.RUN and decision.reason == "live"
    assert not escalated.executes
