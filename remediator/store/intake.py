"""What both intake queues share: the payload types, the table (SQLite's migrations; the
PostgreSQL store has its own DDL), and the rows' SQL.

A row moves ``queued`` -> ``claimed`` (a worker took it) -> ``planned`` (its decisions and
draft records were written in the same transaction as the guardrail claims) -> ``done``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .sql import Db

MIGRATION = """
CREATE TABLE IF NOT EXISTS intake (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    source TEXT NOT NULL,
    body TEXT NOT NULL,
    replay_key TEXT UNIQUE,
    state TEXT NOT NULL DEFAULT 'queued',
    owner TEXT,
    claimed_at TEXT,
    done_at TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS intake_state ON intake (state, id);
"""
# One plan per claim, however many rows it covers (a copy per row cost seconds under load).
PLANS_MIGRATION = """
CREATE TABLE IF NOT EXISTS intake_plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL
);
ALTER TABLE intake ADD COLUMN plan_id INTEGER;
CREATE INDEX IF NOT EXISTS intake_plan ON intake (plan_id) WHERE plan_id IS NOT NULL;
"""

STATES = ("queued", "claimed", "planned", "done")


@dataclass(frozen=True, slots=True)
class Accepted:
    """One payload to write down: which source sent it, its raw JSON, its replay key.

    ``state`` ``done``: written down only to be refused if replayed, and kept for the record
    (a Slack interaction, handled by ``serve`` at once, never by a worker)."""

    received_at: str
    source: str
    body: str
    replay_key: str | None = None
    state: str = "queued"


@dataclass(frozen=True, slots=True)
class IntakeRow:
    """A payload taken from the queue."""

    id: int
    received_at: str
    source: str
    body: str


@dataclass(frozen=True, slots=True)
class Orphan:
    """Rows whose worker died after planning them: their draft records and reserved runs."""

    ids: tuple[int, ...]
    plan: dict[str, Any]


ROW_COLUMNS = ("i.id, i.received_at, i.source, i.body, i.replay_key, i.state, i.owner,"
               " i.claimed_at, p.body, i.done_at, i.result")


def row_dict(row: Sequence[Any]) -> dict[str, Any]:
    """An intake row (ROW_COLUMNS) as a dict, its plan and result decoded."""
    keys = ("id", "received_at", "source", "body", "replay_key", "state", "owner",
            "claimed_at", "plan", "done_at", "result")
    data = dict(zip(keys, row, strict=True))
    for key in ("plan", "result"):
        data[key] = json.loads(data[key]) if data[key] else None
    return data


def plan_body(plan: dict[str, Any]) -> str:
    """A plan as ``intake_plans`` stores it."""
    return json.dumps(plan, sort_keys=True, ensure_ascii=False)


def mark_planned(db: Db, ids: Sequence[int], body: str) -> None:
    """Inside the guardrail transaction: these rows' decisions are made, here is the plan
    (``plan_body``, stored once for all of them)."""
    plan_id = db.execute("INSERT INTO intake_plans (body) VALUES (?) RETURNING id",
                         (body,)).fetchone()[0]
    db.executemany("UPDATE intake SET state = 'planned', plan_id = ? WHERE id = ?",
                   [(plan_id, i) for i in ids])
