"""Who may approve: allow-lists, one person across channels, own requests, N distinct people;
the cases are recorded in tests/data/approvals/policy.yml. The config's and catalog's
``approval`` keys are checked with errors naming file, line and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from remediator import approval_policy as policy
from remediator import catalog, config
from remediator.errors import CatalogError, ConfigError
from remediator.identity import Approver
from remediator.models import ApprovalRule
from remediator.reasons import Reason
from remediator.settings.approvals import parse
from remediator.yamlio import load_yaml

DATA = load_yaml(Path(__file__).parents[1] / "data" / "approvals" / "policy.yml", ConfigError)
SETTINGS = parse(DATA["approvals"], lambda key: f"policy.yml: key '{key}'")
RULES = {name: ApprovalRule(tuple(spec["approvers"]) if "approvers" in spec else None,
                            spec.get("required", 1), spec.get("four_eyes", False))
         for name, spec in DATA["entries"].items()}
NO_ENV: dict[str, str] = {}


def approver(data: dict[str, Any]) -> Approver:
    return Approver(data["channel"], data["id"], data["name"], data.get("os_user"))


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_who_may_approve(case: dict[str, Any]) -> None:
    """Each recorded attempt is allowed or refused with the code the case names."""
    refused = policy.refusal(approver(case["approver"]), requested_by=case.get("requested_by"),
                             rule=RULES[case["entry"]], settings=SETTINGS,
                             counted=case.get("counted", ()))
    assert (refused[0] if refused else None) == (Reason(case["code"]) if case["code"] else None)


def test_one_person_across_channels() -> None:
    """Every principal of a person is that person; an unnamed principal is itself."""
    assert {SETTINGS.person(p) for p in ("slack:U024BE7LH", "web:alice", "cli:alice")} == {
        "alice"}
    assert SETTINGS.person("slack:U0BOB2") == "bob"
    assert SETTINGS.person("web:dave") == "web:dave"


def test_who_may_lists_the_narrowest_allow_list() -> None:
    """``pending --json`` shows who may approve: the entry's names the config allows too;
    None when no list is in force."""
    assert policy.who_may(RULES["ops-only"], SETTINGS) == ["alice", "web:dave"]
    assert policy.who_may(RULES["anyone"], SETTINGS) == ["alice", "bob", "web:dave",
                                                         "slack:U0ERIN"]
    assert policy.who_may(ApprovalRule(), parse(None, str)) is None


def test_a_requester_may_withdraw_but_not_approve_their_request() -> None:
    """Deny is open to who may approve, and to the requester (withdrawing), no one else."""
    mallory = Approver("slack", "U0MALLORY", "Mallory")
    asked = policy.as_dict(mallory)
    assert policy.deny_refusal(mallory, requested_by=None, rule=RULES["anyone"],
                               settings=SETTINGS) is not None
    assert policy.deny_refusal(mallory, requested_by=asked, rule=RULES["anyone"],
                               settings=SETTINGS) is None
    assert policy.refusal(mallory, requested_by=asked, rule=ApprovalRule(),
                          settings=parse(None, str)) is not None


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("approvals:\n  people:\n    alice: {pager: P1}\n", "unknown channel 'pager'"),
    ("approvals:\n  people:\n    alice: {slack: U1}\n    bob: {slack: U1}\n",
     "slack:U1 is already alice"),
    ("approvals:\n  people:\n    alice: {slack: U1}\n  approvers: [alice, bob]\n",
     "'bob' is no person in approvals.people"),
    ("approvals:\n  approvers: [\"irc:bob\"]\n", "channel one of cli, slack, web"),
    ("approvals:\n  approver: [alice]\n", "unknown key"),
])
def test_config_errors_name_the_key_and_line(tmp_path: Path, text: str, message: str) -> None:
    """A bad ``approvals`` section is a ConfigError naming the file, line and key."""
    path = write(tmp_path / "remediator.yml", text)
    with pytest.raises(ConfigError) as caught:
        config.load(path, env=NO_ENV, cwd=tmp_path)
    assert message in caught.value.message
    assert f"{path}:1: key 'approvals'" in str(caught.value.where)
    assert "approvals." in str(caught.value.where)


def test_request_url_must_name_the_id(tmp_path: Path) -> None:
    """``notifications.request_url`` is checked like ``record_url``."""
    path = write(tmp_path / "remediator.yml",
                 "notifications:\n  request_url: https://ops.example/requests\n")
    with pytest.raises(ConfigError, match="'request_url' must be a string containing"):
        config.load(path, env=NO_ENV, cwd=tmp_path)
    write(path, "notifications:\n  request_url: https://ops.example/requests/{id}\n")
    loaded = config.load(path, env=NO_ENV, cwd=tmp_path)
    assert loaded.notifications.request_url == "https://ops.example/requests/{id}"


ENTRY = """version: 1
remediations:
  - name: disk
    match: {alertname: DiskSpaceLow}
    playbook: fix.yml
    approval:
%s
"""


@pytest.mark.parametrize(("block", "message"), [
    ("      required: 0", "key 'required': expected a positive number"),
    ("      four_eyes: yes please", "key 'four_eyes': expected true or false"),
    ("      approvers: alice", "key 'approvers': expected a list"),
    ("      approvers: [\"pager:P1\"]", "a principal is channel:id"),
    ("      approvers: [alice]\n      required: 2", "'approvers' names only 1"),
    ("      quorum: 2", "key 'quorum': unknown key"),
])
def test_catalog_approval_errors_name_file_line_and_key(tmp_path: Path, block: str,
                                                        message: str) -> None:
    """A bad ``approval`` block is a CatalogError line naming file:line, entry and key."""
    write(tmp_path / "playbooks" / "fix.yml", "- hosts: all\n  tasks: []\n")
    path = write(tmp_path / "remediations.yml", ENTRY % block)
    with pytest.raises(CatalogError) as caught:
        catalog.load(path, tmp_path / "playbooks")
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:") and "entry 'disk'" in problem and message in problem


def test_catalog_approval_block_is_read(tmp_path: Path) -> None:
    """A valid block becomes the entry's ApprovalRule; no block means one approver, anyone."""
    write(tmp_path / "playbooks" / "fix.yml", "- hosts: all\n  tasks: []\n")
    path = write(tmp_path / "remediations.yml", ENTRY % (
        "      approvers: [alice, \"slack:U0BOB\"]\n      required: 2\n      four_eyes: true"))
    (entry,) = catalog.load(path, tmp_path / "playbooks").entries
    assert entry.approval == ApprovalRule(("alice", "slack:U0BOB"), 2, True)
    plain = write(tmp_path / "plain.yml", (ENTRY % "").replace("    approval:\n", ""))
    assert catalog.load(plain, tmp_path / "playbooks").entries[0].approval == ApprovalRule()
