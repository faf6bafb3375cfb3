"""Formatting for people (tables and records fitted to the terminal, progress on stderr) and
machines (clean JSON on stdout). Rich does the fitting and the colour: a console is the
terminal's width (``COLUMNS``, else 80 when not a terminal), colour only on a terminal and
never with ``NO_COLOR``."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import click
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..models import TaskResult
from ..record import AuditRecord
from ..reports.text import grid_table
from ..results import diff_summary

# values that get a colour wherever a table or record shows them (on a terminal)
STYLES = {
    "succeeded": "green", "failed": "red", "unreachable": "red", "interrupted": "red",
    "escalate": "yellow", "pending": "cyan", "approved": "green", "denied": "yellow",
    "expired": "dim",
}
_STYLED_RE = re.compile(r"(?<![\w-])(?:" + "|".join(STYLES) + r")(?![\w-])")
Column = str | tuple[str, ...]  # a key, or keys whose values stack in one cell


def console(*, err: bool = False) -> Console:
    """A console on stdout (or stderr) as the user's terminal and environment allow."""
    plain = bool(os.environ.get("NO_COLOR"))
    return Console(stderr=err, color_system=None if plain else "auto", highlight=False,
                   markup=False, emoji=False)


def show(*renderables: RenderableType) -> None:
    """Print on stdout, fitted to its width."""
    console().print(*renderables)


def emit_json(data: Any) -> None:
    """JSON on stdout and nothing else."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False))


def progress_printer(quiet: bool) -> Any:
    """A progress callback printing each finished task on stderr, or None when quiet."""
    if quiet:
        return None

    def show_task(host: str, task: TaskResult) -> None:
        click.echo(f"  [{host}] {task.status:<11} {task.name}", err=True)

    return show_task


def lines_view(lines: Iterable[str]) -> RenderableType:
    """Indented lines of text as one renderable: a line too long for the terminal wraps,
    its continuation keeping the line's indent."""
    return Group(*(Padding(styled(line.lstrip(" ")), (0, 0, 0, len(line) - len(line.lstrip(" "))))
                   for line in lines))


def styled(text: str) -> Text:
    """``text`` with the words that have a colour (STYLES) coloured."""
    shown = Text(text)
    for found in _STYLED_RE.finditer(text):
        shown.stylize(STYLES[found.group()], found.start(), found.end())
    return shown


def record_text(record: AuditRecord, *, detail: bool = False) -> str:
    """A readable rendition of one audit record."""
    return "\n".join(record_lines(record, detail=detail))


def record_view(record: Mapping[str, Any], *, detail: bool = False) -> RenderableType:
    """One audit record for the terminal: ``record_text``, wrapped to the width."""
    return lines_view(record_lines(record, detail=detail))


def record_lines(record: Mapping[str, Any], *, detail: bool = False) -> list[str]:
    """The lines of ``record_text``."""
    alert: Mapping[str, Any] = record.get("alert") or {}
    remediation: Mapping[str, Any] = record.get("remediation") or {}
    decision = record["decision"]
    hosts = ", ".join(alert.get("hosts") or sorted(record.get("hosts") or {})) or "-"
    subject = alert.get("name") or f"manual run by {record.get('initiated_by')}"
    lines = [
        f"record {record['id']}  {record['created_at']}",
        f"  alert:    {subject} [{alert.get('status', '-')}] hosts: {hosts}",
        f"  entry:    {remediation.get('name') or '-'}  stage: {record.get('stage') or '-'}  "
        f"mode: {record['mode']}",
        f"  decision: {decision['action']}: {decision['reason']}",
    ]
    lines += [f"  note:     {note}" for note in decision.get("notes") or ()]
    runner = record.get("runner")
    outcome = record["outcome"]
    if runner:
        outcome += (f" (runner {runner['status']}, rc={runner['rc']}, "
                    f"{record.get('duration_s')}s, ident {runner['ident']})")
    lines.append(f"  outcome:  {outcome}")
    if runner and runner.get("failure"):
        lines.append(f"  failure:  {runner['failure']}")
    elif runner and runner.get("error") and record["outcome"] != "succeeded":
        lines.append(f"  error:    {str(runner.get('error')).splitlines()[-1]}")
    for host, result in (record.get("hosts") or {}).items():
        lines.append(f"  {host}: ok={result['ok']} changed={result['changed']} "
                     f"failed={result['failed']} unreachable={result['unreachable']} "
                     f"skipped={result['skipped']}")
        for task in result["tasks"]:
            if detail or task["status"] in ("changed", "failed", "unreachable") or (
                    task["action"].endswith("debug") and task.get("msg")):
                lines.extend(_task_lines(task, detail))
        omitted = result.get("tasks_omitted")
        if omitted:
            lines.append("    tasks not listed: "
                         + " ".join(f"{k}={v}" for k, v in sorted(omitted.items())))
    truncated = record.get("truncated")
    if truncated:
        lines.append(f"  tasks:    {truncated['tasks_listed']} listed, "
                     f"{truncated['tasks_omitted']} not (every event: "
                     f"{truncated.get('job_events') or 'the runner artifacts'})")
    if not detail:
        lines.append(f"  full record: remediator audit show {record['id']}")
    return lines


def _task_lines(task: Mapping[str, Any], detail: bool) -> Iterable[str]:
    yield f"    {task['status']:<11} {task['name']}"
    if task.get("msg") and (detail or task["status"] != "changed" or not task.get("diff")):
        yield f"                {task['msg']}"
    for diff in task.get("diff") or ():
        yield f"                diff: {diff_summary(diff)}"


def moment(text: Any) -> Any:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS`` (its offset kept unless UTC): two words, so
    a narrow column wraps it between date and time."""
    if not isinstance(text, str):
        return text
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    offset = parsed.utcoffset()
    zone = "" if offset is None or not offset else parsed.strftime(" %z")
    return parsed.strftime("%Y-%m-%d %H:%M:%S") + zone


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *,
          whole: Sequence[str] = ("id",)) -> Table:
    """Rows under upper-case headers, fitted to the width by wrapping cells (never cut);
    a column of several keys stacks their values in one cell, one line each, so that a
    record needs fewer, wider columns; a column whose first key is in ``whole`` never wraps
    (ids stay whole, to copy)."""
    grid = grid_table()
    for column in columns:
        keys = (column,) if isinstance(column, str) else column
        grid.add_column("\n".join(k.replace("_", " ").upper() for k in keys),
                        overflow="fold", no_wrap=keys[0] in whole)
    for row in rows:
        grid.add_row(*(_cell(row, (c,) if isinstance(c, str) else c) for c in columns))
    return grid


def _cell(row: Mapping[str, Any], keys: Sequence[str]) -> Text:
    """The values of ``keys`` in ``row``, one line each, ``-`` for none."""
    return Text("\n").join(styled(_value(row.get(key))) for key in keys)


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)
