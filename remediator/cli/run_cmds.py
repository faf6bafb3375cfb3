"""``handle`` (the main job) and ``run`` (a person starts a fix)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .. import sources
from ..engine import is_trouble
from ..errors import InputError, RefusedError, StoreError, UsageError
from ..models import Mode
from ..record import AuditRecord
from .output import emit_json, progress_printer, record_view, show

SOURCE_NAMES = [sources.AUTO, *sources.SOURCES]  # the registry's, "auto" first
PRUNE_SLACK_S = 3600  # how far past keeping the oldest claim is before `handle` prunes
F = TypeVar("F", bound=Callable[..., Any])


def handling_options(command: F) -> F:
    """The --fail-on-escalate and --allow-uncommitted options of the alert commands."""
    command = click.option(
        "--allow-uncommitted", is_flag=True,
        help="Allow live runs from uncommitted catalog or playbook changes (recorded).")(command)
    return click.option("--fail-on-escalate", is_flag=True,
                        help="Exit 1 when a record is escalated or its run failed.")(command)


def _finish(records: list[AuditRecord], as_json: bool, fail_on_escalate: bool) -> None:
    """Print the records and exit 1 when asked to and one of them needs a person."""
    if as_json:
        emit_json(records)
    else:
        for record in records:
            show(record_view(record))
    if fail_on_escalate and any(is_trouble(r) for r in records):
        sys.exit(1)


@click.command()
@click.argument("payload", type=click.File("r", encoding="utf-8"))
@click.option("--source", type=click.Choice(SOURCE_NAMES), default="auto", show_default=True,
              help="Payload format; auto detects it.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the audit records as a JSON array on stdout.")
@handling_options
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.pass_obj
def handle(app: Any, payload: Any, source: str, as_json: bool, fail_on_escalate: bool,
           allow_uncommitted: bool, quiet: bool) -> None:
    """Handle an alert payload: match, decide, run the playbook, record.

    PAYLOAD is a file, or - for standard input. Each alert in it becomes one audit record.

    \b
    Example:
      remediator handle examples/alerts/disk-space-low.json
      curl -s ... | remediator handle --source alertmanager --json -
    """
    origin = getattr(payload, "name", "-")
    try:
        text = payload.read()
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc}", where=origin) from None
    alerts = sources.normalize(sources.parse_json(text, origin), source, origin)
    if not alerts:
        click.echo(f"remediator: {origin}: no actionable alert in the payload", err=True)
    engine = app.engine(progress_printer(quiet))
    records = engine.handle(alerts, allow_uncommitted=allow_uncommitted)
    try:  # about hourly under steady traffic; the records are stored whatever happens here
        engine.prune_guard_state(slack_s=PRUNE_SLACK_S)
    except StoreError as exc:
        click.echo(f"remediator: guard state not pruned this time: {exc}", err=True)
    _finish(records, as_json, fail_on_escalate)


def _parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--var {pair!r}: expected KEY=VALUE")
        result[key] = value
    return result


@click.command("run")
@click.argument("entry")
@click.option("--limit", "limit", required=True, help="Comma-separated inventory hosts.")
@click.option("--check/--live", "check", default=True, show_default=True,
              help="Check mode (--check --diff) or a live run.")
@click.option("--var", "var_pairs", multiple=True, metavar="KEY=VALUE",
              help="A playbook variable the entry declares; repeatable.")
@click.option("--by", "user", help="Who starts it (default: $REMEDIATOR_USER or login name).")
@click.option("--allow-uncommitted", is_flag=True,
              help="Allow a live run from uncommitted catalog or playbook changes (recorded).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the audit records as a JSON array on stdout (one record: like "
                   "handle's).")
@click.option("--fail-on-escalate", is_flag=True, help="Exit 1 when the run failed.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.pass_obj
def run_cmd(app: Any, entry: str, limit: str, check: bool, var_pairs: tuple[str, ...],
            user: str | None, allow_uncommitted: bool, as_json: bool, fail_on_escalate: bool,
            quiet: bool) -> None:
    """Start a catalog entry's playbook by hand on some hosts.

    A refused live run (uncommitted changes, change freeze) is recorded and exits 4. On an
    entry with ``approval: {four_eyes: true}`` a live run opens a pending request (a check-mode
    preview) that someone else must approve; it exits 0.

    \b
    Example:
      remediator run disk-space-cleanup --limit demo-web-01 --check
      remediator run disk-space-cleanup --limit demo-web-01 --live --var disk_mountpoint=/
    """
    engine = app.engine(progress_printer(quiet))
    hosts = [h.strip() for h in limit.split(",") if h.strip()]
    record = engine.run_manual(entry, hosts, Mode.CHECK if check else Mode.LIVE,
                               variables=_parse_vars(var_pairs), user=user,
                               allow_uncommitted=allow_uncommitted)
    if record["decision"]["action"] == "escalate" and record["mode"] == "none":
        if as_json:
            emit_json([record])
        raise RefusedError(f"{record['decision']['reason']} (recorded as {record['id']})")
    if record["decision"]["action"] == "pending":
        click.echo(f"remediator: four eyes: nothing ran live; request {record['id']} waits for "
                   f"someone else's approval: remediator approve {record['id']} --by NAME "
                   "(or in Slack, or on the request page)", err=True)
    _finish([record], as_json, fail_on_escalate)


def register(group: click.Group) -> None:
    """Add these commands to the top-level group."""
    group.add_command(handle)
    group.add_command(run_cmd)
