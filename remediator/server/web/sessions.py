"""Who is using the web page: password logins (bcrypt), signed session cookies, form tokens,
login throttling, and the trusted proxy's identity header.

A session is a signed cookie ``v1.USER.EXPIRES.NONCE.MAC`` (HMAC-SHA256 with the key from
``session_secret_env``), so several ``serve`` instances with the same key share logins. A
form's CSRF token is an HMAC of the session's nonce, checked on every POST. Logging out
revokes the nonce until the cookie would expire anyway: here, and in the store (the page
asks it for each request), so that every instance on the store refuses it, also after a
restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import bcrypt

from ...settings.web import WebSettings

COOKIE = "remediator_session"
# Failed logins allowed per user name and per client address in THROTTLE_WINDOW_S; then
# every login attempt from there (right or wrong) is refused until the window moves on.
THROTTLE_FAILURES = 5
THROTTLE_WINDOW_S = 300.0
# Checked for unknown users, so that a wrong name costs the same time as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"remediator-no-such-user", bcrypt.gensalt(rounds=10))


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in person: their name, when the login ends, and its nonce (the CSRF seed)."""

    user: str
    expires: int
    nonce: str


def hash_password(password: str, rounds: int = 10) -> str:
    """A bcrypt hash for ``server.web.users`` (what ``htpasswd -nBC 10`` makes)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


class Sessions:
    """Signs and checks session cookies and form tokens; checks passwords; throttles."""

    def __init__(self, settings: WebSettings, env: Mapping[str, str]) -> None:
        self.settings = settings
        secret = settings.session_secret(env)
        self.key = hashlib.sha256((secret or secrets.token_hex(32)).encode()).digest()
        self.revoked: dict[str, int] = {}  # nonce -> expiry, for logouts
        self.failures: dict[str, deque[float]] = {}  # "user:NAME" / "peer:ADDR" -> times
        self.lock = threading.Lock()

    # -- cookies and tokens --

    def _mac(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def issue(self, user: str, now: float) -> tuple[Session, str]:
        """A new session for ``user`` and its cookie value."""
        session = Session(user, int(now) + self.settings.session_ttl, secrets.token_hex(16))
        body = f"v1.{_b64(user)}.{session.expires}.{session.nonce}"
        return session, f"{body}.{self._mac(body)}"

    def read(self, cookie: str | None, now: float) -> Session | None:
        """The session a cookie proves, or None (absent, forged, expired or logged out)."""
        if not cookie or not cookie.isascii():
            return None
        body, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        version, user, expires, nonce = [*body.split("."), "", "", ""][:4]
        if version != "v1" or not expires.isdigit() or int(expires) <= now:
            return None
        with self.lock:
            if nonce in self.revoked:
                return None
        try:
            return Session(_unb64(user), int(expires), nonce)
        except (ValueError, UnicodeDecodeError):
            return None

    def revoke(self, session: Session, now: float) -> None:
        """Log ``session`` out in this process (the page also writes it to the store)."""
        with self.lock:
            self.revoked = {n: e for n, e in self.revoked.items() if e > now}
            self.revoked[session.nonce] = session.expires

    def csrf_token(self, session: Session) -> str:
        """The token every form of this session carries."""
        return self._mac(f"csrf.{session.user}.{session.nonce}")

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        """True when ``token`` is this session's form token."""
        return bool(token) and token is not None and token.isascii() and \
            hmac.compare_digest(token.encode(), self.csrf_token(session).encode())

    def proxy_session(self, user: str) -> Session:
        """The session of a user the proxy vouches for (its nonce is fixed per user)."""
        return Session(user, 0, self._mac(f"proxy.{user}")[:32])

    # -- passwords and throttling --

    def throttled(self, user: str, peer: str, now: float) -> float:
        """Seconds until a login for ``user`` from ``peer`` may be tried again (0: now)."""
        with self.lock:
            wait = 0.0
            for key in (f"user:{user}", f"peer:{peer}"):
                times = self.failures.get(key)
                while times and times[0] <= now - THROTTLE_WINDOW_S:
                    times.popleft()
                if times is not None and len(times) >= THROTTLE_FAILURES:
                    wait = max(wait, times[0] + THROTTLE_WINDOW_S - now)
            return wait

    def failed(self, user: str, peer: str, now: float) -> None:
        """Count a failed login against the user name and the client address."""
        with self.lock:
            if len(self.failures) > 10_000:  # a flood of names: forget the quiet ones
                self.failures = {k: v for k, v in self.failures.items()
                                 if v and v[-1] > now - THROTTLE_WINDOW_S}
            for key in (f"user:{user}", f"peer:{peer}"):
                self.failures.setdefault(key, deque(maxlen=THROTTLE_FAILURES)).append(now)

    def check_password(self, user: str, password: str) -> bool:
        """True when ``password`` is ``user``'s (bcrypt; slow on purpose: call it off the
        event loop). An unknown user costs the same time."""
        hashed = self.settings.users.get(user)
        candidate = password.encode()[:72]  # bcrypt reads 72 bytes; 5.x refuses more
        ok = bcrypt.checkpw(candidate, (hashed or _DUMMY_HASH.decode()).encode())
        return ok and hashed is not None


def now() -> float:
    """The wall clock, in seconds."""
    return time.time()
