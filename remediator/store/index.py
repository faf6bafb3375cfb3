"""The records table's index columns, derived from each sealed body, and the checks that
they still say what the body says.

Commands filter and show records through these columns (``audit list --since``, ``stages``
per entry, ``audit show`` by id, records by host): ``audit verify`` checks every one of them
against the hashed body, and the reads check what they filtered on, so that editing a column
behind the append-only triggers is named instead of silently changing what people see.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..audit import GENESIS_HASH, check_link
from ..errors import ChainError

# Every column of ``records`` but ``seq`` (the chain order, checked by walking it) and
# ``body`` (hashed): each is derived from the body by ``index_row``, in this order.
INDEX_COLUMNS = ("id", "created_at", "alert_name", "fingerprint", "remediation", "action",
                 "outcome", "mode", "stage", "prev_hash", "hash")
ALTERED = "the store was altered behind its triggers; run `remediator audit verify`"


def index_row(sealed: Mapping[str, Any]) -> tuple[Any, ...]:
    """The values of ``INDEX_COLUMNS`` for a sealed record."""
    alert = sealed.get("alert") or {}
    return (sealed["id"], sealed["created_at"], alert.get("name"), alert.get("fingerprint"),
            (sealed.get("remediation") or {}).get("name"), sealed["decision"]["action"],
            sealed["outcome"], sealed["mode"], sealed.get("stage"), sealed["prev_hash"],
            sealed["hash"])


def indexed_hosts(sealed: Mapping[str, Any]) -> list[str]:
    """The hosts ``record_hosts`` lists for a record: its alert's and its run's, sorted."""
    alert = sealed.get("alert") or {}
    return sorted(set(alert.get("hosts") or ()) | set(sealed.get("hosts") or ()))


def walk(rows: Iterable[Sequence[Any]], decided: dict[str, tuple[str, str]] | None = None
         ) -> tuple[int, str]:
    """Walk ``(seq, *INDEX_COLUMNS, body, hosts JSON)`` rows in seq order: the chain, then each
    row's columns and host index against its body. (count, head) or a ChainError naming the
    first record and column that do not fit. ``decided`` collects, per request, what the
    chain says decided it: (approved or denied, the record's id)."""
    prev, count = GENESIS_HASH, 0
    for seq, *columns, body, hosts in rows:
        record = _body(seq, columns[0], body)
        prev = check_link(record, prev)
        check_row(record, columns, json.loads(hosts) if hosts else [])
        link = record.get("request")
        if decided is not None and isinstance(link, dict) and \
                link.get("state") in ("approved", "denied"):
            decided[str(link.get("id"))] = (str(link["state"]), str(record.get("id")))
        count += 1
    return count, prev


def _body(seq: Any, column_id: Any, body: str) -> dict[str, Any]:
    try:
        record = json.loads(body)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise ChainError(f"record {column_id} (row {seq}): its body is not a JSON record "
                         "(it was altered)", record_id=str(column_id))
    return record


def check_row(record: Mapping[str, Any], columns: Sequence[Any], hosts: Iterable[Any]) -> None:
    """Raise ChainError naming the record and the first index column (or the host index)
    that differs from what its hashed body says."""
    rid = str(record.get("id"))
    try:
        expected = index_row(record)
    except (KeyError, TypeError, AttributeError):
        raise ChainError(f"record {rid}: its body lacks a field its index columns are derived"
                         " from (it was altered)", record_id=rid) from None
    for name, stored, wanted in zip(INDEX_COLUMNS, columns, expected, strict=True):
        if stored != wanted:
            raise ChainError(f"record {rid}: column {name} says {stored!r}, its hashed body "
                             f"{wanted!r} (the row was altered)", record_id=rid)
    listed = sorted(str(h) for h in hosts)
    if listed != indexed_hosts(record):
        raise ChainError(f"record {rid}: record_hosts lists {listed}, its hashed body "
                         f"{indexed_hosts(record)} (the host index was altered)", record_id=rid)


def check_read(record: Mapping[str, Any], column_id: Any, created_at: Any,
               entry: str | None, host: str | None) -> None:
    """Raise ChainError when a record a read returned is not what its row's id and
    created_at columns (what the read filtered and ordered by) and the filter say."""
    rid = str(record.get("id"))
    if rid != column_id:
        raise ChainError(f"record {column_id}: its body is record {rid!r}; {ALTERED}",
                         record_id=str(column_id))
    if record.get("created_at") != created_at:
        raise ChainError(f"record {rid}: column created_at says {created_at!r}, its body "
                         f"{record.get('created_at')!r}; {ALTERED}", record_id=rid)
    if entry is not None and (record.get("remediation") or {}).get("name") != entry:
        raise ChainError(f"record {rid}: listed for entry {entry!r}, its body is of "
                         f"{(record.get('remediation') or {}).get('name')!r}; {ALTERED}",
                         record_id=rid)
    if host is not None and host not in indexed_hosts(record):
        raise ChainError(f"record {rid}: listed for host {host!r}, its body does not name it;"
                         f" {ALTERED}", record_id=rid)


def check_got(record: Mapping[str, Any], column_id: str, key: str) -> None:
    """Raise ChainError when the record read by ``key`` is another record than its row says."""
    rid = str(record.get("id"))
    if rid != column_id or not rid.startswith(key):
        raise ChainError(f"record {column_id}: asked for {key!r}, its body is record {rid!r};"
                         f" {ALTERED}", record_id=column_id)
