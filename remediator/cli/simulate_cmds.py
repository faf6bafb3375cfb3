"""``simulate --history FILE``: replay an alert history through the catalog, deciding only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import click

from .. import history
from ..errors import InputError, UsageError
from ..history.simulate import simulate as run_simulation
from ..history.simulation_report import report
from .audit_cmds import parse_since
from .progress import Meter, meter
from .report_cmds import show_report


@click.command()
@click.option("--history", "path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The alert history: a PagerDuty incident export (.csv) or Alertmanager "
                   "webhook payloads as JSON lines (.jsonl).")
@click.option("--format", "fmt", type=click.Choice([history.AUTO, *history.FORMATS]),
              default=history.AUTO, show_default=True,
              help="The history's format (auto: by file name, or a first '{' for JSON lines).")
@click.option("--since", help="Only incidents that started since: 7d, 2h, or an ISO time.")
@click.option("--until", help="Only incidents that started before: 1d, or an ISO time.")
@click.option("--from-store-state", is_flag=True,
              help="Start from a copy of the store's guardrail state (recent runs, locks, open "
                   "breakers), the history moved to start now: \"what if this happened next?\" "
                   "Default: an empty state, \"what would this catalog have done then?\"")
@click.option("--skip-bad", is_flag=True,
              help="Skip bad rows or lines (counted, the first named on stderr) instead of "
                   "stopping at the first.")
@click.option("--json", "as_json", is_flag=True, help="The counts as JSON on stdout.")
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report (with its chart) to this file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.pass_obj
def simulate(app: Any, path: Path, fmt: str, since: str | None, until: str | None,
             from_store_state: bool, skip_bad: bool, as_json: bool, html: Path | None,
             quiet: bool) -> None:
    """Replay an alert history through today's catalog and guardrails, running nothing.

    Each incident fires at its start and resolves at its end, in time order, through the
    same decision code as `handle` (stages, --max-stage, dedupe, throttle, cooldown, locks,
    blast radius, breaker, recurrence, maintenance windows, storms), with every run counted
    as an instant success. The guardrail state lives in a temporary scratch store: the real
    store is never written. The catalog is taken as committed. An incident's host column
    (PagerDuty) stands in for the `instance` label when the alert has none.

    \b
    Example:
      remediator simulate --history incidents.csv
      remediator simulate --history alerts.jsonl --since 30d --json
      remediator --max-stage observe simulate --history incidents.csv --from-store-state
    """
    config = app.config
    bad: list[InputError] = []
    with meter(quiet) as progress:
        incidents = history.between(
            history.read(path, fmt, progress=_rows(progress),
                         on_bad=bad.append if skip_bad else None),
            _moment(since, "--since"), _moment(until, "--until"))
        tally = run_simulation(config, incidents, from_store_state=from_store_state,
                               progress=_phases(progress))
    if bad and not quiet:
        click.echo(f"remediator: skipped {len(bad)} bad rows; the first: {bad[0]}", err=True)
    show_report(report(tally, str(path), skipped=len(bad)), as_json, html, quiet)


def _moment(value: str | None, option: str) -> datetime | None:
    """--since / --until as an aware datetime."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(parse_since(value))
    except UsageError as exc:
        raise UsageError(exc.message.replace("--since", option)) from None


def _rows(progress: Meter | None) -> Callable[[int], None] | None:
    """Progress of reading the history: rows read."""
    return None if progress is None else partial(progress, "rows read")


def _phases(progress: Meter | None) -> Callable[[str, int], None] | None:
    """Progress of the replay: deliveries sorted into time order, then decided, of as many
    as were sorted."""
    if progress is None:
        return None
    sorted_count: dict[str, int] = {}

    def phase(stage: str, count: int) -> None:
        if stage == "sorted":
            sorted_count[stage] = count
        progress(f"alerts {stage}", count, sorted_count.get("sorted") if stage != "sorted"
                 else None)

    return phase


def register(group: click.Group) -> None:
    """Add the command to the top-level group."""
    group.add_command(simulate)
