"""``report noise|candidates|effectiveness|trends``: the reports for the guide's first phase
(which alerts to automate) and last (is the automation working)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from .. import catalog as catalog_mod
from .. import history as history_mod
from ..common import utc_now
from ..errors import StoreError, UsageError
from ..history import Incident
from ..models import Remediation
from ..record import AuditRecord
from ..reports.candidates import candidates
from ..reports.doc import ReportDoc
from ..reports.effectiveness import effectiveness
from ..reports.noise import NoiseRules, noise
from ..reports.text import report_view
from ..reports.trends import TrendRules, alert_trends, trends
from ..store import AuditLog, describe, exists
from .audit_cmds import parse_since
from .output import emit_json, show
from .progress import Meter, meter

F = TypeVar("F", bound=Callable[..., Any])
PROGRESS_EVERY = 50_000  # rows between two progress lines on stderr
FORMAT_NAMES = [history_mod.AUTO, *history_mod.FORMATS]
FILE_OR_STORE = ("Alert history to read (PagerDuty CSV export or Alertmanager webhook JSON "
                 "lines); default: the audit store.")


def report_options(history_help: str) -> Callable[[F], F]:
    """The options every report takes: input, time filter, output and progress."""

    def add(command: F) -> F:
        """``command`` with the options added."""
        for option in reversed((
            click.option("--history", type=click.Path(exists=True, dir_okay=False,
                                                      path_type=Path),
                         metavar="FILE", help=history_help),
            click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES),
                         default=history_mod.AUTO, show_default=True,
                         help="Format of the --history file; auto goes by its name and content."),
            click.option("--since", help="Only what started since: 30m, 2h, 7d, or an ISO time."),
            click.option("--json", "as_json", is_flag=True,
                         help="The report's data as JSON on stdout, nothing else."),
            click.option("--html", type=click.Path(dir_okay=False, path_type=Path),
                         metavar="FILE", help="Also write the report as one offline HTML file."),
            click.option("-q", "--quiet", is_flag=True, help="No progress on stderr."),
        )):
            command = option(command)
        return command

    return add


@click.group()
def report() -> None:
    """Reports: which alerts to automate, and how the automation is doing.

    \b
    Example:
      remediator report noise --history incidents.csv
      remediator report effectiveness --since 30d --html effectiveness.html
    """


@report.command("noise")
@report_options(FILE_OR_STORE)
@click.option("--quick", type=click.FloatRange(min=0, min_open=True), default=5.0,
              show_default=True, metavar="MINUTES",
              help="Resolved within this many minutes: likely unactionable.")
@click.option("--flap-count", type=click.IntRange(min=2), default=3, show_default=True,
              metavar="N", help="Starts of the same alert that make it flap ...")
@click.option("--flap-window", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, metavar="MINUTES", help="... within this many minutes.")
@click.option("--tz", "zone", default="UTC", show_default=True, metavar="ZONE",
              help="Time zone for hour of day and day of week, e.g. Europe/Berlin.")
@click.pass_obj
def noise_cmd(app: Any, history: Path | None, fmt: str, since: str | None, as_json: bool,
              html: Path | None, quiet: bool, quick: float, flap_count: int, flap_window: float,
              zone: str) -> None:
    """Alert noise per alert type: volume, when it fires, how it ends, what flaps, and the
    alerts that should go back to engineering.

    \b
    Example:
      remediator report noise --history incidents.csv --quick 5 --tz Europe/Berlin
      remediator report noise --since 30d --json
    """
    rules = NoiseRules(quick_minutes=quick, flap_count=flap_count, flap_minutes=flap_window)
    tz = _zone(zone)
    with meter(quiet) as progress:
        incidents, source = _incidents(app, history, fmt, since, progress)
        doc = noise(incidents, now=utc_now(), source=source, rules=rules, tz=tz)
    show_report(doc, as_json, html, quiet)


@report.command("candidates")
@report_options(FILE_OR_STORE)
@click.pass_obj
def candidates_cmd(app: Any, history: Path | None, fmt: str, since: str | None,
                   as_json: bool, html: Path | None, quiet: bool) -> None:
    """Alert types ranked by the toil automating them would save, and how simple they are
    (one host, one service, a catalog entry, a runbook), with the reasoning per row.

    \b
    Example:
      remediator report candidates --history incidents.csv
      remediator report candidates --history alertmanager.jsonl --html candidates.html
    """
    entries = _catalog(app, required=False, quiet=quiet)
    with meter(quiet) as progress:
        incidents, source = _incidents(app, history, fmt, since, progress)
        doc = candidates(incidents, entries, now=utc_now(), source=source)
    show_report(doc, as_json, html, quiet)


@report.command("effectiveness")
@report_options("Alert history from before the automation (PagerDuty CSV or Alertmanager "
                "JSON lines): the 'before' times to resolve come from it.")
@click.pass_obj
def effectiveness_cmd(app: Any, history: Path | None, fmt: str, since: str | None,
                      as_json: bool, html: Path | None, quiet: bool) -> None:
    """Per catalog entry: runs and outcomes by stage, fixes that held, re-fires, alerts
    resolved without a person, time to resolve before and after automation, toil saved.

    \b
    Example:
      remediator report effectiveness --since 90d
      remediator report effectiveness --history before.csv --json
    """
    _format_needs_history(history, fmt)
    entries = _catalog(app, required=True, quiet=quiet)
    store, source = _store(app)
    records = store.records(parse_since(since) if since else None)
    before = None
    with meter(quiet) as progress:
        if history is not None:
            before = history_mod.read(history, fmt, progress=_rows(progress))
            source += f"; before: {history}"
        doc = effectiveness(records, entries, now=utc_now(), source=source, history=before,
                            progress=_rows(progress, "records read"))
    show_report(doc, as_json, html, quiet)


@report.command("trends")
@report_options("Alert history (PagerDuty CSV or Alertmanager JSON lines): judge each alert "
                "type's occurrences per week instead of the entries' runs.")
@click.option("--weeks", type=click.IntRange(min=3), default=8, show_default=True,
              help="Complete ISO weeks judged (the current week is shown, not judged).")
@click.option("--min-slope", type=click.FloatRange(min=0), default=0.5, show_default=True,
              help="Least-squares slope needed, in runs (or occurrences) per week per week.")
@click.option("--min-ratio", type=click.FloatRange(min=1), default=1.5, show_default=True,
              help="Last weeks' mean over first weeks' mean needed.")
@click.option("--min-runs", type=click.IntRange(min=1), default=6, show_default=True,
              help="Runs (or occurrences) needed in the judged weeks.")
@click.pass_obj
def trends_cmd(app: Any, history: Path | None, fmt: str, since: str | None, as_json: bool,
               html: Path | None, quiet: bool, weeks: int, min_slope: float, min_ratio: float,
               min_runs: int) -> None:
    """Runs per catalog entry per ISO week, flagging the fixes that run more and more often
    (a root cause to find), with the numbers behind each flag.

    \b
    Example:
      remediator report trends
      remediator report trends --weeks 12 --min-ratio 2 --json
    """
    rules = TrendRules(weeks=weeks, min_slope=min_slope, min_ratio=min_ratio,
                       min_runs=min_runs)
    with meter(quiet) as progress:
        if history is not None:
            incidents, source = _incidents(app, history, fmt, since, progress)
            doc = alert_trends(incidents, now=utc_now(), source=source, rules=rules)
        else:
            store, source = _store(app)
            records = _counted(store.records(parse_since(since) if since else None),
                               _rows(progress, "records read"))
            doc = trends(records, now=utc_now(), source=source, rules=rules)
    show_report(doc, as_json, html, quiet)


def _incidents(app: Any, history: Path | None, fmt: str, since: str | None,
               progress: Meter | None) -> tuple[Iterator[Incident], str]:
    """The incidents to report on (a history file, else the audit store) and where from."""
    _format_needs_history(history, fmt)
    start = datetime.fromisoformat(parse_since(since)) if since else None
    if history is None:
        path = app.config.store
        found = history_mod.read(None, store=path, progress=_rows(progress, "records read"))
        return history_mod.between(found, start), f"audit store {describe(path)}"
    found = history_mod.read(history, fmt, progress=_rows(progress))
    return history_mod.between(found, start), str(history)


def _format_needs_history(history: Path | None, fmt: str) -> None:
    """--format describes the --history file: alone it is a mistake."""
    if history is None and fmt != history_mod.AUTO:
        raise UsageError(f"--format {fmt}: give the file with --history (without it the "
                         "report reads the audit store)")


def _store(app: Any) -> tuple[AuditLog, str]:
    """The audit store (which must exist: a report never creates one) and its name."""
    path = app.config.store
    if not exists(path):
        raise StoreError("no audit store here", where=describe(path))
    return app.store(path, pool_size=2), f"audit store {describe(path)}"


def _catalog(app: Any, *, required: bool, quiet: bool) -> list[Remediation]:
    """The catalog's entries; without a catalog file, none (when not ``required``)."""
    config = app.config
    if not required and not Path(config.catalog).is_file():
        if not quiet:
            click.echo(f"remediator: no catalog at {config.catalog}: no entry is matched",
                       err=True)
        return []
    return list(catalog_mod.load(config.catalog, config.playbooks, config.guardrails,
                                 config.ansible_setup.collections_paths()))


