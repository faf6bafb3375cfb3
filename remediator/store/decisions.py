"""Who approved, denied or was refused, per request: the table both stores share.

A request needing N distinct approvers counts one row per person (a unique index on
(request, person) for approvals: the same person through two channels counts once, and two
concurrent approvals by one person insert one row). Denials and refusals are rows too, so
that ``/metrics`` counts every decision by channel and outcome from the store.
"""

from __future__ import annotations

MIGRATION = """
    ALTER TABLE requests ADD COLUMN requested_by TEXT;
    CREATE TABLE IF NOT EXISTS request_decisions (
        request_id TEXT NOT NULL,
        at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        code TEXT,
        person TEXT NOT NULL,
        channel TEXT NOT NULL,
        approver_id TEXT NOT NULL,
        name TEXT NOT NULL,
        os_user TEXT
    );
    CREATE UNIQUE INDEX IF NOT EXISTS request_approvals_once
        ON request_decisions (request_id, person) WHERE outcome = 'approved';
    CREATE INDEX IF NOT EXISTS request_decisions_request ON request_decisions (request_id, at);
"""

COLUMNS = "request_id, at, outcome, code, person, channel, approver_id, name, os_user"
