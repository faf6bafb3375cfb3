"""Progress of long work on stderr: on a terminal, a live line per kind of work with its
count, total (when known), rate and time; otherwise one plain line per call (the callers
call every 50,000 rows or so, and once at the end of a counted phase)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TimeElapsedColumn
from rich.text import Text

from .output import console


class Meter:
    """``meter(what, count, total)``: ``count`` of ``what`` done so far, of ``total`` when
    known."""

    def __init__(self, live: Progress | None) -> None:
        self.live = live
        self.tasks: dict[str, TaskID] = {}
        self.began: dict[str, float] = {}  # a kind of work began when the one before last spoke
        self.last = time.monotonic()

    def __call__(self, what: str, count: int, total: int | None = None) -> None:
        began = self.began.setdefault(what, self.last)
        self.last = time.monotonic()
        if self.live is not None:
            if what not in self.tasks:
                self.tasks[what] = self.live.add_task(what, total=total, began=began)
            self.live.update(self.tasks[what], completed=count, total=total)
            return
        of = f" of {total:,}" if total else ""
        click.echo(f"  {count:,}{of} {what}{_rate(count, self.last - began)}", err=True)


class _Count(ProgressColumn):
    """``N of TOTAL what``, ``N what`` while the total is unknown, and the mean rate."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        of = f" of {int(task.total):,}" if task.total else ""
        elapsed = time.monotonic() - task.fields.get("began", time.monotonic())
        return Text(f"{done:,}{of} {task.description}{_rate(done, elapsed)}")


def _rate(count: int, seconds: float) -> str:
    """``, N/s``, or nothing before any time has passed."""
    return f", {count / seconds:,.0f}/s" if seconds > 0 else ""


@contextmanager
def meter(quiet: bool) -> Iterator[Meter | None]:
    """A Meter for the work inside the block (None when ``quiet``): live on a terminal,
    plain lines otherwise; never on stdout."""
    if quiet:
        yield None
        return
    err: Console = console(err=True)
    if not err.is_terminal:
        yield Meter(None)
        return
    with Progress(BarColumn(bar_width=20), _Count(), TimeElapsedColumn(), console=err) as live:
        yield Meter(live)
