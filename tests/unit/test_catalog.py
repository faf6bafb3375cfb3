"""The catalog, tested from the catalog files under tests/data/catalogs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from remediator import catalog
from remediator.catalog import Catalog, parse_matcher, resolve_var
from remediator.errors import CatalogError
from remediator.models import Alert, Matcher, MatchOp, Stage, Target, VarSource, frozen_map

DATA = Path(__file__).resolve().parent.parent / "data"
CATALOGS = DATA / "catalogs"
PLAYBOOKS = DATA / "playbooks"


def load(name: str) -> Catalog:
    """The catalog recorded in ``name``, with tests/data/playbooks as its playbook folder."""
    return catalog.load(CATALOGS / name, PLAYBOOKS)


def failure(name: str) -> CatalogError:
    """The CatalogError that loading ``name`` raises."""
    with pytest.raises(CatalogError) as caught:
        load(name)
    return caught.value


def alert(name: str, status: str = "firing", annotations: dict[str, str] | None = None,
          **labels: str) -> Alert:
    """A normalised alert named ``name`` whose labels include ``alertname``."""
    return Alert(source="generic", name=name, status=status, fingerprint="fp-0123456789abcdef",
                 labels=frozen_map({"alertname": name, **labels}),
                 annotations=frozen_map(annotations or {}))


# loading the good catalog


def test_good_catalog_loads_every_entry_in_file_order() -> None:
    """The good catalog yields its four entries in the order they are written."""
    loaded = load("good.yml")
    assert [e.name for e in loaded] == [
        "disk-space-root", "disk-space-any", "service-restart", "warn-anything"]
    assert loaded.path == CATALOGS / "good.yml"
    assert loaded.playbooks_dir == PLAYBOOKS


def test_good_entry_has_equality_and_regex_matchers() -> None:
    """alertname and labels become equality matchers, followed by the written matchers."""
    entry = load("good.yml").entries[0]
    assert entry.matchers == (
        Matcher("alertname", MatchOp.EQ, "DiskSpaceLow"),
        Matcher("mountpoint", MatchOp.EQ, "/"),
        Matcher("severity", MatchOp.RE, "warning|critical"),
    )


def test_good_entry_keeps_stage_target_vars_and_static_vars() -> None:
    """A fully written entry keeps its stage, target, allow-listed vars, static vars and timeout."""
    entry = load("good.yml").entries[0]
    assert entry.stage is Stage.OVERSIGHT
    assert entry.target == Target(label="instance", pattern=None)
    assert dict(entry.vars) == {
        "disk_mountpoint": VarSource("labels.mountpoint"),
        "summary": VarSource("annotations.summary", required=False, default="no summary given"),
    }
    assert dict(entry.static_vars) == {"disk_threshold_pct": 80,
                                       "cleanup_paths": ["/var/cache/app", "/tmp"]}
    assert entry.timeout_s == 300
    assert entry.description == "Clean caches when the root filesystem runs low."


def test_good_entry_playbook_resolves_inside_the_playbook_folder() -> None:
    """The playbook keeps its written name and gets the resolved absolute path."""
    entry = load("good.yml").entries[0]
    assert entry.playbook == "noop.yml"
    assert entry.playbook_path == str(PLAYBOOKS / "noop.yml")
    assert entry.source_file == str(CATALOGS / "good.yml")
    assert entry.source_line == 4


def test_entry_without_stage_defaults_to_observe() -> None:
    """An entry that names no stage starts at observe, the least trusted stage."""
    entry = load("good.yml").get("disk-space-any")
    assert entry is not None
    assert entry.stage is Stage.OBSERVE
    assert entry.target == Target()
    assert entry.timeout_s == 600
    assert dict(entry.static_vars) == {}


def test_entry_with_target_pattern_keeps_it() -> None:
    """A target with a one-group pattern is kept with its label."""
    entry = load("good.yml").get("service-restart")
    assert entry is not None
    assert entry.stage is Stage.HUMAN_INITIATED
    assert entry.target == Target(label="job_target", pattern="^svc://([^/]+)/")
    assert dict(entry.vars) == {"service": VarSource("labels.service"),
                                "alert_name": VarSource("name"),
                                "alert_id": VarSource("fingerprint")}


def test_get_returns_none_for_an_unknown_entry() -> None:
    """Looking up a name the catalog does not hold gives None."""
    assert load("good.yml").get("no-such-entry") is None


# matching


def test_first_matching_entry_wins() -> None:
    """An alert that fits both disk entries goes to the one written first."""
    entry = load("good.yml").match(alert("DiskSpaceLow", severity="critical", mountpoint="/"))
    assert entry is not None
    assert entry.name == "disk-space-root"


def test_later_entry_matches_when_the_first_does_not() -> None:
    """An alert the specific entry rejects falls through to the general one."""
    entry = load("good.yml").match(alert("DiskSpaceLow", severity="critical", mountpoint="/data"))
    assert entry is not None
    assert entry.name == "disk-space-any"


def test_no_entry_matches_an_unknown_alert() -> None:
    """An alert no entry describes matches nothing."""
    assert load("good.yml").match(alert("CpuHigh", severity="critical")) is None


def test_regex_matcher_is_anchored_in_the_catalog() -> None:
    """``severity=~"warn"`` matches "warn" but not "warning"."""
    loaded = load("good.yml")
    matched = loaded.match(alert("CpuHigh", severity="warn"))
    assert matched is not None
    assert matched.name == "warn-anything"
    assert loaded.match(alert("CpuHigh", severity="warning")) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("warn", True), ("warning", False), ("xwarn", False), ("crit", True), ("xcrit", False),
     ("warncrit", False), ("", False)],
)
def test_regex_alternation_is_anchored_as_a_whole(value: str, expected: bool) -> None:
    """``=~"warn|crit"`` anchors the whole alternation, not just its first and last branch."""
    assert Matcher("severity", MatchOp.RE, "warn|crit").matches({"severity": value}) is expected


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        (Matcher("env", MatchOp.NE, "prod"), {"env": "dev"}, True),
        (Matcher("env", MatchOp.NE, "prod"), {"env": "prod"}, False),
        (Matcher("env", MatchOp.NE, "prod"), {}, True),
        (Matcher("env", MatchOp.NE, ""), {}, False),
        (Matcher("env", MatchOp.EQ, ""), {}, True),
        (Matcher("env", MatchOp.NRE, "dev|test"), {"env": "prod"}, True),
        (Matcher("env", MatchOp.NRE, "dev|test"), {"env": "test"}, False),
        (Matcher("env", MatchOp.NRE, "dev|test"), {"env": "testing"}, True),
        (Matcher("env", MatchOp.NRE, "dev|test"), {}, True),
        (Matcher("env", MatchOp.NRE, ".*"), {}, False),
        (Matcher("env", MatchOp.RE, ""), {}, True),
        (Matcher("env", MatchOp.RE, ".+"), {}, False),
    ],
)
def test_negative_matchers_treat_a_missing_label_as_empty(
        matcher: Matcher, labels: dict[str, str], expected: bool) -> None:
    """``!=`` and ``!~`` (and the positive operators) see a missing label as the empty string."""
    assert matcher.matches(labels) is expected


def test_negative_matchers_in_the_catalog() -> None:
    """service-restart matches without severity/env labels and refuses info or dev alerts."""
    loaded = load("good.yml")
    plain = loaded.match(alert("ServiceDown"))
    assert plain is not None
    assert plain.name == "service-restart"
    assert loaded.match(alert("ServiceDown", severity="info")) is None
    assert loaded.match(alert("ServiceDown", env="dev")) is None
    prod = loaded.match(alert("ServiceDown", env="prod", severity="critical"))
    assert prod is not None
    assert prod.name == "service-restart"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity="critical"', Matcher("severity", MatchOp.EQ, "critical")),
        ('severity != "info"', Matcher("severity", MatchOp.NE, "info")),
        ('instance=~"web-.*"', Matcher("instance", MatchOp.RE, "web-.*")),
        ('env!~"dev|test"', Matcher("env", MatchOp.NRE, "dev|test")),
        ('summary="say \\"hi\\""', Matcher("summary", MatchOp.EQ, 'say "hi"')),
        ('path=~"C:\\\\temp"', Matcher("path", MatchOp.RE, "C:\\temp")),
    ],
)
def test_parse_matcher_reads_alertmanager_syntax(text: str, expected: Matcher) -> None:
    """Each operator parses, with spaces around it and escaped quotes and backslashes."""
    assert parse_matcher(text) == expected


def test_parse_matcher_keeps_a_regex_backslash_class() -> None:
    """``instance=~"web\\d+:9100"`` matches "web01:9100", as it does in Alertmanager."""
    matcher = parse_matcher('instance=~"web\\d+:9100"')
    assert matcher.matches({"instance": "web01:9100"})


# broken catalogs: one mistake each


@pytest.mark.parametrize(
    ("name", "line", "entry", "key", "message"),
    [
        ("unknown-entry-key.yml", 8, "disk-space-any", "retries", "unknown key; expected one of"),
        ("bad-stage.yml", 8, "disk-space-any", "stage", "unknown stage 'autopilot'"),
        ("playbook-escape.yml", 7, "disk-space-any", "playbook",
         "'../catalogs/good.yml' is outside the playbook folder"),
        ("playbook-absolute.yml", 7, "disk-space-any", "playbook",
         "'/etc/passwd' is outside the playbook folder"),
        ("playbook-missing.yml", 7, "disk-space-any", "playbook",
         "'no_such_playbook.yml' not found in"),
        ("duplicate-names.yml", 9, "disk-space", "name", "duplicate name; first used on line 4"),
        ("bad-matcher-syntax.yml", 8, "disk-space-any", "matchers",
         "expected label OP \"value\""),
        ("bad-regex.yml", 8, "disk-space-any", "matchers", "missing ]: [0-9"),
        ("var-ansible-prefix.yml", 9, "disk-space-any", "ansible_host",
         "invalid variable name"),
        ("var-jinja-path.yml", 9, "disk-space-any", "disk_mountpoint",
         "a plain dotted path is expected, not a template"),
        ("var-unknown-root.yml", 9, "disk-space-any", "disk_mountpoint",
         "'alert.labels.mountpoint': must start with one of"),
        ("target-zero-groups.yml", 10, "disk-space-any", "pattern",
         "exactly one group"),
        ("no-matchers.yml", 5, "disk-space-any", "match", "matches every alert"),
    ],
)
def test_broken_catalog_names_file_line_entry_and_key(
        name: str, line: int, entry: str, key: str, message: str) -> None:
    """Each broken file gives exactly one problem naming its file:line, entry and key."""
    error = failure(name)
    path = CATALOGS / name
    assert error.where == str(path)
    assert error.message == "1 problem(s) in the catalog"
    assert error.exit_code == 2
    assert len(error.problems) == 1
    prefix = f"{path}:{line}: entry '{entry}': key '{key}': "
    assert error.problems[0].startswith(prefix), error.problems[0]
    assert message in error.problems[0]


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        ("invalid-yaml.yml", 8, "invalid YAML: expected ',' or ']', but got '}'"),
        ("duplicate-yaml-keys.yml", 9, "invalid YAML: duplicate key 'stage'"),
    ],
)
def test_unparseable_catalog_names_file_and_line(name: str, line: int, message: str) -> None:
    """YAML that cannot be read (or repeats a key) is a CatalogError located at file:line."""
    error = failure(name)
    assert error.where == f"{CATALOGS / name}:{line}"
    assert error.message == message
    assert str(error) == f"{CATALOGS / name}:{line}: {message}"


def test_several_mistakes_are_reported_at_once() -> None:
    """A catalog with five mistakes in three entries reports all five in one error."""
    error = failure("several-mistakes.yml")
    path = CATALOGS / "several-mistakes.yml"
    assert error.message == "5 problem(s) in the catalog"
    expected = [
        (8, "disk-space-any", "stage", "unknown stage 'autopilot'"),
        (10, "disk-space-any", "ansible_user", "invalid variable name"),
        (16, "service-restart", "matchers", "missing ]: ["),
        (17, "service-restart", "playbook", "is outside the playbook folder"),
        (23, "fine-entry", "retries", "unknown key"),
    ]
    assert len(error.problems) == len(expected), error.problems
    for problem, (line, entry, key, message) in zip(error.problems, expected, strict=True):
        assert problem.startswith(f"{path}:{line}: entry '{entry}': key '{key}': "), problem
        assert message in problem, problem


def test_missing_catalog_file_is_a_catalog_error(tmp_path: Path) -> None:
    """A catalog path that does not exist is a CatalogError naming the path."""
    with pytest.raises(CatalogError, match="file not found") as caught:
        catalog.load(tmp_path / "absent.yml", PLAYBOOKS)
    assert caught.value.where == str(tmp_path / "absent.yml")


# playbook symlinks (made here: symlinks are not committed)


def symlinked_catalog(tmp_path: Path, link_target: Path) -> tuple[Path, Path]:
    """A catalog and playbook folder in ``tmp_path`` whose ``linked.yml`` points at ``link_target``."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "linked.yml").symlink_to(link_target)
    path = tmp_path / "catalog.yml"
    path.write_text("remediations:\n  - name: linked\n    match: {alertname: X}\n"
                    "    playbook: linked.yml\n", encoding="utf-8")
    return path, playbooks


