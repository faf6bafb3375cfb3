"""Who approves or denies: a person as a channel knows them.

A channel vouches for an identity in its own way: Slack signs the user id it sends, the web
page checks a password (or trusts an authenticating proxy's header), the CLI knows the OS
account that runs it (``--by`` is what that account says about itself, recorded beside it).
The approval policy (allow-lists, four eyes) compares ``Approver`` values, never free text.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass

CHANNELS = ("cli", "slack", "web")


@dataclass(frozen=True, slots=True)
class Approver:
    """One person acting through one channel.

    ``id`` is what the channel vouches for (a Slack user id, a web user name, the CLI's OS
    account); ``name`` is how to show them (a Slack display name, ``--by``).
    """

    channel: str  # one of CHANNELS
    id: str
    name: str
    os_user: str | None = None  # the CLI's OS account, recorded beside --by

    @property
    def principal(self) -> str:
        """``channel:id``: the form allow-lists may name."""
        return f"{self.channel}:{self.id}"

    def label(self) -> str:
        """For people: ``alice`` or ``Alice (slack:U024BE7LH)``."""
        return self.name if self.principal == f"cli:{self.name}" else \
            f"{self.name} ({self.principal})"


def os_user() -> str:
    """The OS account running this process (not $REMEDIATOR_USER or $USER: those are claims)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid with no passwd entry (containers)
        return f"uid-{os.getuid()}"


def cli_approver(by: str | None) -> Approver:
    """The CLI's person: the OS account, named as ``--by`` (or $REMEDIATOR_USER) says."""
    account = os_user()
    name = by or os.environ.get("REMEDIATOR_USER") or account
    return Approver("cli", account, name, os_user=account)
