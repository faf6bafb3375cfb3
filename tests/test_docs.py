"""The documentation's examples and reference are checked so they never rot: the README (the
front door) and the MkDocs site in docs/, which must build with --strict."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from remediator import catalog, errors
from remediator.config import from_mapping
from remediator.settings import server as settings

from .docsite import DOCS, REPO, block_after, documented_exit_codes, hooks, page, section

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands() -> None:
    """The first code block holds the demo and test commands, and both scripts exist."""
    first = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert first
    commands = [line.split("#")[0].strip() for line in first.group(1).splitlines()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    assert (REPO / "scripts" / "demo.sh").is_file()
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()


def test_readme_is_a_front_door() -> None:
    """The README stays short (under 12 KB) and every page it links to exists."""
    assert len(README.encode("utf-8")) < 12 * 1024
    links = re.findall(r"\]\((docs/[^)#\s]+)(?:#[^)]*)?\)", README)
    assert links, "the README links into the documentation"
    assert [link for link in links if not (REPO / link).is_file()] == []


def test_every_page_is_in_the_nav() -> None:
    """Each Markdown page under docs/ is reachable from mkdocs.yml's nav, and the nav names
    no page that is missing."""
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r":\s+([\w/.-]+\.md)\s*$", config, re.MULTILINE))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert nav == pages


def test_site_builds_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict` succeeds offline: no broken link or anchor, no drift between the
    generated reference and the code, and the CLI reference rendered from click."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocs_click")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                           "--config-file", str(REPO / "mkdocs.yml"), "--site-dir", str(site)],
                          capture_output=True, text=True, check=False, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    cli_page = (site / "reference" / "cli.html").read_text(encoding="utf-8")
    for command in ("handle", "approve", "audit", "serve", "poll", "simulate"):
        assert f'id="{command}"' in cli_page
    assert "Sentinel" not in cli_page  # click's unset default, never a value to show
    assert "<!-- generated" not in (site / "reference" / "exit-codes.html").read_text()


def test_generated_tables_match_the_code() -> None:
    """Each generated table renders (the code's keys and the documented ones agree), every
    marker a page uses names a table, and every table is used by some page."""
    docs_hooks = hooks()
    used = set()
    for path in DOCS.rglob("*.md"):
        text = path.read_text(encoding="utf-8")
        used |= set(docs_hooks.MARKER.findall(text))
        docs_hooks.render(text)
    assert used == set(docs_hooks.TABLES)


def test_catalog_example_is_a_valid_catalog(tmp_path: Path) -> None:
    """The catalog page's example loads without a problem."""
    (tmp_path / "playbooks").mkdir()
    shutil.copy(REPO / "playbooks" / "disk_space_cleanup.yml", tmp_path / "playbooks")
    path = tmp_path / "remediations.yml"
    path.write_text(block_after("concepts/catalog.md", "# The catalog", "yaml"))
    loaded = catalog.load(path, tmp_path / "playbooks")
    assert [e.name for e in loaded] == ["disk-space-cleanup"]


def test_serve_example_loads_and_shows_every_server_key() -> None:
    """The `serve` guide's config example is a valid config, and every key the `server`
    section takes is in it (commented out where it has no fixed default)."""
    text = block_after("guides/alertmanager.md", "## Receiving webhooks", "yaml")
    loaded = from_mapping(yaml.safe_load(text), Path("/srv")).server
    assert set(loaded.endpoints) == {"alertmanager", "pagerduty", "generic"}
    shown = set(re.findall(r"^  #? ?(\w+):", text, re.MULTILINE))
    assert shown >= settings.KEYS, sorted(settings.KEYS - shown)


def test_web_page_examples_load() -> None:
    """The web page guide's two configs (users; behind a proxy) are valid configs."""
    users = from_mapping(yaml.safe_load(block_after("guides/web.md", "## Users with bcrypt",
                                                    "yaml")), Path("/srv")).server.web
    proxy = from_mapping(yaml.safe_load(block_after("guides/web.md", "## Behind oauth2-proxy",
                                                    "yaml")), Path("/srv")).server.web
    assert users is not None and set(users.users) == {"alice", "bob"}
    assert proxy is not None and proxy.proxy is not None and proxy.proxy.trusts("10.0.0.2")


def test_every_exit_code_is_documented() -> None:
    """Each error class's exit code appears in the exit-code reference table."""
    documented = documented_exit_codes()
    codes = {cls.exit_code for cls in vars(errors).values()
             if isinstance(cls, type) and issubclass(cls, errors.RemediatorError)}
    assert codes <= documented
    assert {0, 1} <= documented


def test_bundled_catalog_validates_and_matches_the_example_alert() -> None:
    """The bundled catalog loads and its entry matches the bundled example alert."""
    from remediator.sources import normalize, parse_json

    loaded = catalog.load(REPO / "remediations.yml", REPO / "playbooks")
    text = (REPO / "examples" / "alerts" / "disk-space-low.json").read_text()
    (alert,) = normalize(parse_json(text, "example"))
    entry = loaded.match(alert)
    assert entry is not None and entry.name == "disk-space-cleanup"


def test_every_test_mark_has_a_row_in_the_tests_section() -> None:
    """Each mark pyproject.toml registers is in the development page's tier table, and no
    other."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    marks = {m.split(":")[0] for m in config["tool"]["pytest"]["ini_options"]["markers"]}
    tests = section("development.md", "## Tests")
    assert set(re.findall(r"^\| `(\w+)`", tests, re.MULTILINE)) == marks


def test_every_module_is_on_the_architecture_page() -> None:
    """The architecture page's module table names every module of the package."""
    table = hooks().render(page("architecture.md"))
    listed = set(re.findall(r"^\| `(remediator/[\w/]+\.py)` \|", table, re.MULTILINE))
    on_disk = {p.relative_to(REPO).as_posix() for p in (REPO / "remediator").rglob("*.py")}
    assert listed == on_disk


def test_docs_and_comments_carry_no_dated_measurements() -> None:
    """Figures live on the benchmarks page without dates (git keeps their history); comments
    say which bench reproduces a figure, and no page cites a file the repository lacks."""
    dated = re.compile(r"[Mm]easured \(20\d\d|\(20\d\d-\d\d-\d\d[,)]|FACTS\.md")
    sources = [*(REPO / "remediator").rglob("*.py"), *(REPO / "bench").glob("*.py"),
               *DOCS.rglob("*.md"), REPO / "README.md"]
    found = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in sources
             for m in dated.finditer(p.read_text(encoding="utf-8"))]
    assert found == []


def test_who_may_approve_examples_load(tmp_path: Path) -> None:
    """The approvals guide's config and catalog examples are what the code accepts."""
    guide = section("guides/approvals.md", "## Who may approve")
    config_text, entry_text = re.findall(r"```yaml\n(.*?)```", guide, re.DOTALL)
    approvals = from_mapping(yaml.safe_load(config_text), Path("/srv")).approvals
    assert approvals.person("slack:U0BOB2") == "bob"
    assert approvals.approvers == ("alice", "bob", "web:carol")
    (tmp_path / "playbooks").mkdir()
    shutil.copy(REPO / "playbooks" / "disk_space_cleanup.yml", tmp_path / "playbooks")
    path = tmp_path / "remediations.yml"
    path.write_text("version: 1\nremediations:\n  - name: disk\n    match: {alertname: D}\n"
                    "    playbook: disk_space_cleanup.yml\n"
                    + "\n".join(line for line in entry_text.splitlines()
                                if not line.startswith("#")) + "\n")
    (entry,) = catalog.load(path, tmp_path / "playbooks")
    assert (entry.approval.required, entry.approval.four_eyes) == (2, True)
