"""Formatting for people (stderr progress, readable records) and machines (clean JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

from ..models import TaskResult
from ..record import AuditRecord
from ..results import diff_summary


def emit_json(data: Any) -> None:
    """JSON on stdout and nothing else."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False))


def progress_printer(quiet: bool) -> Any:
    """A progress callback printing each finished task on stderr, or None when quiet."""
    if quiet:
        return None

    def show(host: str, task: TaskResult) -> None:
        click.echo(f"  [{host}] {task.status:<11} {task.name}", err=True)

    return show


def record_text(record: AuditRecord, *, detail: bool = False) -> str:
    """A readable rendition of one audit record."""
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
    return "\n".join(lines)


def _task_lines(task: Mapping[str, Any], detail: bool) -> Iterable[str]:
    yield f"    {task['status']:<11} {task['name']}"
    if task.get("msg") and (detail or task["status"] != "changed" or not task.get("diff")):
        yield f"                {task['msg']}"
    for diff in task.get("diff") or ():
        yield f"                diff: {diff_summary(diff)}"


def table(rows: Sequence[Mapping[str, Any]], columns: list[str]) -> str:
    """A plain aligned text table."""
    cells = [[str(r.get(c) if r.get(c) is not None else "-") for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    out = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in out)
