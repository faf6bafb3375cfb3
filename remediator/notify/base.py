"""What every channel shares: the Message, the Notifier protocol, a failed attempt, and how
a channel reads a setting (directly or from the environment)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import ChannelConfig
from ..errors import ConfigError


class DeliveryError(Exception):
    """One failed attempt; ``retry`` says whether another attempt could succeed."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        self.retry = retry
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Message:
    """What a person is told about one record; built by ``notify.message``, pure data."""

    kind: str  # would-change | approval-needed | result | failure | resolved | denied
    event_action: str  # PagerDuty semantics: trigger | acknowledge | resolve
    severity: str  # info | warning | error | critical
    title: str
    lines: tuple[str, ...]  # the body, one fact per line
    fields: Mapping[str, str]  # short key facts: entry, stage, mode, outcome, hosts
    dedup_key: str
    source: str  # the host (or "remediator")
    command: str  # the command that shows the full record
    link: str | None
    record: Mapping[str, Any] = field(default_factory=dict)
    request_id: str | None = None  # approval-needed: the request that approve/deny buttons name
    request_link: str | None = None  # approval-needed: its page (``request_url``), if any


class Notifier(Protocol):
    """A channel that can deliver a Message; raises DeliveryError on a failed attempt."""

    name: str
    type: str

    def wants(self, message: Message) -> bool:
        """False for messages this channel ignores (e.g. a bare resolve for a chat channel)."""
        ...

    def send(self, message: Message, timeout_s: float) -> None:
        """Deliver once, within ``timeout_s``."""
        ...


NotifierFactory = Callable[[ChannelConfig, Mapping[str, str]], Notifier]


def setting(channel: ChannelConfig, key: str, env: Mapping[str, str], *,
            required: bool = True) -> str | None:
    """A channel setting given directly (``key``) or through an env var (``key_env``)."""
    if f"{key}_env" in channel.settings:
        name = str(channel.settings[f"{key}_env"])
        value = env.get(name)
        if value is None and required:
            raise ConfigError(f"channel '{channel.name}': environment variable {name} "
                              f"(for {key}) is not set")
        return value
    value = channel.settings.get(key)
    if value is None and required:
        raise ConfigError(f"channel '{channel.name}': '{key}' or '{key}_env' is required")
    return None if value is None else str(value)
