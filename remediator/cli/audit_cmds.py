"""``audit list``, ``audit show`` and ``audit verify``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from ..audit import summary
from ..common import iso, utc_now
from ..errors import ChainError, UsageError
from . import output
from .output import emit_json, moment, record_view, table

_RELATIVE_RE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> str:
    """``30m``, ``2h``, ``7d`` or an ISO date/time -> a UTC ISO timestamp to compare against."""
    now = now or utc_now()
    found = _RELATIVE_RE.match(text.strip())
    if found:
        moment = now - timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise UsageError(f"--since {text!r}: expected e.g. 30m, 2h, 7d or 2026-11-26T10:00"
                             ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return iso(moment)


@click.group()
def audit() -> None:
    """Read and verify the audit records.

    \b
    Example:
      remediator audit list --since 1d
      remediator audit verify
    """


@audit.command("list")
@click.option("--since", help="Only records since this: 30m, 2h, 7d, or an ISO time.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N records.")
@click.option("--json", "as_json", is_flag=True, help="JSON array of record summaries on stdout.")
@click.pass_obj
def list_cmd(app: Any, since: str | None, limit: int | None, as_json: bool) -> None:
    """List audit records, oldest first.

    \b
    Example:
      remediator audit list --since 2h --json
    """
    store = app.store()
    rows = [summary(r) for r in store.records(parse_since(since) if since else None)]
    if limit:
        rows = rows[-limit:]
    if as_json:
        emit_json(rows)
        return
    shown = [{**row, "created_at": moment(row["created_at"]),
              "decision": row["action"] + ("" if row["mode"] in (None, "none")
                                           else f" ({row['mode']})")} for row in rows]
    output.show(table(shown, [("id", "created_at"), ("alert", "hosts"), ("remediation", "stage"),
                       ("decision", "outcome")]))


@audit.command("show")
@click.argument("record_id")
@click.option("--json", "as_json", is_flag=True, help="The whole record as JSON on stdout.")
@click.pass_obj
def show(app: Any, record_id: str, as_json: bool) -> None:
    """Show one audit record; a unique prefix of its id is enough.

    \b
    Example:
      remediator audit show 19b4c2a1f3e --json
    """
    record = app.store().get(record_id)
    if as_json:
        emit_json(record)
    else:
        output.show(record_view(record, detail=True))


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True,
              help="The result as a JSON object on stdout (on a misfit too; the exit code "
                   "stays 3).")
@click.pass_obj
def verify(app: Any, as_json: bool) -> None:
    """Re-walk the hash chain and check every index column, host index row and approval
    request against what was hashed; exit 3 naming the first record (or request) and column
    that does not fit.

    \b
    Example:
      remediator audit verify
      remediator audit verify --json
    """
    store = app.store()
    try:
        count, head = store.verify()
    except ChainError as exc:
        if as_json:
            emit_json({"ok": False, "count": None, "head": None, "record": exc.record_id,
                       "error": str(exc)})
        raise
    if as_json:
        emit_json({"ok": True, "count": count, "head": head, "record": None, "error": None})
    else:
        # the head on a line of its own: 80 columns; scripts read --json
        click.echo(f"audit chain OK: {count} records\nhead {head}")


def register(group: click.Group) -> None:
    """Add the audit group to the top-level group."""
    group.add_command(audit)
