"""The typed audit record (remediator.record) and the published JSON schema say the same."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, get_args, get_origin, is_typeddict

from remediator import audit, record
from remediator.reasons import DECIDED, Reason
from remediator.record import AuditRecord, reason_code

SCHEMA = json.loads((Path(audit.__file__).parent / "schema" / "audit-record-v1.json")
                    .read_text(encoding="utf-8"))


def _object(node: dict[str, Any]) -> dict[str, Any]:
    """The object branch of a schema node (``oneOf`` null or object)."""
    for branch in node.get("oneOf", ()):
        if branch.get("type") == "object":
            return dict(branch)
    return node


def _nested(hint: Any, node: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    """The TypedDicts inside a type hint, each with the schema node it describes."""
    if is_typeddict(hint):
        return [(hint, _object(node))]
    origin, args = get_origin(hint), get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return [pair for arg in args for pair in _nested(arg, node)]
    if origin is list:
        return _nested(args[0], node.get("items", {}))
    if origin is dict:
        return _nested(args[1], node.get("additionalProperties", {}))
    return []


def _compare(typed: Any, node: dict[str, Any], path: str, seen: set[str]) -> list[str]:
    """Every difference between a TypedDict and its schema object, recursively."""
    seen.add(typed.__name__)
    props = node.get("properties", {})
    problems = []
    if set(typed.__annotations__) != set(props):
        problems.append(f"{path}: keys {sorted(set(typed.__annotations__) ^ set(props))} are "
                        "in one and not the other")
    if set(typed.__required_keys__) != set(node.get("required", ())):
        problems.append(f"{path}: required {sorted(typed.__required_keys__)} vs "
                        f"{sorted(node.get('required', ()))}")
    hints = typing.get_type_hints(typed)
    for key in set(hints) & set(props):
        for inner, child in _nested(hints[key], props[key]):
            problems += _compare(inner, child, f"{path}.{key}", seen)
    return problems


def test_the_typed_record_and_the_schema_have_the_same_keys() -> None:
    """Every schema property is a key of the typed record and back, at every level, and the
    required ones are the same; every TypedDict of record.py is reached."""
    seen: set[str] = set()
    assert _compare(AuditRecord, SCHEMA, "record", seen) == []
    defined = {name for name, value in vars(record).items() if is_typeddict(value)}
    assert defined - seen == {"Draft"}  # AuditRecord's base: the record before it is sealed


def test_the_schema_lists_every_decidable_reason_code() -> None:
    """decision.code's enum is the codes a decision can carry (not ``other``)."""
    code = SCHEMA["properties"]["decision"]["properties"]["code"]
    assert code["enum"] == [str(c) for c in DECIDED]
    assert Reason.OTHER not in DECIDED and len(DECIDED) == len(Reason) - 1


def test_reason_code_prefers_the_recorded_code_over_the_prose() -> None:
    """A recorded code wins over what the prose says; an unknown one (a newer writer) is
    other; without a code the prose decides."""
    def with_decision(decision: dict[str, Any]) -> Any:
        return {"decision": decision}

    assert reason_code(with_decision({"action": "skip", "reason": "cooldown: x",
                                      "code": "locked"})) is Reason.LOCKED
    assert reason_code(with_decision({"action": "skip", "reason": "cooldown: x",
                                      "code": "from-the-future"})) is Reason.OTHER
    assert reason_code(with_decision({"action": "skip", "reason": "cooldown: x"})) \
        is Reason.COOLDOWN
