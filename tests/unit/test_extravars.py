"""The env/extravars file: alert strings tagged ``!unsafe``, catalog values plain, exact round-trip."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from remediator.executor.local import extravars_yaml, mark_unsafe
from remediator.models import frozen_map


class Unsafe(str):
    """A string that was tagged ``!unsafe`` in the YAML read back."""


class UnsafeLoader(yaml.SafeLoader):
    """SafeLoader that reads ``!unsafe`` scalars as Unsafe strings, like Ansible's loader."""


def construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Unsafe:
    """An ``!unsafe`` scalar as an Unsafe string."""
    assert isinstance(node, yaml.ScalarNode)
    return Unsafe(loader.construct_scalar(node))


UnsafeLoader.add_constructor("!unsafe", construct_unsafe)


def read_back(text: str) -> dict[str, Any]:
    """The extravars YAML ``text`` parsed, with tagged strings as Unsafe."""
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


def test_every_alert_string_is_tagged_unsafe() -> None:
    """Each untrusted top-level string is written with the ``!unsafe`` tag."""
    text = extravars_yaml({"disk_mountpoint": "/var", "summary": "{{ lookup('pipe','id') }}"}, {})
    assert text.count("!unsafe") == 2
    data = read_back(text)
    assert all(type(v) is Unsafe for v in data.values())


def test_nested_alert_strings_are_tagged_unsafe() -> None:
    """Strings inside nested mappings and lists are tagged; keys and non-strings are not."""
    untrusted = {"labels": {"job": "node", "paths": ["/a", "{{ x }}", 3, None, True]},
                 "pair": ("one", "two")}
    data = read_back(extravars_yaml(untrusted, {}))
    assert data == {"labels": {"job": "node", "paths": ["/a", "{{ x }}", 3, None, True]},
                    "pair": ["one", "two"]}
    found = strings(data)
    assert len(found) == 5
    assert all(type(s) is Unsafe for s in found)
    assert all(type(k) is str for k in data["labels"])
    assert type(data["labels"]["paths"][2]) is int


def test_trusted_catalog_values_stay_plain() -> None:
    """Catalog static vars are written without the tag, so Ansible may template them."""
    trusted = frozen_map({"threshold_pct": 80, "greeting": "{{ inventory_hostname }}",
                          "paths": ("/var/cache/app",), "opts": frozen_map({"force": False})})
    text = extravars_yaml({}, trusted)
    assert "!unsafe" not in text
    data = read_back(text)
    assert data == {"threshold_pct": 80, "greeting": "{{ inventory_hostname }}",
                    "paths": ["/var/cache/app"], "opts": {"force": False}}
    assert all(type(s) is str for s in strings(data))


def test_mixed_trusted_and_untrusted() -> None:
    """In one file, only the alert-derived values carry the tag."""
    data = read_back(extravars_yaml({"mountpoint": "/data"}, {"max_age_days": 7, "mode": "fast"}))
    assert data == {"mountpoint": "/data", "max_age_days": 7, "mode": "fast"}
    assert type(data["mountpoint"]) is Unsafe
    assert type(data["mode"]) is str


def test_output_is_sorted_by_key() -> None:
    """The file lists variables in key order whatever the input order."""
    text = extravars_yaml({"zeta": "1", "alpha": "2"}, {"middle": 3})
    assert [line.split(":")[0] for line in text.splitlines()] == ["alpha", "middle", "zeta"]


def test_mark_unsafe_leaves_its_input_alone() -> None:
    """Tagging builds new containers and does not change the caller's data."""
    original = {"a": ["x", {"b": "y"}]}
    marked = mark_unsafe(original)
    assert original == {"a": ["x", {"b": "y"}]}
    assert type(original["a"][0]) is str
    assert marked == original
    assert type(marked["a"][0]) is not str


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
    """A hostile or odd alert string reads back identical and still tagged."""
    data = read_back(extravars_yaml({"note": value, "nested": {"list": [value]}}, {}))
    assert data["note"] == value
    assert type(data["note"]) is Unsafe
    assert data["nested"]["list"] == [value]


# PyYAML's emitter writes a NEL (U+0085) raw inside a single-quoted scalar and reads it back as a
# line break (a PyYAML quirk); trusted catalog strings do not get the forced double quotes.
@pytest.mark.parametrize("value", [v for v in TRICKY if "\x85" not in v])
def test_trusted_string_round_trips_exactly(value: str) -> None:
    """A catalog string reads back identical and untagged."""
    data = read_back(extravars_yaml({}, {"note": value}))
    assert data["note"] == value
    assert type(data["note"]) is str


@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
                       st.text() | st.lists(st.text(), max_size=3), max_size=5))
def test_any_alert_text_round_trips(untrusted: dict[str, Any]) -> None:
    """Whatever text an alert carries, the file reads back to the same values, all tagged."""
    data = read_back(extravars_yaml(untrusted, {}))
    assert data == untrusted
    assert all(type(s) is Unsafe for s in strings(data))
