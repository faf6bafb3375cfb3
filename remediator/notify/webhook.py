"""Generic webhook: the audit record as JSON, signed with HMAC-SHA256 when a secret is set.

Headers: ``X-Remediator-Event`` (the message kind), ``X-Remediator-Timestamp`` (unix seconds)
and, with a secret, ``X-Remediator-Signature: sha256=HEX`` where HEX is the HMAC-SHA256 of
``TIMESTAMP + "." + BODY`` under the secret (the timestamp stops replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..config import ChannelConfig
from .base import Message, setting
from .http import post


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``timestamp.body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass
class WebhookNotifier:
    """POSTs the record JSON to ``url``."""

    name: str
    url: str
    secret: str | None = None
    clock: Callable[[], float] = field(default=time.time)
    type: str = "webhook"

    def wants(self, message: Message) -> bool:
        """Every message: a machine on the other end decides."""
        return True

    def send(self, message: Message, timeout_s: float) -> None:
        """POST the record, signed when there is a secret."""
        body = json.dumps({"event": message.kind, "record": dict(message.record)},
                          sort_keys=True).encode()
        timestamp = str(int(self.clock()))
        headers = {"X-Remediator-Event": message.kind, "X-Remediator-Timestamp": timestamp}
        if self.secret:
            headers["X-Remediator-Signature"] = signature(self.secret, timestamp, body)
        post(self.url, body, headers, timeout_s)


def from_config(channel: ChannelConfig, env: Mapping[str, str]) -> WebhookNotifier:
    """A webhook channel: ``url`` (or ``url_env``) and optional ``secret_env``."""
    return WebhookNotifier(channel.name, setting(channel, "url", env) or "",
                           setting(channel, "secret", env, required=False))
