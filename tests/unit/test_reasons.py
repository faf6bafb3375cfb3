"""Reason codes: old records (prose only) read with the right code; new ones carry it."""

from __future__ import annotations

import json
from pathlib import Path

from remediator import audit
from remediator.reasons import from_prose
from remediator.record import reason_code, stored

OLD = Path(__file__).resolve().parents[1] / "data" / "records" / "before-reason-codes.jsonl"


def old_records() -> list[dict]:
    return [json.loads(line) for line in OLD.read_text(encoding="utf-8").splitlines()]


def test_recorded_old_records_still_verify_and_read_with_their_codes() -> None:
    """Records written before codes (commit 12c5864) still chain, have no code, and each
    reads with the code of its kind of reason."""
    records = old_records()
    assert audit.verify_chain(records)[0] == len(records)
    assert all("code" not in r["decision"] for r in records)
    assert [str(reason_code(stored(r))) for r in records] == [
        "stage", "duplicate", "resolved", "no-entry", "unknown-host", "no-target",
        "missing-variable", "stage", "throttle-host", "stage", "blast-radius", "stage",
        "refire", "cooldown", "recurrence", "stage", "breaker-open", "breaker-reset",
        "maintenance", "stage", "throttle-entry", "stage", "approved", "stage", "denied",
        "manual", "max-stage"]


def test_old_prose_of_every_kind_reads_as_its_code() -> None:
    """Reasons as the code before codes worded them, including kinds the recorded file
    lacks; prose that fits none is other."""
    cases = {
        "locked: a run of this entry on this host is in progress (record r1)": "locked",
        "locked: a run of this entry on web-1 is in progress (record r1); try again when it "
        "ends": "locked",
        "label instance='x' does not match target pattern '^(.*)$'": "no-target",
        "stage oversight: live run refused, the repository has uncommitted changes (a.yml); "
        "ran in check mode instead (commit them, or pass --allow-uncommitted)": "uncommitted",
        "live run refused: the repository has uncommitted changes (commit them, or pass "
        "--allow-uncommitted)": "uncommitted",
        "approval refused: request r1: it was altered after its preview; nothing ran":
            "approval-refused",
        "stage human-initiated: check-mode preview; a person must approve the live run":
            "stage",
        "something new": "other",
    }
    assert {text: str(from_prose(text)) for text in cases} == cases