def test_symlinked_playbook_pointing_outside_is_refused(tmp_path: Path) -> None:
    """A playbook that is a symlink to a file outside the playbook folder is refused."""
    outside = tmp_path / "outside.yml"
    outside.write_text((PLAYBOOKS / "noop.yml").read_text(encoding="utf-8"), encoding="utf-8")
    path, playbooks = symlinked_catalog(tmp_path, outside)
    with pytest.raises(CatalogError) as caught:
        catalog.load(path, playbooks)
    assert caught.value.problems == (
        f"{path}:4: entry 'linked': key 'playbook': 'linked.yml' is outside the playbook folder "
        f"{playbooks}",)


def test_symlinked_playbook_inside_the_folder_is_accepted(tmp_path: Path) -> None:
    """A symlink that stays inside the playbook folder resolves to its real file."""
    path, playbooks = symlinked_catalog(tmp_path, tmp_path / "playbooks" / "real.yml")
    (playbooks / "real.yml").write_text("- hosts: all\n", encoding="utf-8")
    entry = catalog.load(path, playbooks).entries[0]
    assert entry.playbook == "linked.yml"
    assert entry.playbook_path == str(playbooks / "real.yml")


def test_string_target_with_bad_label_is_a_catalog_error(tmp_path: Path) -> None:
    """``target: "bad-label"`` (shorthand form, invalid label name) is reported as a problem."""
    path = tmp_path / "catalog.yml"
    path.write_text("remediations:\n  - name: a\n    match: {alertname: X}\n"
                    "    playbook: noop.yml\n    target: bad-label\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        catalog.load(path, PLAYBOOKS)
    assert "key 'target'" in caught.value.problems[0]


def test_var_spec_with_unknown_key_is_a_catalog_error(tmp_path: Path) -> None:
    """A misspelt ``default`` inside a variable spec is reported, not ignored."""
    path = tmp_path / "catalog.yml"
    path.write_text("remediations:\n  - name: a\n    match: {alertname: X}\n"
                    "    playbook: noop.yml\n    vars:\n"
                    "      mp: {from: labels.mountpoint, defualt: /}\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        catalog.load(path, PLAYBOOKS)
    assert "defualt" in caught.value.problems[0]


# resolve_var


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("labels.mountpoint", "/var"),
        ("labels.alertname", "DiskSpaceLow"),
        ("labels.absent", None),
        ("annotations.summary", "disk {{ almost }} full"),
        ("annotations.absent", None),
        ("name", "DiskSpaceLow"),
        ("fingerprint", "fp-0123456789abcdef"),
        ("status", "firing"),
        ("source", "generic"),
        ("starts_at", None),
    ],
)
def test_resolve_var_reads_the_alert(path: str, expected: str | None) -> None:
    """A dotted path reads labels, annotations and the alert's own fields; absent ones are None."""
    fired = alert("DiskSpaceLow", mountpoint="/var",
                  annotations={"summary": "disk {{ almost }} full"})
    assert resolve_var(fired, path) == expected


