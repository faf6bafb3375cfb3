"""The ``approvals`` section of the config: who is who across channels, and who may approve.

``people`` names one person across channels (alice is Slack ``U024BE7LH``, web ``alice`` and
OS account ``alice``), so that alice approving in Slack a run she started from the CLI is
recognised as her own; ``approvers`` is an optional allow-list of person names or raw
principals (``slack:U024BE7LH``, ``web:bob``, ``cli:carol``). Without it, anyone who can reach
a channel may approve (as far as the catalog entry's ``approval.approvers`` allows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..identity import CHANNELS
from ..yamlio import line_of

KEYS = frozenset({"people", "approvers"})


@dataclass(frozen=True, slots=True)
class ApprovalSettings:
    """People by name (each with the principals that are them) and the global allow-list."""

    people: Mapping[str, frozenset[str]] = field(default_factory=dict)
    approvers: tuple[str, ...] | None = None  # None: anyone who can reach a channel

    def person(self, principal: str) -> str:
        """The person a principal is (their name), or the principal itself when unnamed."""
        for name, principals in self.people.items():
            if principal in principals:
                return name
        return principal


def principal_problem(text: str, people: Mapping[str, Any]) -> str | None:
    """Why ``text`` names neither a person in ``people`` nor a ``channel:id``, or None."""
    channel, sep, ident = text.partition(":")
    if sep:
        if channel not in CHANNELS or not ident:
            return (f"{text!r}: a principal is channel:id with channel one of "
                    f"{', '.join(CHANNELS)}")
        return None
    if text not in people:
        known = ", ".join(sorted(people)) or "none"
        return (f"{text!r} is no person in approvals.people (people: {known}); name a "
                "person or a principal such as slack:U024BE7LH")
    return None


def parse(node: Any, where: Callable[[str], str]) -> ApprovalSettings:
    """The ``approvals`` section, validated; errors name the key and its line."""
    if node is None:
        return ApprovalSettings()
    here = where("approvals")
    if not isinstance(node, Mapping):
        raise ConfigError("expected a mapping with 'people' and/or 'approvers'", where=here)

    def at(parent: Any, key: str, path: str) -> str:
        line = line_of(parent, key)
        return f"{here}: {path}" + (f" (line {line})" if line else "")

    for key in node:
        if key not in KEYS:
            raise ConfigError(f"unknown key; known keys are {', '.join(sorted(KEYS))}",
                              where=at(node, key, f"approvals.{key}"))
    people: dict[str, frozenset[str]] = {}
    owner: dict[str, str] = {}
    raw_people = node.get("people") or {}
    if not isinstance(raw_people, Mapping):
        raise ConfigError("expected a mapping of name: {slack, web, cli}",
                          where=at(node, "people", "approvals.people"))
    for name, spec in raw_people.items():
        path = f"approvals.people.{name}"
        if not isinstance(name, str) or not name or ":" in name:
            raise ConfigError("a person's name is a string without ':'",
                              where=at(raw_people, name, path))
        if not isinstance(spec, Mapping) or not spec:
            raise ConfigError(f"expected a mapping of channel: id (channels: "
                              f"{', '.join(CHANNELS)})", where=at(raw_people, name, path))
        principals: set[str] = set()
        for channel, ids in spec.items():
            if channel not in CHANNELS:
                raise ConfigError(f"unknown channel {channel!r}; expected one of "
                                  f"{', '.join(CHANNELS)}",
                                  where=at(spec, channel, f"{path}.{channel}"))
            values = ids if isinstance(ids, list) else [ids]
            if not values or any(not isinstance(v, str) or not v for v in values):
                raise ConfigError("expected an id (a string) or a list of them",
                                  where=at(spec, channel, f"{path}.{channel}"))
            for value in values:
                principal = f"{channel}:{value}"
                if owner.get(principal, name) != name:
                    raise ConfigError(f"{principal} is already {owner[principal]}",
                                      where=at(spec, channel, f"{path}.{channel}"))
                owner[principal] = name
                principals.add(principal)
        people[name] = frozenset(principals)
    return ApprovalSettings(people, approver_list(node, "approvers", people,
                                                  lambda key: at(node, key, f"approvals.{key}")))


def approver_list(parent: Any, key: str, people: Mapping[str, Any],
                  where: Callable[[str], str]) -> tuple[str, ...] | None:
    """``parent[key]``: a list of person names or principals (None when absent)."""
    if key not in parent:
        return None
    values = parent[key]
    if not isinstance(values, list) or any(not isinstance(v, str) for v in values):
        raise ConfigError("expected a list of person names or principals (slack:U024BE7LH)",
                          where=where(key))
    for value in values:
        problem = principal_problem(value, people)
        if problem:
            raise ConfigError(problem, where=where(key))
    return tuple(values)
