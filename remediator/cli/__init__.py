"""The command line: parses, calls one library function, formats the answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click

from .. import config as config_mod
from ..errors import CatalogError, RemediatorError, StoreError
from ..models import Stage

if TYPE_CHECKING:
    from ..engine import Clock, Engine
    from ..executor import Executor, ProgressFn
    from ..store import AuditStore, StoreLocation

STAGE_NAMES = [s.value for s in Stage]


class _HasClose(Protocol):
    def close(self) -> None: ...


_Closable = TypeVar("_Closable", bound=_HasClose)


@dataclass(frozen=True)
class EngineParts:
    """Parts the commands' engines use instead of their own: pass one as ``obj`` when invoking
    ``cli`` (``CliRunner().invoke(cli, args, obj=EngineParts(executor=...))``) to run the real
    commands with a test double; ``remediator.testing.invoke`` does it for you."""

    executor: Executor | None = None
    clock: Clock | None = None


class AppContext:
    """Global options, the Config loaded from them on first use, and the engine's parts."""

    def __init__(self, config_path: Path | None, max_stage: str | None,
                 parts: EngineParts | None = None) -> None:
        self.config_path = config_path
        self.max_stage = Stage(max_stage) if max_stage else None
        self.parts = parts or EngineParts()
        self._config: config_mod.Config | None = None

    def engine(self, progress: ProgressFn | None = None) -> Engine:
        """An engine over the config, with the parts given to ``cli`` (if any); it closes
        with the command, whatever the command raised."""
        return self.closing(self.engine_factory(progress)(self.config))

    def store(self, location: StoreLocation | None = None, **kwargs: Any) -> AuditStore:
        """The config's audit store (or the one at ``location``), closed with the command."""
        from ..store import open_store

        return self.closing(open_store(self.config.store if location is None else location,
                                       **kwargs))

    @staticmethod
    def closing(thing: _Closable) -> _Closable:
        """``thing``, closed when the command ends, whatever it raised: in-process callers
        (``remediator.testing.invoke``, a library user) run many commands in one process, and
        a store left open keeps its pool, with that pool's reconnect backoff, for the next."""
        click.get_current_context().call_on_close(thing.close)
        return thing

    def engine_factory(self, progress: ProgressFn | None = None
                       ) -> Callable[[config_mod.Config], Engine]:
        """What opens an engine over a config, with the parts given to ``cli`` (if any)."""
        from ..common import utc_now
        from ..engine import open_engine

        return partial(open_engine, progress=progress, executor=self.parts.executor,
                       clock=self.parts.clock or utc_now)

    @property
    def config(self) -> config_mod.Config:
        """The validated config; --max-stage beats the env var and the file."""
        if self._config is None:
            self._config = config_mod.load(self.config_path).with_max_stage(self.max_stage)
        return self._config


class RemediatorGroup(click.Group):
    """A click group that turns every RemediatorError into its message and exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RemediatorError as exc:
            report_error(exc)
            ctx.exit(exc.exit_code)


def report_error(exc: RemediatorError) -> None:
    """Print an error, and each problem of a CatalogError, on stderr."""
    click.echo(f"remediator: error: {exc}", err=True)
    if isinstance(exc, CatalogError):
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
    if isinstance(exc, StoreError) and exc.unsaved is not None:
        if exc.kept:
            click.echo(f"remediator: the record was kept in {exc.kept}; the next remediator "
                       "command that opens the store stores it. It follows:", err=True)
        else:
            click.echo("remediator: the record that could not be stored follows; keep it:",
                       err=True)
        click.echo(json.dumps(exc.unsaved, sort_keys=True), err=True)


@click.group(cls=RemediatorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              envvar="REMEDIATOR_CONFIG",
              help="Config file (default: $REMEDIATOR_CONFIG, else ./remediator.yml).")
@click.option("--max-stage", type=click.Choice(STAGE_NAMES), envvar="REMEDIATOR_MAX_STAGE",
              help="Ceiling on every entry's stage (the emergency brake).")
@click.version_option(package_name="remediator")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, max_stage: str | None) -> None:
    """Hand repetitive incident fixes to Ansible, safely and step by step.

    \b
    Example:
      remediator --config remediator.yml handle examples/alerts/disk-space-low.json
    """
    parts = ctx.obj if isinstance(ctx.obj, EngineParts) else None
    ctx.obj = AppContext(config_path, max_stage, parts)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="remediator")


def _register() -> None:
    from . import (
        approval_cmds,
        audit_cmds,
        catalog_cmds,
        guard_cmds,
        init_cmds,
        poll_cmds,
        report_cmds,
        run_cmds,
        serve_cmds,
        simulate_cmds,
        stages_cmds,
    )

    for module in (run_cmds, approval_cmds, catalog_cmds, audit_cmds, stages_cmds, guard_cmds,
                   serve_cmds, poll_cmds, simulate_cmds, report_cmds, init_cmds):
        module.register(cli)


_register()

__all__ = ["EngineParts", "cli", "main"]

if __name__ == "__main__":  # pragma: no cover
    main()
