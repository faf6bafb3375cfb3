"""The documentation site as the tests read it: its pages, their sections and the hook that
renders the generated reference tables (docs/hooks.py)."""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def page(name: str) -> str:
    """The Markdown source of ``docs/NAME``."""
    return (DOCS / name).read_text(encoding="utf-8")


def section(name: str, heading: str) -> str:
    """What follows ``heading`` on page ``name``, up to the next heading of its level or above
    (a ``#`` line inside a fenced code block is not a heading)."""
    text = page(name)
    assert heading in text, f"no {heading!r} in docs/{name}"
    level = len(heading.lstrip("\n").split(" ", 1)[0])
    lines = text.split(heading, 1)[1].splitlines(keepends=True)
    fenced = False
    for number, line in enumerate(lines[1:], start=1):
        fenced ^= line.startswith("```")
        found = re.match(r"(#+) ", line)
        if not fenced and found and len(found.group(1)) <= level:
            return "".join(lines[:number])
    return "".join(lines)


def block_after(name: str, heading: str, lang: str) -> str:
    """The first ```lang block after ``heading`` on page ``name``."""
    found = re.search(rf"```{lang}\n(.*?)```", page(name).split(heading, 1)[1], re.DOTALL)
    assert found, f"no {lang} block after {heading} in docs/{name}"
    return found.group(1)


@cache
def hooks() -> ModuleType:
    """docs/hooks.py, imported as the site build imports it."""
    spec = importlib.util.spec_from_file_location("remediator_docs_hooks", DOCS / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documented_exit_codes() -> set[int]:
    """The codes of the exit-code table as the site renders it."""
    table = hooks().render(page("reference/exit-codes.md"))
    return {int(n) for n in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
