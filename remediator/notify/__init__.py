"""Notifications: one Notifier protocol, a registry of channel types, bounded retrying delivery."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import ChannelConfig, NotifyConfig
from ..errors import ConfigError
from ..record import Notification


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


def _factories() -> Mapping[str, NotifierFactory]:
    from . import log, pagerduty, slack, webhook

    return {"pagerduty": pagerduty.from_config, "slack": slack.from_config,
            "webhook": webhook.from_config, "log": log.from_config}


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


def build(config: NotifyConfig, env: Mapping[str, str]) -> dict[str, Notifier]:
    """Every configured channel as a Notifier, by name."""
    factories = _factories()
    return {name: factories[channel.type](channel, env)
            for name, channel in config.channels.items()}


def deliver(notifiers: Sequence[Notifier], message: Message, config: NotifyConfig,
            sleep: Callable[[float], None] = time.sleep) -> list[Notification]:
    """Send to each channel with bounded retries and backoff; results for the record."""
    results: list[Notification] = []
    for notifier in notifiers:
        if not notifier.wants(message):
            continue
        attempts, error = 0, None
        for attempt in range(max(1, config.retries)):
            attempts = attempt + 1
            try:
                notifier.send(message, config.timeout_s)
                error = None
                break
            except DeliveryError as exc:
                error = str(exc)
                if not exc.retry:
                    break
                if attempt + 1 < config.retries:
                    sleep(config.backoff_s * (2 ** attempt))
        results.append({"channel": notifier.name, "type": notifier.type, "event": message.kind,
                        "status": "failed" if error else "sent", "attempts": attempts,
                        "error": error})
    return results
