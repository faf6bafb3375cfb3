"""``breaker status`` and ``breaker reset``: failures open a breaker, people close it."""

from __future__ import annotations

from typing import Any

import click

from .output import emit_json, moment, record_view, show, table


@click.group()
def breaker() -> None:
    """See and reset circuit breakers (N failed live runs hold an entry at human-initiated).

    \b
    Example:
      remediator breaker status
      remediator breaker reset disk-space-cleanup --by alice
    """


@breaker.command("status")
@click.option("--json", "as_json", is_flag=True, help="Open breakers as JSON on stdout.")
@click.pass_obj
def status(app: Any, as_json: bool) -> None:
    """List the entries whose circuit breaker is open.

    \b
    Example:
      remediator breaker status --json
    """
    opened = app.store().breakers()
    rows = [{"entry": entry, **info} for entry, info in sorted(opened.items())]
    if as_json:
        emit_json(rows)
    elif rows:
        show(table([{**r, "since": moment(r.get("since"))} for r in rows],
                   ["entry", "since", "failures", "record_id"], whole=("record_id",)))
    else:
        click.echo("no circuit breaker is open", err=True)


@breaker.command("reset")
@click.argument("entry")
@click.option("--by", "user", required=True, help="Who resets it (recorded).")
@click.option("--json", "as_json", is_flag=True, help="The audit record as JSON on stdout.")
@click.pass_obj
def reset(app: Any, entry: str, user: str, as_json: bool) -> None:
    """Close ENTRY's circuit breaker: its automation resumes at its catalog stage.

    \b
    Example:
      remediator breaker reset disk-space-cleanup --by alice
    """
    record = app.engine().reset_breaker(entry, by=user)
    if as_json:
        emit_json(record)
    else:
        show(record_view(record))


def register(group: click.Group) -> None:
    """Add the breaker group to the top-level group."""
    group.add_command(breaker)
