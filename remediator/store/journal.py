"""The run journal: what a command decided and is about to run, written with its decisions.

``handle``, ``run``, ``approve`` and ``poll`` write one row per decision transaction (its draft
records and reserved runs) in the same transaction as their guardrail claims, and delete it
once the records are on the chain. A row whose owner died (this machine: its process is gone;
another machine: the row's lease is over) is an unfinished run: the next command that opens
the engine records it as interrupted (``Engine.recover_unfinished``). ``serve`` keeps the same
plan with its intake rows instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .owners import owner_alive
from .sql import Db

MIGRATION = """
CREATE TABLE IF NOT EXISTS run_journal (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    plan TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Unfinished:
    """A journal row taken over for recovery: whose it was and what it had planned."""

    key: str
    owner: str
    plan: dict[str, Any]


def write(db: Db, key: str, owner: str, created_at: str, expires_at: str, body: str) -> None:
    """Inside the decisions' transaction."""
    db.execute("INSERT INTO run_journal (id, owner, created_at, expires_at, plan)"
               " VALUES (?,?,?,?,?)", (key, owner, created_at, expires_at, body))


def take_over(db: Db, now: str, me: str) -> list[Unfinished]:
    """The rows of dead owners (or past their lease), now owned by ``me``."""
    rows = db.execute("SELECT id, owner, expires_at, plan FROM run_journal ORDER BY created_at"
                      ).fetchall()
    taken = [Unfinished(key, owner, json.loads(plan)) for key, owner, expires, plan in rows
             if owner != me and (expires <= now or not owner_alive(owner))]
    db.executemany("UPDATE run_journal SET owner = ? WHERE id = ?",
                   [(me, row.key) for row in taken])
    return taken


def close(db: Db, keys: Sequence[str]) -> None:
    """These plans' records are on the chain."""
    db.executemany("DELETE FROM run_journal WHERE id = ?", [(key,) for key in keys])
