"""``stages``: each entry's track record and whether it is ready to move up (or down)."""

from __future__ import annotations

from typing import Any

import click

from .. import catalog as catalog_mod
from ..stages import recommend, track_record
from ..store import open_store
from .output import emit_json


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
    entries = catalog_mod.load(config.catalog, config.playbooks, config.guardrails)
    store = open_store(config.store)
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
    for row in rows:
        counts = row["track_record"]
        held = counts["predictions_held"]
        verified = held + counts["predictions_missed"]
        click.echo(f"{row['entry']}  stage: {row['stage']}"
                   + (f" (capped to {row['effective_stage']})"
                      if row["effective_stage"] != row["stage"] else ""))
        click.echo(f"  checks: {counts['checks']} ({counts['check_failures']} failed)  live: "
                   f"{counts['live_runs']} ({counts['live_failures']} failed)  "
                   f"predictions held: {held}/{verified}")
        if counts["last_failure"]:
            failure = counts["last_failure"]
            click.echo(f"  last failure: {failure['at']} record {failure['id']} "
                       f"({failure['outcome']})")
        verdict = row["recommendation"] + (f" to {row['to']}" if row["to"] else "")
        click.echo(f"  recommendation: {verdict}")
        for line in row["evidence"]:
            click.echo(f"    - {line}")
        if row["edit"]:
            click.echo(f"  the change to commit: {row['edit']}")


def register(group: click.Group) -> None:
    """Add the command to the top-level group."""
    group.add_command(stages)
