"""Alert data is untrusted: template syntax in labels and annotations must never execute."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import Project, alertmanager_payload

pytestmark = pytest.mark.ansible


def echo_entry(out_dir: Path, stage: str = "oversight") -> dict:
    """A catalog entry mapping labels.note and annotations.detail into the echo playbook."""
    return {
        "name": "echo",
        "match": {"alertname": "Echo"},
        "playbook": "echo_vars.yml",
        "stage": stage,
        "vars": {"note": "labels.note", "detail": {"from": "annotations.detail", "default": ""}},
        "static_vars": {"out_dir": str(out_dir)},
    }


def payloads(marker: Path) -> list[str]:
    """Template payloads that would create ``marker`` if Ansible ever rendered them."""
    return [
        f"{{{{ lookup('pipe', 'touch {marker}') }}}}",
        f"{{% for x in [1] %}}{{{{ lookup('pipe', 'touch {marker}') }}}}{{% endfor %}}",
        f"{{{{ query('pipe', 'touch {marker}') }}}}",
        f"{{{{ ''.__class__.__mro__[1].__subclasses__() }}}} {{{{ lookup('pipe','touch {marker}') }}}}",
        f"prefix {{{{ lookup(\"pipe\", \"touch {marker}\") }}}} suffix\n{{# comment #}}",
    ]


@pytest.mark.parametrize("index", range(5))
def test_label_and_annotation_templates_do_not_execute(project: Project, tmp_path: Path,
                                                        index: int) -> None:
    """Each payload reaches the playbook as literal text and the marker file never appears."""
    out = tmp_path / "out"
    marker = tmp_path / f"PWNED-{index}"
    text = payloads(marker)[index]
    project.write_catalog(echo_entry(out))
    alert = {"labels": {"alertname": "Echo", "instance": "demo-web-01", "note": text},
             "annotations": {"detail": text + " (annotation)"}}
    (record,) = project.handle(alertmanager_payload([alert]))
    assert record["outcome"] == "succeeded", record
    assert not marker.exists()
    assert (out / "note.txt").read_text() == text
    assert (out / "detail.txt").read_text() == text + " (annotation)"
    printed = record["hosts"]["demo-web-01"]["tasks"][0]["msg"]
    assert printed == f"note={text}"


def test_generic_source_is_just_as_safe(project: Project, tmp_path: Path) -> None:
    """The generic JSON source goes through the same unsafe path."""
    out = tmp_path / "out"
    marker = tmp_path / "PWNED-generic"
    text = f"{{{{ lookup('pipe', 'touch {marker}') }}}}"
    project.write_catalog(echo_entry(out))
    payload = {"name": "Echo", "labels": {"instance": "demo-web-01", "note": text}}
    (record,) = project.handle(payload, "--source", "generic")
    assert record["alert"]["source"] == "generic"
    assert not marker.exists()
    assert (out / "note.txt").read_text() == text


def test_manual_var_is_just_as_safe(project: Project, tmp_path: Path) -> None:
    """A --var given to `remediator run` is written !unsafe too."""
    out = tmp_path / "out"
    marker = tmp_path / "PWNED-manual"
    text = f"{{{{ lookup('pipe', 'touch {marker}') }}}}"
    project.write_catalog(echo_entry(out))
    result = project.cli("run", "echo", "--limit", "demo-web-01", "--live", "--var",
                         f"note={text}", "--by", "alice", "--json")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)  # run --json: an array, as handle's
    assert record["initiated_by"] == "alice"
    assert not marker.exists()
    assert (out / "note.txt").read_text() == text


@pytest.mark.parametrize("text", ["4", "true", "0755", "null", "1.5e3", "{{ 7 * 6 }}", "~"])
def test_alert_strings_stay_strings(project: Project, tmp_path: Path, text: str) -> None:
    """A label that looks like a number, a boolean or null reaches the playbook as the same
    string (ansible-core 2.19 re-typed ``!unsafe "4"`` as 4), while catalog values keep
    their own types."""
    out = tmp_path / "out"
    project.write_catalog({"name": "types", "match": {"alertname": "Types"},
                           "playbook": "echo_types.yml", "stage": "oversight",
                           "vars": {"note": "labels.note"},
                           "static_vars": {"out_dir": str(out), "threshold": 80}})
    alert = {"labels": {"alertname": "Types", "instance": "demo-web-01", "note": text}}
    (record,) = project.handle(alertmanager_payload([alert]))
    assert record["outcome"] == "succeeded", record
    assert (out / "types.txt").read_text() == f"str|{text}|int|80"


def test_remediators_own_secrets_never_reach_a_playbook(project: Project, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The store password and every *_env secret the config names are blank in a run; other
    variables pass through."""
    out = tmp_path / "out"
    project.write_catalog({"name": "env", "match": {"alertname": "Env"},
                           "playbook": "echo_env.yml", "stage": "oversight",
                           "static_vars": {"out_dir": str(out)}})
    project.configure({
        "notifications": {"channels": {"ops": {"type": "slack",
                                               "webhook_url_env": "T_SLACK"}}, "default": []},
        "server": {"endpoints": {"alertmanager": {"auth": "bearer", "token_env": ["T_AM"]}}}})
    for name, value in (("PGPASSWORD", "pg-secret"), ("T_SLACK", "slack-secret"),
                        ("T_AM", "am-secret"), ("KEEP_ME", "visible")):
        monkeypatch.setenv(name, value)
    alert = {"labels": {"alertname": "Env", "instance": "demo-web-01"}}
    (record,) = project.handle(alertmanager_payload([alert]))
    assert record["outcome"] == "succeeded", record
    assert (out / "env.txt").read_text() == "|||visible"
