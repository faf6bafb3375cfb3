"""The value types' fast constructors behave exactly as the dataclasses they replace."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from remediator.guardrails import GuardFacts
from remediator.models import Action, Alert, Decision, Mode, Stage, frozen_map, quick_init
from remediator.reasons import Reason


@dataclasses.dataclass(frozen=True, slots=True)
class _Plain:
    """A dataclass with every kind of field."""

    name: str
    count: int = 3
    tags: tuple[str, ...] = ()
    seen: list[str] = dataclasses.field(default_factory=list)


@quick_init
@dataclasses.dataclass(frozen=True, slots=True)
class _Quick:
    """The same fields, with the fast constructor."""

    name: str
    count: int = 3
    tags: tuple[str, ...] = ()
    seen: list[str] = dataclasses.field(default_factory=list)


def test_the_quick_constructor_keeps_the_signature_defaults_and_factories() -> None:
    assert [p.name for p in inspect.signature(_Quick).parameters.values()] == [
        "name", "count", "tags", "seen"]
    quick, plain = _Quick("a"), _Plain("a")
    assert (quick.name, quick.count, quick.tags, quick.seen) == ("a", 3, (), [])
    assert dataclasses.astuple(quick) == dataclasses.astuple(plain)
    assert _Quick("a").seen is not _Quick("a").seen  # a new list each time, as a factory makes
    assert _Quick("a", seen=["x"]).seen == ["x"]
    assert _Quick("b", 5, ("t",)) == _Quick(name="b", count=5, tags=("t",))
    assert repr(_Quick("b", 5)) == "_Quick(name='b', count=5, tags=(), seen=[])"
    with pytest.raises(TypeError):
        _Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Quick("a", nope=1)  # type: ignore[call-arg]


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
