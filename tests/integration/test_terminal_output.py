"""What people and scripts see, through the real CLI: every list and report fits an 80-column
terminal by wrapping (nothing cut with an ellipsis), piped output has no colour or control
codes, NO_COLOR turns colour off even on a terminal, and --json has the documented shapes."""

from __future__ import annotations

import json
import re

import pytest

from remediator.models import Outcome

from ..conftest import DATA, Project, alertmanager_payload, disk_alert, disk_entry

ANSI = re.compile(r"\x1b\[")
HISTORY = DATA / "history"
NARROW = {"COLUMNS": "80"}
LONG_ENTRY = "disk-space-cleanup-approved-by-a-person"  # longer than any column at 80


@pytest.fixture
def filled(project: Project) -> Project:
    """A store with a succeeded and a failed live run (which opens the breaker), a pending
    request and a skip; a catalog with a long entry name; the runs a RecordingExecutor's."""
    project.fake_runs(**{"demo-web-02": Outcome.FAILED})
    project.write_catalog(
        disk_entry("oversight", guardrails={"breaker": {"failures": 1}}),
        {**disk_entry("human-initiated"), "name": LONG_ENTRY,
         "match": {"alertname": "DiskSpaceLowApproval"}})
    project.handle(alertmanager_payload([disk_alert("demo-web-01"), disk_alert("demo-web-02")]))
    project.handle(alertmanager_payload([{**disk_alert("demo-web-01",
                                                       alertname="DiskSpaceLowApproval"),
                                          "fingerprint": "approval"}]))
    project.handle(alertmanager_payload([disk_alert("demo-web-01", status="resolved")]))
    return project


COMMANDS = {
    "audit list": ["audit", "list"],
    "audit show": ["audit", "show", "{first}"],
    "audit verify": ["audit", "verify"],
    "pending": ["pending"],
    "catalog list": ["catalog", "list"],
    "stages": ["stages"],
    "breaker status": ["breaker", "status"],
    "run": ["run", "disk-space-cleanup", "--limit", "demo-web-01", "--var", "disk_mountpoint=/"],
    "report noise": ["report", "noise", "--history", str(HISTORY / "pagerduty-advanced.csv")],
    "report noise (store)": ["report", "noise"],
    "report candidates": ["report", "candidates", "--history",
                          str(HISTORY / "alertmanager.jsonl")],
    "report effectiveness": ["report", "effectiveness", "--history",
                             str(HISTORY / "pagerduty-ui.csv")],
    "report trends": ["report", "trends"],
    "report trends (history)": ["report", "trends", "--history",
                                str(HISTORY / "pagerduty-advanced.csv")],
    "simulate": ["simulate", "--history", str(HISTORY / "pagerduty-advanced.csv")],
}


def run(project: Project, args: list[str], env: dict[str, str] | None = None) -> str:
    """The command's stdout (exit 0 asserted)."""
    first = next(project.store().records())["id"]
    result = project.cli(*(a.format(first=first) for a in args), env={**NARROW, **(env or {})})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_list_and_report_fits_80_columns_without_cutting(filled: Project, name: str
                                                               ) -> None:
    """At COLUMNS=80 no line is wider than 80, nothing ends in an ellipsis, and (piped) no
    escape code is printed."""
    out = run(filled, COMMANDS[name])
    assert out.strip(), name
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert "…" not in out
    assert not ANSI.search(out)


def test_lists_wrap_long_values_and_keep_ids_and_headers_whole(filled: Project) -> None:
    """A long entry name wraps inside its column, every header is whole, and each record id
    is on one line, to copy."""
    out = run(filled, ["audit", "list"])
    for header in ("ID", "CREATED AT", "ALERT", "HOSTS", "REMEDIATION", "STAGE", "DECISION",
                   "OUTCOME"):
        assert header in out
    for record in filled.store().records():
        assert record["id"] in out
    header, *rows = out.splitlines()
    start, end = header.index("REMEDIATION"), header.index("DECISION")
    column = "".join(line[start:end].strip() for line in rows)
    assert LONG_ENTRY in column  # wrapped inside its column, every character kept
    catalog = run(filled, ["catalog", "list"])
    assert "EFFECTIVE STAGE" in catalog and "human-initiated" in catalog


def test_report_headers_wrap_between_words(filled: Project) -> None:
    """The noise report at 80 columns names every column, each word of a header whole."""
    out = run(filled, COMMANDS["report noise"])
    for word in ("volume", "share", "peak", "hour", "day", "resolve", "person", "within",
                 "flapping", "open", "DiskSpaceLow"):
        assert re.search(rf"(?<!\S){word}(?!\S)", out), word


def test_colour_only_on_a_terminal_and_never_with_no_color(filled: Project) -> None:
    """FORCE_COLOR makes output a terminal's (coloured); NO_COLOR then removes every escape
    code; piped, there is none either way."""
    args = ["audit", "list"]
    assert ANSI.search(run(filled, args, {"FORCE_COLOR": "1"}))
    assert not ANSI.search(run(filled, args, {"FORCE_COLOR": "1", "NO_COLOR": "1"}))
    assert not ANSI.search(run(filled, COMMANDS["report noise"], {"NO_COLOR": "1"}))


def test_json_lists_are_arrays(filled: Project) -> None:
    """List commands print a JSON array on stdout, nothing else."""
    for args in (["audit", "list"], ["pending"], ["catalog", "list"], ["stages"],
                 ["breaker", "status"]):
        data = json.loads(run(filled, [*args, "--json"]))
        assert isinstance(data, list) and data, args
        assert all(isinstance(item, dict) for item in data)


def test_run_json_is_an_array_of_records_like_handle(filled: Project) -> None:
    """`run --json` prints the records it made as an array, the shape `handle --json` has."""
    made = json.loads(run(filled, [*COMMANDS["run"], "--json", "-q"]))
    assert isinstance(made, list) and len(made) == 1
    assert made[0]["initiated_by"] and made[0]["mode"] == "check"
    handled = filled.handle(alertmanager_payload([disk_alert("demo-web-01")]))
    assert isinstance(handled, list) and set(handled[0]) == set(made[0])


def test_single_results_are_objects(filled: Project) -> None:
    """`audit show` and `audit verify` print one object; verify's has count, head and ok."""
    first = next(filled.store().records())
    shown = json.loads(run(filled, ["audit", "show", first["id"], "--json"]))
    assert shown["id"] == first["id"]
    verified = json.loads(run(filled, ["audit", "verify", "--json"]))
    count, head = filled.store().verify()
    assert verified == {"ok": True, "count": count, "head": head, "record": None, "error": None}
    report = json.loads(run(filled, [*COMMANDS["report noise"], "--json", "-q"]))
    assert isinstance(report, dict)