def _zone(name: str) -> tzinfo:
    """The time zone called ``name``; UTC itself for "UTC" (the reports' fast path)."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--tz {name!r}: unknown time zone (e.g. UTC, Europe/Berlin)"
                         ) from None


def _rows(progress: Meter | None, what: str = "rows read") -> Callable[[int], None] | None:
    """A callback telling ``progress`` how many rows were read (None when quiet)."""
    return None if progress is None else partial(progress, what)


def _counted(rows: Iterator[AuditRecord], progress: Callable[[int], None] | None
             ) -> Iterator[AuditRecord]:
    """``rows`` unchanged, telling ``progress`` the count every PROGRESS_EVERY rows."""
    for count, row in enumerate(rows, 1):
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
        yield row


def show_report(doc: ReportDoc, as_json: bool, html: Path | None, quiet: bool) -> None:
    """JSON of the data on stdout, or the text report; and the HTML file when asked."""
    if html is not None:
        from ..reports.html import render_html

        try:
            html.write_text(render_html(doc), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--html {html}: cannot write: {exc.strerror}") from None
        if not quiet:
            click.echo(f"remediator: wrote {html}", err=True)
    if as_json:
        emit_json(doc.data)
        return
    show(report_view(doc))


def register(group: click.Group) -> None:
    """Add the report group to the top-level group."""
    group.add_command(report)
