"""Slack incoming webhook: a readable message in blocks, with a plain-text fallback."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import ChannelConfig
from .base import Message, setting
from .http import post

_EMOJI = {"info": ":large_blue_circle:", "warning": ":large_yellow_circle:",
          "error": ":red_circle:", "critical": ":red_circle:"}
MAX_LINES = 20


def _escape(text: str) -> str:
    """Slack mrkdwn control characters escaped, so alert text cannot ping or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(message: Message) -> dict[str, Any]:
    """The webhook body: header, details (a pending request's preview: hosts and what would
    change), key fields, Approve and Deny buttons for a pending request (their ``value`` is
    the request id, for the interactions endpoint), and links to the record and request page."""
    lines = [_escape(line) for line in message.lines[:MAX_LINES]]
    if len(message.lines) > MAX_LINES:
        lines.append(f"... {len(message.lines) - MAX_LINES} more")
    context = f"`{message.command}`" + (f"  <{message.link}|audit record>" if message.link
                                        else "") + (
        f"  <{message.request_link}|request page>" if message.request_link else "")
    body: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines) or "-"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*{k}*\n{_escape(v)}"}
            for k, v in list(message.fields.items())[:10]]},
    ]
    if message.request_id is not None:
        body.append({"type": "actions", "block_id": f"request:{message.request_id}",
                     "elements": [_button("approve", "Approve", "primary", message.request_id),
                                  _button("deny", "Deny", "danger", message.request_id)]})
    body.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": f"{_EMOJI.get(message.severity, '')} {_escape(message.title)}",
            "blocks": body}


def _button(action_id: str, text: str, style: str, request_id: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "style": style, "value": request_id,
            "text": {"type": "plain_text", "text": text}}


@dataclass
class SlackNotifier:
    """Posts to a Slack incoming webhook URL (a secret: give it as ``webhook_url_env``)."""

    name: str
    webhook_url: str
    type: str = "slack"

    def wants(self, message: Message) -> bool:
        """Everything but bare resolves, which only matter to paging systems."""
        return message.kind != "resolved"

    def send(self, message: Message, timeout_s: float) -> None:
        """POST the blocks."""
        post(self.webhook_url, json.dumps(blocks(message)).encode(), {}, timeout_s)


def from_config(channel: ChannelConfig, env: Mapping[str, str]) -> SlackNotifier:
    """A Slack channel: ``webhook_url`` or ``webhook_url_env``."""
    return SlackNotifier(channel.name, setting(channel, "webhook_url", env) or "")