def test_regexes_re2_refuses_are_catalog_errors_at_their_line() -> None:
    """A backreference matcher and a lookahead target pattern: each a problem naming file,
    line, entry and key, with RE2's reason."""
    error = failure("regex-re2-refuses.yml")
    path = CATALOGS / "regex-re2-refuses.yml"
    assert error.where == str(path)
    assert error.problems == (
        f"{path}:8: entry 'backreference': key 'matchers': not a regular expression RE2 "
        "accepts (invalid escape sequence: \\1): '(web)-\\\\1'",
        f"{path}:16: entry 'lookahead': key 'pattern': not a regular expression RE2 accepts "
        "(invalid perl operator: (?=): '^(?=web)([a-z0-9-]+)'",
    )


def test_a_backtracking_bomb_matcher_answers_at_once() -> None:
    """``(a+)+$`` against a 41-character label (minutes under Python's re): the catalog
    answers in well under a second, with the next entry."""
    bombs = load("regex-backtracking-bomb.yml")
    labels = {"alertname": "DiskSpaceLow", "instance": "a" * 40 + "!"}
    started = time.monotonic()
    entry = bombs.match(Alert(source="generic", name="DiskSpaceLow", status="firing",
                              fingerprint="f", labels=frozen_map(labels)))
    assert entry is not None and entry.name == "fallback"
    assert time.monotonic() - started < 1.0
