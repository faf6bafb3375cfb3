"""The ``server.web`` section: who may use the approval page, and how they prove it.

Either ``users`` (name -> bcrypt hash, as Prometheus's ``basic_auth_users``) with a login form
and a signed session cookie, or ``proxy`` (an authenticating proxy such as oauth2-proxy puts the
user in a header, trusted only from the listed addresses). Secrets are named by environment
variables, never written in the file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

KEYS = frozenset({"users", "proxy", "session_secret_env", "session_ttl", "plain_http",
                  "origins"})
PROXY_KEYS = frozenset({"header", "trusted"})
DEFAULT_SESSION_TTL = 8 * 3600
DEFAULT_PROXY_HEADER = "X-Forwarded-User"
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ProxyAuth:
    """Trust ``header`` as the user's name, but only from peers in ``trusted``."""

    header: str = DEFAULT_PROXY_HEADER
    trusted: tuple[Network, ...] = ()

    def trusts(self, peer: str | None) -> bool:
        """True when ``peer`` (an IP address) is in one of the trusted networks."""
        try:
            address = ipaddress.ip_address((peer or "").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.trusted)


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Users with bcrypt hashes (a login form) or a trusted proxy, and the session's terms."""

    users: Mapping[str, str] = field(default_factory=dict)  # name -> bcrypt hash
    proxy: ProxyAuth | None = None
    session_secret_env: str | None = None
    session_ttl: int = DEFAULT_SESSION_TTL  # seconds a login lasts
    plain_http: bool = False  # cookies without Secure: only on a loopback listen address
    origins: tuple[str, ...] = ()  # allowed Origin values of forms; empty: the Host header's

    def session_secret(self, env: Mapping[str, str]) -> str | None:
        """The key that signs session cookies and form tokens; a missing one is a ConfigError
        (None in proxy mode without ``session_secret_env``: a key per process is made)."""
        if self.session_secret_env is None:
            return None
        value = env.get(self.session_secret_env, "")
        if len(value) < 16:
            raise ConfigError(f"environment variable {self.session_secret_env} is not set or "
                              "shorter than 16 characters (it signs the web page's session "
                              "cookies)", where="server.web.session_secret_env")
        return value


def parse(node: Any, here: str) -> WebSettings | None:
    """Validate ``server.web``; every problem names its key."""
    if node is None:
        return None
    if not isinstance(node, Mapping):
        raise ConfigError("'server.web' must be a mapping (users or proxy, "
                          "session_secret_env, ...)", where=here)
    unknown = sorted(set(map(str, node)) - KEYS)
    if unknown:
        raise ConfigError(f"unknown key 'server.web.{unknown[0]}'; known keys are "
                          f"{', '.join(sorted(KEYS))}", where=here)
    users, proxy = node.get("users"), node.get("proxy")
    if (users is None) == (proxy is None):
        raise ConfigError("'server.web' needs exactly one of 'users' (a login form) or "
                          "'proxy' (an authenticating proxy's header)", where=here)
    secret_env = node.get("session_secret_env")
    if secret_env is not None and (not isinstance(secret_env, str) or not secret_env):
        raise ConfigError("'server.web.session_secret_env' must name an environment variable",
                          where=here)
    if users is not None and secret_env is None:
        raise ConfigError("'server.web.session_secret_env' is required with 'users' (it "
                          "names the variable holding the key that signs session cookies)",
                          where=here)
    ttl = node.get("session_ttl", DEFAULT_SESSION_TTL)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 60 <= ttl <= 30 * 86400:
        raise ConfigError("'server.web.session_ttl' must be seconds from 60 to 2592000",
                          where=here)
    plain = node.get("plain_http", False)
    if not isinstance(plain, bool):
        raise ConfigError("'server.web.plain_http' must be true or false", where=here)
    origins = node.get("origins", [])
    if not isinstance(origins, list) or not all(
            isinstance(o, str) and o.startswith(("http://", "https://")) and
            o.count("/") == 2 for o in origins):
        raise ConfigError("'server.web.origins' must list origins like "
                          "'https://ops.example' (scheme and host, no path)", where=here)
    return WebSettings(users=_users(users, here) if users is not None else {},
                       proxy=_proxy(proxy, here) if proxy is not None else None,
                       session_secret_env=secret_env, session_ttl=ttl, plain_http=plain,
                       origins=tuple(o.rstrip("/") for o in origins))


def _users(node: Any, here: str) -> dict[str, str]:
    if not isinstance(node, Mapping) or not node:
        raise ConfigError("'server.web.users' must map user names to bcrypt hashes "
                          "(make one with `remediator hash-password`)", where=here)
    result = {}
    for name, hashed in node.items():
        if not isinstance(name, str) or not name or not name.isprintable() or ":" in name:
            raise ConfigError(f"'server.web.users': {name!r} is not a user name (printable, "
                              "no ':')", where=here)
        if not isinstance(hashed, str) or not hashed.startswith(BCRYPT_PREFIXES) or \
                len(hashed) != 60:
            raise ConfigError(f"'server.web.users.{name}' must be a bcrypt hash ($2b$..., 60 "
                              "characters; make one with `remediator hash-password`), never "
                              "a password", where=here)
        result[name] = hashed
    return result


def _proxy(node: Any, here: str) -> ProxyAuth:
    if not isinstance(node, Mapping):
        raise ConfigError("'server.web.proxy' must be a mapping with 'header' and 'trusted'",
                          where=here)
    unknown = sorted(set(map(str, node)) - PROXY_KEYS)
    if unknown:
        raise ConfigError(f"unknown key 'server.web.proxy.{unknown[0]}'; known keys are "
                          f"{', '.join(sorted(PROXY_KEYS))}", where=here)
    header = node.get("header", DEFAULT_PROXY_HEADER)
    if not isinstance(header, str) or not header or not header.isascii() or \
            any(c in header for c in " :\t\r\n"):
        raise ConfigError("'server.web.proxy.header' must be an HTTP header name such as "
                          "X-Forwarded-User or X-Forwarded-Email", where=here)
    trusted = node.get("trusted")
    if not isinstance(trusted, list) or not trusted:
        raise ConfigError("'server.web.proxy.trusted' must list the proxy's addresses as "
                          "CIDRs (e.g. [127.0.0.1/32]): the header is trusted from nowhere "
                          "else", where=here)
    networks = []
    for value in trusted:
        try:
            networks.append(ipaddress.ip_network(str(value), strict=True))
        except ValueError as exc:
            raise ConfigError(f"'server.web.proxy.trusted': {value!r} is not a CIDR ({exc})",
                              where=here) from None
    return ProxyAuth(header=header, trusted=tuple(networks))
