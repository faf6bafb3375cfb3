"""Untrusted JSON is bounded before anything uses it: nesting, numbers, unstorable text."""

from __future__ import annotations

import json

import pytest

from remediator.errors import InputError
from remediator.sources import MAX_DEPTH, parse_json

from ..conftest import Project, alertmanager_payload, disk_alert


@pytest.mark.parametrize(("text", "words"), [
    ('{"a": {"b": ["x", "\\ud800"]}}', "key a.b[1]: text with a lone UTF-16 surrogate"),
    ('{"\\udfff": 1}', "a lone UTF-16 surrogate cannot be stored"),
    ("[" * 50_000 + "]" * 50_000, f"nested deeper than {MAX_DEPTH}"),
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH}"),
    ('{"n": ' + "1" * 4301 + "}", "a number of 4301 digits"),
    ('{"n": -1e400}', "a number too large to store"),
    ('{"n": Infinity}', "Infinity is not JSON"),
])
def test_bad_json_is_an_input_error_naming_why(text: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_json(text, "payload.json")
    assert words in str(caught.value)
    assert str(caught.value).startswith("payload.json")


def test_what_alerts_carry_still_parses() -> None:
    """Escapes that are whole characters, deep-enough nesting, ordinary numbers."""
    text = '{"a": "\\u00e9\\ud83d\\ude00", "n": [1, -2.5e3, 12345678901234567890]}'
    assert parse_json(text, "-") == {"a": "é😀", "n": [1, -2500.0, 12345678901234567890]}
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(deep, "-") == json.loads(deep)


def test_handle_refuses_a_lone_surrogate_before_any_run(project: Project) -> None:
    """Through ``handle``: exit 2 naming the key, no run, no record, no claim."""
    runs = project.fake_runs()
    payload = json.dumps(alertmanager_payload([disk_alert(mountpoint="/var")]))
    poisoned = payload.replace('"/var"', '"/var\\ud800"')
    result = project.cli("handle", "-", stdin=poisoned)
    assert result.exit_code == 2
    assert "alerts[0].labels.mountpoint: text with a lone UTF-16 surrogate" in result.output
    assert runs.plans == [] and not project.has_store()
