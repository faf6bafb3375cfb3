"""The catalog's per-entry ``toil_minutes`` (minutes a person takes), read by the reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator import catalog
from remediator.errors import CatalogError

DATA = Path(__file__).resolve().parent.parent / "data"
PLAYBOOKS = DATA / "playbooks"


def test_toil_minutes_is_optional_and_read_as_a_number() -> None:
    """Given: a float on the entry; absent: None (the report says unknown)."""
    loaded = catalog.load(DATA / "reports" / "toil-catalog.yml", PLAYBOOKS)
    assert [(e.name, e.toil_minutes) for e in loaded] == [("with-toil", 12.5),
                                                          ("without-toil", None)]


def test_bad_toil_minutes_name_file_line_entry_and_key() -> None:
    """Zero, text and booleans are refused; a misspelt key is an unknown key."""
    path = DATA / "reports" / "toil-catalog-bad.yml"
    with pytest.raises(CatalogError) as caught:
        catalog.load(path, PLAYBOOKS)
    problems = caught.value.problems
    lines = path.read_text().splitlines()

    def line_of(text: str) -> int:
        return next(n for n, line in enumerate(lines, 1) if text in line)

    for name, text in (("zero", "toil_minutes: 0"), ("text", "toil_minutes: ten"),
                       ("flag", "toil_minutes: true")):
        assert f"{path}:{line_of(text)}: entry '{name}': key 'toil_minutes': expected a " \
               "positive number of minutes" in "\n".join(problems)
    assert any(p.startswith(f"{path}:{line_of('toil_minute: 5')}: entry 'typo': key "
                            "'toil_minute': unknown key") for p in problems)
    assert len(problems) == 4
