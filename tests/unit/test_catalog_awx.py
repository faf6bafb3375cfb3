"""Catalog entries that name an AWX job template instead of a playbook."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator import catalog
from remediator.config import from_mapping
from remediator.errors import CatalogError
from remediator.validate import check_awx
from remediator.yamlio import YamlMap

from ..docsite import section

DATA = Path(__file__).resolve().parent.parent / "data"
CATALOGS = DATA / "catalogs"
PLAYBOOKS = DATA / "playbooks"


def test_entries_name_a_playbook_or_a_job_template_by_name_or_id() -> None:
    """A name stays a string, an id an int; an AWX entry has no playbook of its own."""
    entries = {e.name: e for e in catalog.load(CATALOGS / "awx-good.yml", PLAYBOOKS)}
    assert entries["disk-space-any"].job_template is None
    assert entries["disk-space-any"].playbook == "noop.yml"
    assert entries["service-on-awx"].job_template == "fix-service"
    assert entries["service-by-id"].job_template == 42
    assert (entries["service-on-awx"].playbook, entries["service-on-awx"].playbook_path) == ("", "")


@pytest.mark.parametrize(
    ("name", "line", "key", "message"),
    [
        ("awx-both.yml", 8, "job_template", "give either 'playbook' (run here) or 'job_template'"),
        ("awx-neither.yml", 4, "playbook", "or a 'job_template' to run on AWX"),
        ("awx-bad-template.yml", 8, "job_template", "expected an AWX job template name, or its "
         "numeric id"),
        ("awx-zero-id.yml", 7, "job_template", "expected an AWX job template name"),
    ],
)
def test_a_wrong_job_template_names_file_line_entry_and_key(name: str, line: int, key: str,
                                                            message: str) -> None:
    """Exactly one of playbook and job_template; the problem names file:line, entry and key."""
    with pytest.raises(CatalogError) as caught:
        catalog.load(CATALOGS / name, PLAYBOOKS)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{CATALOGS / name}:{line}: entry 'service-on-awx': key '{key}': ")
    assert message in problem


def test_job_templates_without_an_awx_section_are_a_problem(tmp_path: Path) -> None:
    """check_awx names every AWX entry when the config has no ``awx`` section, none with one."""
    loaded = catalog.load(CATALOGS / "awx-good.yml", PLAYBOOKS)
    bare = from_mapping(YamlMap(), tmp_path)
    problems = check_awx(loaded, bare)
    assert [p.split(": ")[1] for p in problems] == ["entry 'service-on-awx'",
                                                     "entry 'service-by-id'"]
    assert all(p.startswith(f"{CATALOGS / 'awx-good.yml'}:") and "key 'job_template'" in p and
               "has no 'awx' section" in p for p in problems)
    with_awx = from_mapping({"awx": {"url": "https://awx.example.com"}}, tmp_path)
    assert check_awx(loaded, with_awx) == []


def test_the_awx_guide_examples_load(tmp_path: Path) -> None:
    """The AWX guide's config and job-template catalog examples are valid as written."""
    import re

    from remediator import config

    guide = section("guides/awx.md", "## Running playbooks on AWX / Automation Platform")
    config_text, catalog_text = re.findall(r"```yaml\n(.*?)```", guide, re.DOTALL)[:2]
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "awx-ca.pem").write_text("-", encoding="utf-8")
    (tmp_path / "remediator.yml").write_text(config_text, encoding="utf-8")
    loaded = config.load(tmp_path / "remediator.yml", env={}, cwd=tmp_path)
    assert loaded.awx is not None and loaded.awx.url == "https://awx.example.com"
    (tmp_path / "remediations.yml").write_text(catalog_text, encoding="utf-8")
    (entry,) = catalog.load(tmp_path / "remediations.yml", tmp_path)
    assert entry.job_template == "restart-service"
    assert check_awx(catalog.load(tmp_path / "remediations.yml", tmp_path), loaded) == []
