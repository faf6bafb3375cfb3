"""AWX job templates as the executor needs them: found by name or id, checked before a
launch (the survey it asks, AWX's Jinja setting for alert data, why a launch was forbidden),
and checked for ``catalog validate --awx``."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ..models import Mode
from ..settings.awx import AwxSettings
from .awx_client import AwxClient, AwxError
from .awx_launch import launch_refusals, slicing


class Refused(Exception):
    """The template cannot run this plan safely; nothing was launched."""


@dataclass(frozen=True, slots=True)
class TemplateCheck:
    """What ``catalog validate --awx`` found about one entry's job template."""

    problems: list[str]
    warnings: list[str]


class Templates:
    """The job templates of one AWX, through its client."""

    def __init__(self, client: AwxClient, settings: AwxSettings) -> None:
        self.client = client
        self.settings = settings
        self.api = settings.api

    def get(self, wanted: str | int) -> Mapping[str, Any]:
        """The template named (by id or by name) in the catalog, as AWX shows it."""
        if isinstance(wanted, int):
            found = self.client.get(f"{self.api}/job_templates/{wanted}/")
            return {**found, "id": int(found["id"]), "name": str(found.get("name", wanted))}
        try:
            page = self.client.get(f"{self.api}/job_templates/", {"name": wanted})
        except AwxError as exc:
            if exc.status == 404:  # the list itself is missing: the API is elsewhere
                raise AwxError(f"{exc.bare} (no AWX API at {self.api}/: is it served under a "
                               "prefix? Automation Platform 2.5 serves it at "
                               "/api/controller/v2/: set awx.api_base_path)", 404) from None
            raise
        results = page.get("results") or []
        if not results:
            raise Refused(f"no job template named {wanted!r} on AWX (or the token's user "
                          "cannot see it)")
        if len(results) > 1:
            ids = ", ".join(str(r.get("id")) for r in results)
            raise Refused(f"{len(results)} job templates are named {wanted!r} (ids {ids}, in "
                          "different organizations): name it by id in the catalog")
        return {**results[0], "id": int(results[0]["id"]),
                "name": str(results[0].get("name", wanted))}

    def survey(self, template: Mapping[str, Any], launch: Mapping[str, Any],
                variables: Collection[str]) -> list[str] | None:
        """The variables a survey-only template asks for, when they matter and can be read
        (GET .../survey_spec/ needs the template's Admin role: ``JobTemplateSurveySpec``)."""
        if not variables or launch.get("ask_variables_on_launch") or \
                not launch.get("survey_enabled"):
            return None
        try:
            spec = self.client.get(f"{self.api}/job_templates/{template['id']}/survey_spec/")
        except AwxError as exc:
            if exc.status in (403, 404):
                return None  # unknown: the launch answer's ignored_fields still guards
            raise
        return [str(q.get("variable")) for q in spec.get("spec") or () if isinstance(q, dict)]

    def check_jinja(self, template: Mapping[str, Any]) -> None:
        """Refuse alert data unless AWX writes launch-time variables ``!unsafe``."""
        setting = self.settings.jinja_setting
        if setting == "verify":
            try:
                setting = str(self.client.get(f"{self.api}/settings/jobs/")
                              .get("ALLOW_JINJA_IN_EXTRA_VARS", ""))
            except AwxError as exc:
                raise Refused(
                    f"refused to launch {name(template)} with alert data: cannot read AWX's "
                    f"ALLOW_JINJA_IN_EXTRA_VARS ({exc}); this needs a system auditor token, or "
                    "set awx.jinja_setting to what it is (template or never)") from None
        if setting not in ("template", "never"):
            raise Refused(f"refused to launch {name(template)} with alert data: AWX's "
                          f"ALLOW_JINJA_IN_EXTRA_VARS is {setting!r}, so Ansible would template "
                          "alert text as Jinja; set it to 'template' (the default) or 'never'")

    def forbidden(self, template: Mapping[str, Any], where: str) -> str:
        """Why a launch was forbidden. A read-scoped token may POST nothing
        (``APIView.check_permissions``, awx/api/generics.py at e21dd0a0), so OPTIONS of the
        launch lists no POST action for it (``Metadata.determine_actions``,
        awx/api/metadata.py); for a write token the object check is left out there, so POST is
        listed and the user lacks the Execute role."""
        try:
            actions = self.client.options(where).get("actions") or {}
        except (AwxError, AttributeError):
            return "the token's user lacks the permission to launch it, or the token is " \
                   "read-only (scope 'read')"
        if "POST" not in actions:
            return ("the token is read-only (OAuth2 scope 'read'): AWX refuses every change "
                    "with it; create a token with scope 'write' for awx.token_env")
        return (f"the token's user may read {name(template)} but not launch it: give it the "
                "Execute role on the template")

    def problems(self, job_template: str | int, modes: Iterable[Mode],
                          variables: Collection[str], untrusted: bool) -> TemplateCheck:
        """Why ``job_template`` cannot run the plans of an entry (``catalog validate --awx``),
        and what about it the entry should know (a sliced template); nothing is launched."""
        problems: list[str] = []
        warnings: list[str] = []
        try:
            template = self.get(job_template)
            launch = self.client.get(f"{self.api}/job_templates/{template['id']}/launch/")
            survey = self.survey(template, launch, variables)
            for mode in modes:
                found = launch_refusals(launch, mode, ["its targets"], variables, survey)
                problems += [p for p in found if p not in problems]
            inventory = (template.get("summary_fields") or {}).get("inventory") or {}
            hosts = inventory.get("total_hosts")
            sliced = slicing(launch, hosts if isinstance(hosts, int) else None)
            if sliced:
                warnings.append(sliced)
            if untrusted:
                self.check_jinja(template)
        except (Refused, AwxError) as exc:
            problems.append(str(exc))
        return TemplateCheck(problems, warnings)


def own_vars(template: Mapping[str, Any]) -> Mapping[str, Any]:
    """The template's own extra vars (YAML or JSON text; {} when unreadable)."""
    try:
        own = yaml.safe_load(str(template.get("extra_vars") or "")) or {}
    except yaml.YAMLError:
        return {}
    return own if isinstance(own, Mapping) else {}


def name(template: Mapping[str, Any]) -> str:
    """How a message names a template."""
    return f"job template {template.get('name')!r} (id {template.get('id')})"
