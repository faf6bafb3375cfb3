"""PagerDuty Events API v2: trigger, acknowledge, resolve under a stable dedup_key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import ChannelConfig
from .base import Message, setting
from .http import post

DEFAULT_URL = "https://events.pagerduty.com"
MAX_SUMMARY = 1024


def event(message: Message, routing_key: str) -> dict[str, Any]:
    """The Events API v2 body for ``message``."""
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": message.event_action,
                            "dedup_key": message.dedup_key}
    if message.event_action != "trigger":
        return body
    body["payload"] = {
        "summary": message.title[:MAX_SUMMARY],
        "source": message.source,
        "severity": message.severity,
        "component": message.fields.get("entry", ""),
        "group": message.fields.get("alert", ""),
        "class": message.kind,
        "custom_details": {**message.fields, "details": list(message.lines),
                           "command": message.command,
                           **({"request": message.request_id} if message.request_id else {})},
    }
    body["client"] = "remediator"
    links = [{"href": message.request_link, "text": "approve or deny"}] \
        if message.request_link else []
    if message.link:
        links.append({"href": message.link, "text": "audit record"})
    if links:
        body["links"] = links
    return body


@dataclass
class PagerDutyNotifier:
    """Sends Events API v2 events to ``{url}/v2/enqueue``."""

    name: str
    routing_key: str
    url: str = DEFAULT_URL
    type: str = "pagerduty"

    def wants(self, message: Message) -> bool:
        """PagerDuty takes every message, resolves and acknowledgements included."""
        return True

    def send(self, message: Message, timeout_s: float) -> None:
        """POST one event."""
        body = json.dumps(event(message, self.routing_key)).encode()
        post(self.url.rstrip("/") + "/v2/enqueue", body, {}, timeout_s)


def from_config(channel: ChannelConfig, env: Mapping[str, str]) -> PagerDutyNotifier:
    """A PagerDuty channel: ``routing_key`` (or ``routing_key_env``), optional ``url``."""
    key = setting(channel, "routing_key", env) or ""
    url = setting(channel, "url", env, required=False) or DEFAULT_URL
    return PagerDutyNotifier(channel.name, key, url)
