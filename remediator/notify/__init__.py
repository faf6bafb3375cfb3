"""Notifications: one Notifier protocol, a registry of channel types, bounded retrying delivery."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from ..config import NotifyConfig
from ..record import Notification
from .base import DeliveryError, Message, Notifier, NotifierFactory, setting

__all__ = ["DeliveryError", "Message", "Notifier", "NotifierFactory", "build", "deliver",
           "setting"]


def _factories() -> Mapping[str, NotifierFactory]:
    from . import log, pagerduty, slack, webhook

    return {"pagerduty": pagerduty.from_config, "slack": slack.from_config,
            "webhook": webhook.from_config, "log": log.from_config}


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
