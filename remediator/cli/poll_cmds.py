"""``poll``: handle Alertmanager's active alerts once, for cron."""

from __future__ import annotations

import os
from typing import Any

import click

from .. import poll as poll_mod
from .output import progress_printer
from .run_cmds import _finish, handling_options


@click.command("poll")
@click.option("--alertmanager", "url", required=True, metavar="URL",
              help="Alertmanager's base URL, e.g. http://127.0.0.1:9093.")
@click.option("--filter", "filters", multiple=True, metavar="MATCHER",
              help="Only alerts matching this Alertmanager matcher, e.g. 'severity=\"page\"'; "
                   "repeatable (all must match).")
@click.option("--bearer-token-env", metavar="NAME",
              help="Send 'Authorization: Bearer TOKEN', TOKEN read from environment variable NAME.")
@click.option("--basic-auth-env", metavar="NAME",
              help="Send HTTP basic auth, user:password read from environment variable NAME.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), metavar="SECONDS",
              default=poll_mod.DEFAULT_TIMEOUT_S, show_default=True,
              help="Seconds to wait for Alertmanager's answer.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the new audit records as a JSON array on stdout.")
@handling_options
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary on stderr.")
@click.pass_obj
def poll_cmd(app: Any, url: str, filters: tuple[str, ...], bearer_token_env: str | None,
             basic_auth_env: str | None, timeout_s: float, as_json: bool,
             fail_on_escalate: bool, allow_uncommitted: bool, quiet: bool) -> None:
    """Handle Alertmanager's active alerts once; alerts handled before are skipped.

    Reads the active, unsilenced, uninhibited alerts from Alertmanager's API v2 and handles
    each one that no earlier poll, handle or serve handled (the same fingerprint, start and
    status): it prints a record for each new one and writes no record for the rest. Runs that
    overlap are safe: they share the store's guardrails, so an alert still gets one run and one
    record. Secrets come from environment variables, never from the command line. If
    Alertmanager cannot be reached, nothing is handled and the exit code is 8 (retry later).

    \b
    Example:
      remediator poll --alertmanager http://127.0.0.1:9093
      # crontab: every minute, output (mailed by cron) only when something was handled
      * * * * * cd /srv/ops && remediator poll --alertmanager http://127.0.0.1:9093 -q
    """
    headers = poll_mod.auth_headers(os.environ, bearer_env=bearer_token_env,
                                    basic_env=basic_auth_env)
    engine = app.engine(progress_printer(quiet))
    state = poll_mod.state_file(app.config.runs.parent / "poll", url, filters)
    result = poll_mod.poll(engine, url, filters=filters, headers=headers, timeout_s=timeout_s,
                           allow_uncommitted=allow_uncommitted, state=state)
    if not quiet:
        click.echo(f"remediator: {result.summary()}", err=True)
    _finish(result.records, as_json, fail_on_escalate)


def register(group: click.Group) -> None:
    """Add ``poll`` to the top-level group."""
    group.add_command(poll_cmd)
