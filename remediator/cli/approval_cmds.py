"""``pending``, ``approve`` and ``deny``: people in the loop for human-initiated entries."""

from __future__ import annotations

from typing import Any

import click

from .output import emit_json, moment, progress_printer, record_view, show, table


@click.command()
@click.option("--all", "include_closed", is_flag=True,
              help="Also show approved, denied, expired and resolved requests.")
@click.option("--json", "as_json", is_flag=True, help="JSON array of requests on stdout.")
@click.pass_obj
def pending(app: Any, include_closed: bool, as_json: bool) -> None:
    """List requests waiting for a person to approve a live run.

    Each request carries the check-mode preview: which hosts, which tasks would change; who
    asked (a person's four-eyes run; none for an alert's), the approvals so far, how many it
    needs and who may approve (``null``: anyone who can reach a channel).

    \b
    Example:
      remediator pending
      remediator pending --all --json
    """
    engine = app.engine()
    requests = engine.pending(include_closed)
    status = engine.approvals.status(requests)
    rows: list[dict[str, Any]] = [{
        "id": r.id, "entry": r.entry, "hosts": list(r.hosts),
        "alert": (r.alert or {}).get("name"), "state": str(r.state),
        "created_at": r.created_at, "expires_at": r.expires_at,
        "decided_by": r.decided_by, "decided_at": r.decided_at,
        "result_record": r.result_record,
        "would_change": {h: [t["name"] for t in tasks] for h, tasks in r.preview.items()},
        **status[r.id],
    } for r in requests]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no pending requests", err=True)
        return
    shown = [{**row, "expires_at": moment(row["expires_at"]),
              "approvals": f"{len(row['approvals'])}/{row['required']}",
              "would_change": "; ".join(f"{h}: {len(t)} task(s)"
                                        for h, t in row["would_change"].items()) or "nothing"}
             for row in rows]
    show(table(shown, [("id", "state"), ("entry", "alert"), "hosts", "expires_at",
                       "approvals", "would_change"]))


@click.command()
@click.argument("request_id")
@click.option("--by", "user", help="Who approves (default: $REMEDIATOR_USER or login name).")
@click.option("--reason", default="", help="Why, for the record (optional).")
@click.option("--allow-uncommitted", is_flag=True,
              help="Allow the live run from uncommitted catalog or playbook changes.")
@click.option("--json", "as_json", is_flag=True, help="The run's audit record as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.pass_obj
def approve(app: Any, request_id: str, user: str | None, reason: str,
            allow_uncommitted: bool, as_json: bool, quiet: bool) -> None:
    """Approve a pending request: start its live run now.

    Approving twice runs once (the second call shows the first run). An entry's
    ``approval.required`` distinct people must approve before it runs (each approval is
    recorded). Refused with exit 4, and recorded: an approver not on the allow-list, the
    person who asked for the run (four eyes), one whose approval already counts, an expired,
    resolved or denied request, and one that is not what was previewed (edited in the store,
    or its playbook or catalog entry changed since). The CLI's identity is the OS account
    (``--by`` is recorded beside it).

    \b
    Example:
      remediator approve 19b4c2a1f3e --by alice --reason "disk at 97%, cache is safe to drop"
    """
    engine = app.engine(progress_printer(quiet))
    record, ran = engine.approve(request_id, by=user, reason=reason,
                                allow_uncommitted=allow_uncommitted)
    link = record.get("request")
    if link is not None and link["state"] == "partially-approved":
        click.echo(f"remediator: approval {len(link.get('approvals') or ())} of "
                   f"{link.get('required')} counted (record {record['id']}); the live run "
                   "starts when enough distinct people approve", err=True)
    elif link is not None and link["state"] == "locked":
        click.echo(f"remediator: nothing ran (record {record['id']}): "
                   f"{record['decision']['reason']}; the request stays pending: approve it "
                   "again when that run ends", err=True)
    elif not ran:
        click.echo(f"remediator: request already approved; its run is record {record['id']}",
                   err=True)
    if as_json:
        emit_json(record)
    else:
        show(record_view(record))


@click.command()
@click.argument("request_id")
@click.option("--by", "user", help="Who denies (default: $REMEDIATOR_USER or login name).")
@click.option("--reason", default="", help="Why, for the record.")
@click.option("--json", "as_json", is_flag=True, help="The audit record as JSON on stdout.")
@click.pass_obj
def deny(app: Any, request_id: str, user: str | None, reason: str, as_json: bool) -> None:
    """Deny a pending request: nothing runs, and the denial is recorded.

    \b
    Example:
      remediator deny 19b4c2a1f3e --by alice --reason "fixing by hand"
    """
    record = app.engine().deny(request_id, by=user, reason=reason)
    if as_json:
        emit_json(record)
    else:
        show(record_view(record))


def register(group: click.Group) -> None:
    """Add these commands to the top-level group."""
    for command in (pending, approve, deny):
        group.add_command(command)
