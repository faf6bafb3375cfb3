"""The AWX pieces agree with each other: credential type, wrapper playbook, example setup."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .docsite import documented_exit_codes

REPO = Path(__file__).resolve().parents[1]
AWX = REPO / "awx"
# AWX shows a job's environment with the values of variables whose names match this hidden.
AWX_HIDDEN = re.compile(r"API|TOKEN|KEY|SECRET|PASS", re.IGNORECASE)
# Read by libpq itself, not by the wrapper.
LIBPQ_ENV = {"PGPASSWORD"}


def load(name: str) -> Any:
    return yaml.safe_load((AWX / name).read_text(encoding="utf-8"))


def wrapper_vars() -> dict[str, Any]:
    (play,) = load("remediator_job.yml")
    return dict(play["vars"])


def test_secret_inputs_are_injected_only_under_names_awx_hides() -> None:
    """Every env var carrying a secret field has a name AWX hides; nothing goes to extra vars."""
    credential = load("credential_type.yml")
    fields = {f["id"]: f for f in credential["inputs"]["fields"]}
    assert set(credential["injectors"]) == {"env"}
    for name, template in credential["injectors"]["env"].items():
        (used,) = re.findall(r"{{\s*(\w+)\s*}}", template)
        assert used in fields, name
        if fields[used].get("secret"):
            assert AWX_HIDDEN.search(name), name
        else:
            assert not AWX_HIDDEN.search(name), f"{name} would be hidden though not secret"


def test_the_wrapper_reads_exactly_the_injected_variables() -> None:
    """The env vars the wrapper looks up are the ones the credential type injects."""
    injected = set(load("credential_type.yml")["injectors"]["env"])
    text = (AWX / "remediator_job.yml").read_text(encoding="utf-8")
    read = set(re.findall(r"lookup\('ansible\.builtin\.env', '(\w+)'\)", text))
    assert read | LIBPQ_ENV == injected


def test_the_example_setup_uses_the_wrapper_and_its_variables() -> None:
    """Job templates run the wrapper, and every variable they set is one the wrapper defines."""
    (play,) = load("awx_setup.yml")
    known = {k for k in wrapper_vars() if not k.startswith("_")}
    templates = [t["awx.awx.job_template"] for t in play["tasks"] if "awx.awx.job_template" in t]
    assert {t["extra_vars"]["remediator_mode"] for t in templates} == {"poll", "handle"}
    for template in templates:
        assert template["playbook"] == "awx/remediator_job.yml"
        asked = {q["variable"] for q in template["survey_spec"]["spec"]}
        assert set(template["extra_vars"]) | asked <= known, template["name"]
    (schedule,) = [t["awx.awx.schedule"] for t in play["tasks"] if "awx.awx.schedule" in t]
    assert schedule["unified_job_template"] == "remediator poll"
    assert set(schedule["extra_data"]) <= known


def test_every_exit_code_of_poll_and_handle_has_a_meaning() -> None:
    """The wrapper explains each documented non-zero exit code that poll or handle can return."""
    documented = documented_exit_codes()
    not_from_poll_or_handle = {0, 3, 6}  # success; audit verify; audit show / approve / deny
    assert set(wrapper_vars()["_exit_meanings"]) == documented - not_from_poll_or_handle
