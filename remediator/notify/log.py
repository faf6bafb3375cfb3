"""The stderr channel: one readable block per message, for cron mail and terminals."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from ..config import ChannelConfig
from .base import Message


@dataclass
class LogNotifier:
    """Writes messages to a stream (stderr by default)."""

    name: str
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    type: str = "log"

    def wants(self, message: Message) -> bool:
        """Everything but bare resolves."""
        return message.kind != "resolved"

    def send(self, message: Message, timeout_s: float) -> None:
        """Write the title, the lines and the command."""
        out = [f"remediator: notify [{message.severity}] {message.title}"]
        out += [f"  {line}" for line in message.lines]
        out.append(f"  full record: {message.command}")
        self.stream.write("\n".join(out) + "\n")
        self.stream.flush()


def from_config(channel: ChannelConfig, env: Mapping[str, str]) -> LogNotifier:
    """A log channel; it has no settings."""
    return LogNotifier(channel.name)
