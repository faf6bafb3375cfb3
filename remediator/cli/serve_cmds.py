"""``serve``: the webhook receiver for Alertmanager, PagerDuty and generic JSON."""

from __future__ import annotations

import sys
from typing import Any

import click


@click.command()
@click.option("--listen", metavar="HOST:PORT",
              help="Address to listen on (default: server.listen, else 127.0.0.1:9095; "
                   "port 0 picks a free one).")
@click.option("--workers", type=click.IntRange(min=1),
              help="Threads handling accepted alerts (default: server.workers, else 2).")
@click.option("--access-log", is_flag=True, help="Log every request on stderr.")
@click.pass_obj
def serve(app: Any, listen: str | None, workers: int | None, access_log: bool) -> None:
    """Receive alert webhooks and handle them until SIGTERM or SIGINT.

    Every accepted payload is written to the store before the 202 answer; workers handle it
    from there, so a crash loses nothing that was accepted. Endpoints (each enabled with its
    auth under server.endpoints in the config):

    \b
      POST /webhook/alertmanager   bearer token or basic auth (Alertmanager http_config)
      POST /webhook/pagerduty      X-PagerDuty-Signature (HMAC-SHA256 of the body)
      POST /webhook/generic        X-Remediator-Signature over timestamp.body
      GET  /healthz                200 while accepting, else 503
      GET  /metrics                Prometheus text format
      GET  /requests, /records/ID  the approval page, with server.web (login or proxy)

    \b
    Example:
      REMEDIATOR_AM_TOKEN=... remediator serve --listen 127.0.0.1:9095
    """
    from ..server.app import Options
    from ..server.app import serve as run_server

    config = app.config
    run_server(config, Options(listen=listen or config.server.listen,
                               workers=workers or config.server.workers,
                               access_log=access_log, engine_factory=app.engine_factory()))


@click.command("hash-password")
@click.option("--stdin", "from_stdin", is_flag=True,
              help="Read the password from the first line of stdin instead of a prompt.")
def hash_password(from_stdin: bool) -> None:
    """Print a bcrypt hash of a password, for server.web.users in the config.

    The password is asked for twice without echo (or read from stdin); only the hash is
    printed. `htpasswd -nBC 10 NAME` makes the same kind of hash.

    \b
    Example:
      remediator hash-password
      # server.web.users: {alice: '$2b$10$...'}
    """
    from ..server.web.sessions import hash_password as make_hash

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True,
                                err=True)
    if not password:
        raise click.UsageError("the password is empty")
    if len(password.encode()) > 72:
        raise click.UsageError("bcrypt reads at most 72 bytes of a password; this one is "
                               f"{len(password.encode())}")
    click.echo(make_hash(password))


def register(group: click.Group) -> None:
    """Add these commands to the top-level group."""
    group.add_command(serve)
    group.add_command(hash_password)
