import pytest
import remediator.engine as eng
from remediator.store import sqlite_guard
from . import test_guardrail_properties as P

MUT = __import__("os").environ.get("MUT")

@pytest.fixture(autouse=True)
def mutate(monkeypatch):
    if MUT == "noguard":
        monkeypatch.setattr(eng, "apply_guardrails", lambda d, f, r, n: d)
    if MUT == "noclaim":
        monkeypatch.setattr(sqlite_guard.GuardSession, "claim", lambda self, *a: None)
    if MUT == "nolock":
        orig = sqlite_guard.GuardSession.facts
        from dataclasses import replace
        monkeypatch.setattr(sqlite_guard.GuardSession, "facts", lambda self, *a, **k: replace(orig(self, *a, **k), in_progress=None))
    if MUT == "nothrottle":
        orig = sqlite_guard.GuardSession.facts
        from dataclasses import replace
        monkeypatch.setattr(sqlite_guard.GuardSession, "facts", lambda self, *a, **k: replace(orig(self, *a, **k), host_runs=()))
    if MUT == "dropskip":
        orig_append = None
        orig = eng.Engine._record
        def rec(self, record_id, alert, remediation, decision, *a, **k):
            if decision.action.value == "skip":
                return {"id": record_id, "alert": {}, "mode": "none", "runner": None}
            return orig(self, record_id, alert, remediation, decision, *a, **k)
        monkeypatch.setattr(eng.Engine, "_record", rec)
    if MUT == "norecord":
        orig = eng.Engine._record
        def rec(self, record_id, alert, *a, **k):
            r = orig(self, record_id, alert, *a, **k)
            return r
        monkeypatch.setattr(eng.Engine, "_record", rec)
    yield

test_a = P.test_no_host_runs_more_than_per_host_in_any_window
test_b = P.test_never_two_runs_at_once_on_one_host
test_c = P.test_every_alert_has_one_record_and_the_chain_holds
test_d = P.test_a_firing_alert_runs_live_at_most_once
