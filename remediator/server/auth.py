"""Who may post: bearer tokens, basic auth, PagerDuty signatures, our HMAC, and Slack's
request signing (for ``/slack/interactions``).

Pure functions over headers and the raw body; every comparison is constant-time. A missing
credential is 401, a wrong, stale or replayed one 403. Replays of signed deliveries are caught
by the replay key the intake queue keeps unique.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..notify.webhook import signature
from ..settings.server import EndpointAuth

AUTHORIZATION = "Authorization"
PAGERDUTY_HEADER = "X-PagerDuty-Signature"
HMAC_HEADER = "X-Remediator-Signature"
TIMESTAMP_HEADER = "X-Remediator-Timestamp"
SLACK_SIGNATURE = "X-Slack-Signature"
SLACK_TIMESTAMP = "X-Slack-Request-Timestamp"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of an auth check: 0 when let in, else the HTTP status and why."""

    status: int = 0
    reason: str = ""
    replay_key: str | None = None  # a signed delivery's identity, refused if seen again

    @property
    def ok(self) -> bool:
        return self.status == 0


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: ``v0=`` and the hex HMAC-SHA256 of ``v0:TIMESTAMP:BODY``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _fresh(timestamp: str, now: float, max_skew_s: int) -> bool:
    """An integer of ASCII digits ("²" is a digit to str.isdigit, not to int) of a sane
    length, within ``max_skew_s`` of ``now``."""
    return timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12 and \
        abs(now - int(timestamp)) <= max_skew_s


def _any_equal(given: str, secrets: tuple[str, ...]) -> bool:
    """Compare ``given`` with every secret (no early exit that would time the match)."""
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(given.encode(), secret.encode())
    return found


class Authenticator:
    """Checks one endpoint's requests with the secrets read once at start-up."""

    def __init__(self, auth: EndpointAuth, env: Mapping[str, str]) -> None:
        self.auth = auth
        self.secrets = auth.secrets(env)

    def check(self, headers: Mapping[str, str], body: bytes, now: float) -> Verdict:
        """Let the request in, or say why not. ``headers`` must be case-insensitive.

        Credentials are ASCII: a header with any other character (a non-UTF-8 byte arrives as
        a lone surrogate) is a 400 naming the header, before any comparison."""
        for name in (AUTHORIZATION, PAGERDUTY_HEADER, HMAC_HEADER, TIMESTAMP_HEADER,
                     SLACK_SIGNATURE, SLACK_TIMESTAMP):
            value = headers.get(name)
            if value is not None and not value.isascii():
                return Verdict(400, f"malformed {name} header: credentials are ASCII")
        scheme = self.auth.scheme
        if scheme == "bearer":
            return self._bearer(headers.get(AUTHORIZATION, ""))
        if scheme == "basic":
            return self._basic(headers.get(AUTHORIZATION, ""))
        if scheme == "pagerduty":
            return self._pagerduty(headers.get(PAGERDUTY_HEADER, ""), body)
        if scheme == "slack":
            return self._slack(headers.get(SLACK_SIGNATURE, ""),
                               headers.get(SLACK_TIMESTAMP, ""), body, now)
        return self._hmac(headers.get(HMAC_HEADER, ""), headers.get(TIMESTAMP_HEADER, ""),
                          body, now)

    def _bearer(self, header: str) -> Verdict:
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            return Verdict(401, "missing bearer token")
        if not _any_equal(token.strip(), self.secrets):
            return Verdict(403, "wrong bearer token")
        return Verdict()

    def _basic(self, header: str) -> Verdict:
        kind, _, encoded = header.partition(" ")
        if kind.lower() != "basic" or not encoded.strip():
            return Verdict(401, "missing basic credentials")
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True
                                                   ).decode().partition(":")
        except (binascii.Error, ValueError):  # not base64, or not UTF-8 inside
            return Verdict(401, "malformed basic credentials")
        user_ok = hmac.compare_digest(user.encode(), (self.auth.username or "").encode())
        if not sep or not (_any_equal(password, self.secrets) & user_ok):
            return Verdict(403, "wrong basic credentials")
        return Verdict()

    def _pagerduty(self, header: str, body: bytes) -> Verdict:
        """``v1=HEX[,v1=HEX...]``: HMAC-SHA256 of the raw body; any one of them may match."""
        given = [part.strip()[3:] for part in header.split(",")
                 if part.strip().startswith("v1=")]
        if not given:
            return Verdict(401, f"missing {PAGERDUTY_HEADER}")
        expected = [hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in self.secrets]
        if not any(_any_equal(g, tuple(expected)) for g in given):
            return Verdict(403, f"wrong {PAGERDUTY_HEADER}")
        return Verdict()  # the replay key is the event id, read from the (signed) body

    def _hmac(self, header: str, timestamp: str, body: bytes, now: float) -> Verdict:
        """Our scheme (as the webhook notifier sends): ``sha256=HEX`` of ``TIMESTAMP.BODY``."""
        return self._stamped(HMAC_HEADER, TIMESTAMP_HEADER, signature, "hmac", header,
                             timestamp, body, now)

    def _slack(self, header: str, timestamp: str, body: bytes, now: float) -> Verdict:
        """As Slack documents it ("Verifying requests from Slack"): ``v0=HEX`` of
        ``v0:TIMESTAMP:BODY``, the timestamp within five minutes of this server's clock."""
        return self._stamped(SLACK_SIGNATURE, SLACK_TIMESTAMP, slack_signature, "slack",
                             header, timestamp, body, now)

    def _stamped(self, name: str, stamp_name: str, sign: Callable[[str, str, bytes], str],
                 kind: str, header: str, timestamp: str, body: bytes, now: float) -> Verdict:
        """A signature over a timestamp and the body, with any of the secrets, the timestamp
        within ``max_skew_s``; its replay key is the signature (accepted once)."""
        if not header or not timestamp:
            return Verdict(401, f"missing {name} or {stamp_name}")
        if not _fresh(timestamp, now, self.auth.max_skew_s):
            return Verdict(403, f"stale or malformed {stamp_name} (more than "
                                f"{self.auth.max_skew_s} s from this server's clock)")
        expected = tuple(sign(s, timestamp, body) for s in self.secrets)
        if not _any_equal(header.strip(), expected):
            return Verdict(403, f"wrong {name}")
        return Verdict(replay_key=f"{kind}:{header.strip()}")
