"""``catalog list`` and ``catalog validate``."""

from __future__ import annotations

from typing import Any

import click

from .. import catalog as catalog_mod
from ..errors import CatalogError
from ..validate import validate
from .output import emit_json, show, table


@click.group()
def catalog() -> None:
    """Read and check the catalog of remediations.

    \b
    Example:
      remediator catalog list
      remediator catalog validate
    """


@catalog.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON array of entries on stdout.")
@click.pass_obj
def list_cmd(app: Any, as_json: bool) -> None:
    """List the catalog's entries with their stage, matchers and playbook (or AWX job template).

    \b
    Example:
      remediator catalog list --json
    """
    config = app.config
    entries = catalog_mod.load(config.catalog, config.playbooks, config.guardrails,
                               config.ansible_setup.collections_paths())
    rows = [{
        "name": e.name,
        "stage": str(e.stage),
        "effective_stage": str(e.stage.capped(config.max_stage)),
        "match": ", ".join(str(m) for m in e.matchers),
        "playbook": e.playbook,
        "job_template": e.job_template,
        # the accelerator its local runs use (AWX chooses for a job template's)
        "accelerator": None if e.job_template is not None else e.accelerator or config.accelerator,
        "target": e.target.label,
        "vars": sorted(e.vars),
    } for e in entries]
    if as_json:
        emit_json(rows)
        return
    shown = [{**r, "playbook": r["playbook"] or f"AWX job template {r['job_template']}"}
             for r in rows]
    show(table(shown, ["name", ("stage", "effective_stage"), ("playbook", "target"), "match"],
               whole=()))


@catalog.command("validate")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON on stdout.")
@click.option("--awx", "online", is_flag=True,
              help="Also ask AWX whether each job template exists and prompts for what its "
                   "entry needs (reads the token from awx.token_env).")
@click.pass_obj
def validate_cmd(app: Any, as_json: bool, online: bool) -> None:
    """Validate the catalog, the inventory and every playbook's syntax; exit 2 on a problem.

    Offline unless --awx is given.

    \b
    Example:
      remediator --config remediator.yml catalog validate
      remediator catalog validate --awx
    """
    config = app.config
    report = validate(config, progress=lambda msg: click.echo(f"  {msg}", err=True),
                      awx=online)
    if as_json:
        emit_json({"ok": report.ok, "entries": report.entries, "playbooks": report.playbooks,
                   "problems": list(report.problems), "warnings": list(report.warnings)})
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not report.ok:
        raise CatalogError(f"{len(report.problems)} problem(s) found", problems=report.problems,
                           where=str(config.catalog))
    if not as_json:
        click.echo(f"catalog OK: {report.entries} entries, {report.playbooks} playbooks "
                   "syntax-checked")


def register(group: click.Group) -> None:
    """Add the catalog group to the top-level group."""
    group.add_command(catalog)
