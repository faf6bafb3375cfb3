"""What a job template's launch takes and answers, read in AWX's own code (ansible/awx at
e21dd0a0): which templates can run a plan safely, the launch body, slicing, and the named cause
of each launch refusal. Pure functions over AWX's JSON."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from ..models import Mode
from . import RunPlan, plain_data


def launch_refusals(launch: Mapping[str, Any], mode: Mode, hosts: Iterable[str],
                    variables: Collection[str], survey: Collection[str] | None = None
                    ) -> list[str]:
    """Why a template's launch settings (GET .../launch/) cannot run a ``mode`` plan on
    ``hosts`` with ``variables`` safely; empty when they can. ``survey`` is the variables its
    survey asks for (None: unknown, the survey could not be read)."""
    defaults = launch.get("defaults") or {}
    wanted = "check" if mode is Mode.CHECK else "run"
    problems = []
    if not launch.get("ask_job_type_on_launch") and defaults.get("job_type") != wanted:
        problems.append(
            f"it does not prompt for the job type (ask_job_type_on_launch is false) and its "
            f"own job type is {defaults.get('job_type')!r}: a {mode} plan needs "
            f"job_type {wanted!r}" + (", and would otherwise run LIVE"
                                      if mode is Mode.CHECK else ""))
    if not launch.get("ask_limit_on_launch"):
        problems.append("it does not prompt for the limit (ask_limit_on_launch is false): the "
                        "job would run on every host of its inventory, not only "
                        f"{', '.join(hosts)}")
    problems += _variable_refusals(launch, variables, survey)
    if launch.get("passwords_needed_to_start"):
        problems.append("it needs passwords at launch: "
                        f"{', '.join(map(str, launch['passwords_needed_to_start']))}")
    missing = sorted(set(launch.get("variables_needed_to_start") or ()) - set(variables))
    if missing:
        problems.append(f"its survey needs {', '.join(missing)}, which this entry does not set")
    if launch.get("inventory_needed_to_start"):
        problems.append("it has no inventory")
    return problems


def _variable_refusals(launch: Mapping[str, Any], variables: Collection[str],
                       survey: Collection[str] | None) -> list[str]:
    """Variables the template would drop. A survey takes answers to its own questions without
    ``ask_variables_on_launch``; anything else it ignores (``SurveyJobTemplateMixin.
    _accept_or_ignore_variables``, awx/main/models/mixins.py)."""
    if not variables or launch.get("ask_variables_on_launch"):
        return []
    if not launch.get("survey_enabled"):
        return ["it does not prompt for variables (ask_variables_on_launch is false): "
                f"{', '.join(sorted(variables))} would be dropped"]
    if survey is None:  # unknown: the launch answer's ignored_fields still guards the run
        return []
    outside = sorted(set(variables) - set(survey))
    if not outside:
        return []
    return [f"its survey asks only for {', '.join(sorted(survey)) or 'nothing'} and it does not "
            f"prompt for variables (ask_variables_on_launch is false): "
            f"{', '.join(outside)} would be dropped"]


def launch_body(plan: RunPlan, launch: Mapping[str, Any]) -> dict[str, Any]:
    """The POST body of the launch: job type, limit, variables, diff mode when prompted, and
    one slice when the template slices and prompts for it."""
    body: dict[str, Any] = {"limit": ",".join(plan.hosts)}
    if launch.get("ask_job_type_on_launch"):
        body["job_type"] = "check" if plan.mode is Mode.CHECK else "run"
    variables = {**plain_data(plan.trusted_vars), **plain_data(plan.untrusted_vars)}
    if variables:
        body["extra_vars"] = variables
    if launch.get("ask_diff_mode_on_launch"):
        body["diff_mode"] = True
    if launch.get("ask_timeout_on_launch"):
        body["timeout"] = plan.timeout_s  # AWX stops the job itself should we die meanwhile
    if launch.get("ask_job_slice_count_on_launch") and slice_count(launch) > 1:
        body["job_slice_count"] = 1  # one job, not a workflow of slices
    return body


def slice_count(launch: Mapping[str, Any]) -> int:
    """The template's own ``job_slice_count`` (1 when it does not slice)."""
    value = (launch.get("defaults") or {}).get("job_slice_count", 1)
    return value if isinstance(value, int) and value > 1 else 1


def slicing(launch: Mapping[str, Any], inventory_hosts: int | None) -> str | None:
    """What a sliced template means for an entry, or None when its launches are one job.

    ``JobTemplate.create_unified_job`` (awx/main/models/jobs.py) launches a workflow job of
    ``min(job_slice_count, hosts of the inventory)`` slice jobs whenever that is above 1: the
    limit does not count. Each slice runs on its share of the inventory
    (``Inventory.get_sliced_hosts``), and a slice holding none of the limit's hosts fails
    (ansible-playbook: "--limit leaves us with no hosts to target"), and so does the workflow.
    """
    count = slice_count(launch)
    if count <= 1 or launch.get("ask_job_slice_count_on_launch"):
        return None
    if inventory_hosts is not None and min(count, inventory_hosts) <= 1:
        return None
    return (f"it slices (job_slice_count {count}) and does not prompt for the slice count "
            f"(ask_job_slice_count_on_launch is false): each launch is a workflow job of up "
            f"to {count} slice jobs over shares of its inventory, and every slice holding none "
            "of the entry's targets fails with 'no hosts to target', so AWX marks the "
            "workflow failed; remediator follows and cancels the workflow and records each "
            "slice, but set job_slice_count to 1 or prompt for it (remediator then launches "
            "one job)")


# Launch 400s: the keys JobLaunchSerializer.validate and JobTemplateLaunch.post
# (awx/api/serializers.py, awx/api/views/__init__.py) and JobTemplate.
# _accept_or_ignore_job_kwargs (awx/main/models/jobs.py) answer with, and what each means.
_LAUNCH_CAUSES = {
    "extra_vars": "AWX could not take the variables",
    "variables_needed_to_start": "its survey refused the answers (a required question "
                                 "unanswered, or an answer outside the question's rules)",
    "passwords_needed_to_start": "its credentials need passwords typed at launch, which an "
                                 "alert cannot type; use credentials that store them",
    "resources_needed_to_start": "it lacks a resource it needs to start (an inventory or a "
                                 "project)",
    "credentials": "AWX refused its credentials",
    "inventory": "its inventory cannot be used",
    "playbook": "its project has no revision to run: the last project update failed; "
                "update the project on AWX",
    "project": "it has no project",
}


def launch_error(body: Any) -> str | None:
    """The named causes of a launch's 400 answer, each with AWX's own words; None when the
    answer has none of the known keys."""
    if not isinstance(body, Mapping):
        return None
    causes = []
    for key, cause in _LAUNCH_CAUSES.items():
        if key in body:
            words = body[key]
            text = "; ".join(map(str, words)) if isinstance(words, list) else str(words)
            causes.append(f"{cause} ({key}: {text})")
    others = sorted(k for k in body if k not in _LAUNCH_CAUSES)
    if others and causes:
        causes.append("also " + json.dumps({k: body[k] for k in others}))
    return "; ".join(causes) or None
