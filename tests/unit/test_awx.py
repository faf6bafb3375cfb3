"""The AWX executor's pure parts: which templates may run a plan, and the launch body."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from remediator.executor import RunPlan
from remediator.executor.awx import launch_body, launch_refusals
from remediator.executor.awx_client import AwxClient, AwxError
from remediator.executor.router import Router
from remediator.models import Mode, Outcome, RunnerStatus, RunResult, frozen_map
from remediator.settings.awx import AwxSettings
from tests.awxserver import recorded

NOTE = "{{ lookup('pipe', 'id') }}"


def plan(mode: Mode = Mode.CHECK, **changes: Any) -> RunPlan:
    """A plan for the fix-service template on demo-web-01, with one alert variable."""
    fields: dict[str, Any] = {
        "ident": "r-1", "playbook": Path(), "inventory": (), "hosts": ("demo-web-01",),
        "mode": mode, "untrusted_vars": frozen_map({"note": NOTE}),
        "trusted_vars": frozen_map({"limits": frozen_map({"workers": 4}), "paths": ("/a",)}),
        "timeout_s": 90, "job_template": "fix-service"}
    return RunPlan(**{**fields, **changes})


def refusals(the_plan: RunPlan, settings: dict[str, Any]) -> list[str]:
    """launch_refusals for a plan."""
    return launch_refusals(settings, the_plan.mode, the_plan.hosts,
                           {**the_plan.trusted_vars, **the_plan.untrusted_vars})


def launch(template: int = 7, **asks: bool) -> dict[str, Any]:
    """The recorded launch settings of a template, with ``ask_<name>_on_launch`` overridden."""
    settings = recorded(f"job_template_{template}_launch.json")
    settings.update({f"ask_{name}_on_launch": value for name, value in asks.items()})
    return settings


def test_a_template_that_prompts_for_everything_runs_any_plan() -> None:
    """fix-service prompts for job type, limit and variables: nothing to refuse."""
    assert refusals(plan(Mode.CHECK), launch()) == []
    assert refusals(plan(Mode.LIVE), launch()) == []


def test_a_check_plan_is_refused_where_the_job_type_is_fixed_to_run() -> None:
    """Without ask_job_type_on_launch a 'run' template would run a check plan live."""
    problems = refusals(plan(Mode.CHECK), launch(job_type=False))
    assert len(problems) == 1
    assert "ask_job_type_on_launch is false" in problems[0]
    assert "would otherwise run LIVE" in problems[0]


def test_a_fixed_job_type_is_fine_when_it_is_the_one_wanted() -> None:
    """A 'check' template runs check plans and refuses live ones (which would only check)."""
    fixed = launch(job_type=False)
    fixed["defaults"]["job_type"] = "check"
    assert refusals(plan(Mode.CHECK), fixed) == []
    (problem,) = refusals(plan(Mode.LIVE), fixed)
    assert "a live plan needs job_type 'run'" in problem and "LIVE" not in problem


def test_limit_and_variables_must_be_prompted_for() -> None:
    """No limit prompt: every host of the inventory; no variables prompt: alert data dropped."""
    problems = refusals(plan(Mode.LIVE), launch(limit=False, variables=False))
    assert any("ask_limit_on_launch is false" in p and "demo-web-01" in p for p in problems)
    assert any("ask_variables_on_launch is false" in p and "limits, note, paths" in p
               for p in problems)
    no_vars = plan(Mode.LIVE, untrusted_vars=frozen_map(), trusted_vars=frozen_map())
    assert refusals(no_vars, launch(variables=False)) == []


def test_passwords_surveys_and_a_missing_inventory_are_refused() -> None:
    """What a person would have to type at launch cannot come from an alert."""
    settings = launch()
    settings.update(passwords_needed_to_start=["ssh_password"],
                    variables_needed_to_start=["note", "ticket"], inventory_needed_to_start=True)
    problems = refusals(plan(), settings)
    assert problems == ["it needs passwords at launch: ssh_password",
                        "its survey needs ticket, which this entry does not set",
                        "it has no inventory"]


def test_the_launch_body_sends_only_what_the_template_prompts_for() -> None:
    """job_type, diff_mode and timeout only when prompted; variables as plain JSON data."""
    body = launch_body(plan(Mode.CHECK), launch())
    assert body == {"limit": "demo-web-01", "job_type": "check", "diff_mode": True,
                    "timeout": 90, "extra_vars": {"limits": {"workers": 4}, "paths": ["/a"],
                                                  "note": NOTE}}
    fixed = launch_body(plan(Mode.LIVE, hosts=("a", "b")),
                        launch(job_type=False, diff_mode=False, timeout=False))
    assert fixed == {"limit": "a,b", "extra_vars": body["extra_vars"]}
    assert "extra_vars" not in launch_body(plan(untrusted_vars=frozen_map(),
                                                trusted_vars=frozen_map()), launch())


def test_the_client_sends_the_token_only_to_its_own_origin() -> None:
    """``next`` links on the same origin are followed; another origin is refused."""
    client = AwxClient(AwxSettings(url="https://awx.example.com"), "t0ken-4f9a2c")
    assert client.url("/api/v2/jobs/1/", {"format": "txt"}) == \
        "https://awx.example.com/api/v2/jobs/1/?format=txt"
    assert client.url("https://awx.example.com/api/v2/x/?page=2") == \
        "https://awx.example.com/api/v2/x/?page=2"
    with pytest.raises(AwxError, match="refusing to send the token there"):
        client.url("https://evil.example.com/api/v2/x/?page=2")
    assert client.scrub("echo t0ken-4f9a2c back") == "echo <token> back"
    short = AwxClient(AwxSettings(url="https://awx.example.com"), "t")
    assert short.scrub("a text") == "a text"  # not a real token: the text stays readable


class _Executor:
    """An executor that records the plans it ran."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cancel = threading.Event()
        self.plans: list[RunPlan] = []

    def run(self, plan: RunPlan, progress: Any = None) -> RunResult:
        self.plans.append(plan)
        return RunResult(ident=self.name, status=RunnerStatus.SUCCESSFUL, rc=0, started_at="",
                         finished_at="", duration_s=0.0, hosts={}, outcome=Outcome.SUCCEEDED)


def test_the_router_sends_job_template_plans_to_awx_and_shares_cancel() -> None:
    """Plans with a job template go to AWX, others run locally; one cancel reaches both."""
    local, awx = _Executor("local"), _Executor("awx")
    router = Router(local, awx)
    assert router.run(plan()).ident == "awx"
    assert router.run(plan(job_template=None)).ident == "local"
    router.cancel.set()
    assert local.cancel.is_set() and awx.cancel.is_set()
