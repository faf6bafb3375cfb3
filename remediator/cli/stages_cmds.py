"""``stages``: each entry's track record and whether it is ready to move up (or down)."""

from __future__ import annotations

from typing import Any

import click

from .. import catalog as catalog_mod
from ..stages import recommend, track_record
from .output import emit_json, lines_view, moment, show


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON array, one object per entry.")
@click.pass_obj
def stages(app: Any, as_json: bool) -> None:
    """Promotion readiness: each entry's stage, track record and recommendation.

    Promotion stays a reviewed edit of the catalog: the command prints the exact change.

    \b
    Example:
      remediator stages
      remediator stages --json
    """
    config = app.config
    entries = catalog_mod.load(config.catalog, config.playbooks, config.guardrails,
                               config.ansible_setup.collections_paths())
    store = app.store()
    rows: list[dict[str, Any]] = []
    for entry in entries:
        track = track_record(store.records(entry=entry.name))
        advice = recommend(entry, track)
        rows.append({
            "entry": entry.name, "stage": str(entry.stage),
            "effective_stage": str(entry.stage.capped(config.max_stage)),
            "track_record": track.as_dict(), "recommendation": advice.verdict,
            "to": None if advice.to is None else str(advice.to),
            "evidence": list(advice.evidence), "edit": advice.edit,
        })
    if as_json:
        emit_json(rows)
        return
    show(lines_view(line for row in rows for line in _lines(row)))


def _lines(row: dict[str, Any]) -> list[str]:
    """One entry's stage, track record and recommendation, as indented lines."""
    counts = row["track_record"]
    held = counts["predictions_held"]
    verified = held + counts["predictions_missed"]
    lines = [f"{row['entry']}  stage: {row['stage']}"
             + (f" (capped to {row['effective_stage']})"
                if row["effective_stage"] != row["stage"] else ""),
             f"  checks: {counts['checks']} ({counts['check_failures']} failed)  live: "
             f"{counts['live_runs']} ({counts['live_failures']} failed)  "
             f"predictions held: {held}/{verified}"]
    if counts["last_failure"]:
        failure = counts["last_failure"]
        lines.append(f"  last failure: {moment(failure['at'])} record {failure['id']} "
                     f"({failure['outcome']})")
    verdict = row["recommendation"] + (f" to {row['to']}" if row["to"] else "")
    lines.append(f"  recommendation: {verdict}")
    lines += [f"    - {line}" for line in row["evidence"]]
    if row["edit"]:
        lines.append(f"  the change to commit: {row['edit']}")
    return lines

def register(group: click.Group) -> None:
    """Add the command to the top-level group."""
    group.add_command(stages)
