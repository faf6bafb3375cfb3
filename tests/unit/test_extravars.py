"""The extra-vars files: alert data as one ``!unsafe`` document, catalog values plain, exact
round-trip, and types kept."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from remediator.executor.local import trusted_yaml, untrusted_yaml
from remediator.models import frozen_map


class Unsafe(str):
    """A string read from inside an ``!unsafe`` document, as Ansible marks it."""


def _mark(value: Any) -> Any:
    if isinstance(value, str):
        return Unsafe(value)
    if isinstance(value, dict):
        return {k: _mark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark(v) for v in value]
    return value


class UnsafeLoader(yaml.SafeLoader):
    """SafeLoader that reads an ``!unsafe`` mapping with every string inside it marked, and
    every scalar typed by its own quoting (what we need ansible-core to see)."""


def construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.MappingNode), "only the whole document is tagged"
    return _mark(loader.construct_mapping(node, deep=True))


UnsafeLoader.add_constructor("!unsafe", construct_unsafe)


def read_back(text: str) -> dict[str, Any]:
    """The YAML ``text`` parsed, strings of an ``!unsafe`` document as Unsafe."""
    data = yaml.load(text, Loader=UnsafeLoader)  # a SafeLoader subclass
    assert isinstance(data, dict)
    return data


def strings(value: Any) -> list[Any]:
    """Every string value inside ``value`` (mapping keys excepted), depth first."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_the_whole_alert_document_is_tagged_once() -> None:
    """One tag on the document, none on its values: Ansible marks everything inside."""
    text = untrusted_yaml({"disk_mountpoint": "/var", "summary": "{{ lookup('pipe','id') }}"})
    assert text.startswith("--- !unsafe\n") and text.count("!unsafe") == 1
    data = read_back(text)
    assert data == {"disk_mountpoint": "/var", "summary": "{{ lookup('pipe','id') }}"}
    assert all(type(v) is Unsafe for v in data.values())


def test_strings_that_look_like_other_types_stay_strings() -> None:
    """"4", "true", "null", "0755" are quoted inside the document, so they stay strings."""
    values = {"a": "4", "b": "true", "c": "null", "d": "0755", "e": "1e3", "f": "~"}
    data = read_back(untrusted_yaml({**values, "n": 5, "t": True, "z": None}))
    assert data == {**values, "n": 5, "t": True, "z": None}
    assert all(type(data[k]) is Unsafe for k in values)
    assert (type(data["n"]), type(data["t"])) == (int, bool)


def test_nested_alert_strings_are_marked() -> None:
    """Strings inside nested mappings and lists are marked; keys and non-strings are not."""
    untrusted = {"labels": {"job": "node", "paths": ["/a", "{{ x }}", 3, None, True]},
                 "pair": ("one", "two")}
    data = read_back(untrusted_yaml(untrusted))
    assert data == {"labels": {"job": "node", "paths": ["/a", "{{ x }}", 3, None, True]},
                    "pair": ["one", "two"]}
    found = strings(data)
    assert len(found) == 5
    assert all(type(s) is Unsafe for s in found)
    assert all(type(k) is str for k in data["labels"])
    assert type(data["labels"]["paths"][2]) is int


def test_no_alert_data_is_an_empty_document() -> None:
    assert read_back(untrusted_yaml({})) == {}


def test_trusted_catalog_values_stay_plain() -> None:
    """Catalog static vars are written without the tag, so Ansible may template them."""
    trusted = frozen_map({"threshold_pct": 80, "greeting": "{{ inventory_hostname }}",
                          "paths": ("/var/cache/app",), "opts": frozen_map({"force": False})})
    text = trusted_yaml(trusted)
    assert "!unsafe" not in text
    data = read_back(text)
    assert data == {"threshold_pct": 80, "greeting": "{{ inventory_hostname }}",
                    "paths": ["/var/cache/app"], "opts": {"force": False}}
    assert all(type(s) is str for s in strings(data))


def test_output_is_sorted_by_key() -> None:
    """The files list variables in key order whatever the input order."""
    text = untrusted_yaml({"zeta": "1", "alpha": "2"})
    assert [line.split(":")[0].strip('"') for line in text.splitlines()[1:]] == ["alpha", "zeta"]
    assert [line.split(":")[0] for line in trusted_yaml({"b": 1, "a": 2}).splitlines()] == \
        ["a", "b"]


TRICKY = [
    "plain",
    "",
    "it's \"quoted\" both 'ways'",
    "line one\nline two\n",
    "trailing newlines\n\n",
    "crlf\r\nline",
    "{{ lookup('pipe', 'id') }}",
    "{% for x in range(3) %}{{ x }}{% endfor %}",
    "{# comment #}",
    "${HOME} $(id) `id`",
    "héllo wörld — ünïcödé ✓",
    "日本語のテキスト",
    "emoji 🔥🎉",
    "\tindented\ttabs\t",
    "  leading and trailing spaces  ",
    "# not a comment",
    "key: value",
    "- not a list",
    "!unsafe",
    "!!python/object:os.system",
    "&anchor *alias",
    "yes",
    "null",
    "~",
    "0x1F",
    "1e3",
    "007",
    "\\ backslash \\n not a newline",
    "nul\x00byte",
    "next\x85line",
    "sep\u2028line",
    "\ufeffbom",
    "a" * 300,
    " ".join(["word"] * 60),
]


@pytest.mark.parametrize("value", TRICKY)
def test_alert_string_round_trips_exactly(value: str) -> None:
    """A hostile or odd alert string reads back identical and marked."""
    data = read_back(untrusted_yaml({"note": value, "nested": {"list": [value]}}))
    assert data["note"] == value
    assert type(data["note"]) is Unsafe
    assert data["nested"]["list"] == [value]


# PyYAML's emitter writes a NEL (U+0085) raw inside a single-quoted scalar and reads it back as a
# line break (a PyYAML quirk).
@pytest.mark.parametrize("value", [v for v in TRICKY if "\x85" not in v])
def test_trusted_string_round_trips_exactly(value: str) -> None:
    """A catalog string reads back identical and unmarked."""
    data = read_back(trusted_yaml({"note": value}))
    assert data["note"] == value
    assert type(data["note"]) is str


@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
                       st.text() | st.lists(st.text(), max_size=3), max_size=5))
def test_any_alert_text_round_trips(untrusted: dict[str, Any]) -> None:
    """Whatever text an alert carries, the file reads back to the same values, all marked."""
    data = read_back(untrusted_yaml(untrusted))
    assert data == untrusted
    assert all(type(s) is Unsafe for s in strings(data))
