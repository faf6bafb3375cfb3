"""The ``server`` section of the config: where ``serve`` listens and how each endpoint
authenticates. Secrets are named by environment variables, never written in the file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from . import web as web_settings

ENDPOINTS = ("alertmanager", "pagerduty", "generic", "slack")
# scheme -> the keys it takes; the *_env keys hold one env var name or a list (key rotation)
SCHEMES: Mapping[str, frozenset[str]] = {
    "bearer": frozenset({"token_env"}),
    "basic": frozenset({"username", "password_env"}),
    "pagerduty": frozenset({"secret_env"}),
    "hmac": frozenset({"secret_env", "max_skew"}),
    "slack": frozenset({"signing_secret_env", "response_url_prefixes"}),
}
_DEFAULT_SCHEME = {"alertmanager": "bearer", "pagerduty": "pagerduty", "generic": "hmac",
                   "slack": "slack"}
# Slack's interactions (POST /slack/interactions) take only Slack's signing, and only they do
SLACK_SKEW_S = 300  # Slack: "more than five minutes from local time" is a possible replay
SLACK_RESPONSE_URLS = ("https://hooks.slack.com/",)
_INTS: Mapping[str, tuple[int, int]] = {  # key -> (default, minimum)
    "max_body": (1 << 20, 1024),
    "workers": (2, 1),
    "batch": (500, 1),
    "grace": (30, 0),
    "keep_intake": (7 * 86400, 60),
}
_SECONDS: Mapping[str, tuple[float, float, float]] = {  # key -> (default, minimum, maximum)
    "gather": (0.5, 0, 60),
    "header_timeout": (10, 0.1, 3600),
    "body_timeout": (30, 0.1, 3600),
    "keepalive_timeout": (15, 0.1, 3600),
}
KEYS = frozenset({"listen", "endpoints", "max_connections", "web", *_INTS, *_SECONDS})
DEFAULT_GATHER = 0.5
DEFAULT_LISTEN = "127.0.0.1:9095"


@dataclass(frozen=True, slots=True)
class EndpointAuth:
    """How one endpoint checks its callers: a scheme and the env var names of its secrets."""

    endpoint: str
    scheme: str
    secret_envs: tuple[str, ...] = ()
    username: str | None = None
    max_skew_s: int = 300
    # slack: where a signed payload's response_url may point (we POST the outcome there)
    response_url_prefixes: tuple[str, ...] = SLACK_RESPONSE_URLS

    def secrets(self, env: Mapping[str, str]) -> tuple[str, ...]:
        """The secrets, read from the environment; a missing one is a ConfigError."""
        values = []
        for name in self.secret_envs:
            value = env.get(name, "")
            if not value:
                raise ConfigError(f"environment variable {name} is not set (the secret of "
                                  f"the {self.endpoint} endpoint)",
                                  where=f"server.endpoints.{self.endpoint}")
            values.append(value)
        return tuple(values)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Listen address, limits, and the enabled endpoints with their authentication."""

    listen: str = DEFAULT_LISTEN
    max_body: int = 1 << 20
    workers: int = 2
    batch: int = 500
    grace: int = 30
    keep_intake: int = 7 * 86400
    gather: float = DEFAULT_GATHER  # seconds a worker lets a burst gather before claiming it
    header_timeout: float = 10.0  # seconds from a request's first byte to its last header
    body_timeout: float = 30.0  # seconds from a request's head to its whole body
    keepalive_timeout: float = 15.0  # seconds an idle kept-alive connection stays open
    max_connections: int | None = None  # None: derived from the open-file limit at start
    endpoints: Mapping[str, EndpointAuth] = field(default_factory=dict)
    web: web_settings.WebSettings | None = None  # the approval page (server.web)


def parse_listen(value: str, where: str = "--listen") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as (host, port)."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"expected HOST:PORT, got {value!r}", where=where)
    return host, int(port)


def parse(node: Any, where: Callable[[str], str]) -> ServerSettings:
    """Validate the ``server`` section; every problem names its key."""
    if node is None:
        return ServerSettings()
    here = where("server")
    if not isinstance(node, Mapping):
        raise ConfigError("expected a mapping (listen, endpoints, limits)", where=here)
    for key in node:
        if key not in KEYS:
            raise ConfigError(f"unknown key 'server.{key}'; known keys are "
                              f"{', '.join(sorted(KEYS))}", where=here)
    listen = node.get("listen", DEFAULT_LISTEN)
    if not isinstance(listen, str):
        raise ConfigError("'server.listen' must be a HOST:PORT string", where=here)
    parse_listen(listen, f"{here}: server.listen")
    ints = {}
    for key, (default, minimum) in _INTS.items():
        value = node.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ConfigError(f"'server.{key}' must be an integer >= {minimum}", where=here)
        ints[key] = value
    seconds: dict[str, float] = {}
    for key, (unset, low, high) in _SECONDS.items():
        value = node.get(key, unset)
        if not isinstance(value, int | float) or isinstance(value, bool) or \
                not low <= value <= high:
            raise ConfigError(f"'server.{key}' must be a number of seconds from {low:g} to "
                              f"{high:g}", where=here)
        seconds[key] = float(value)
    max_connections = node.get("max_connections")
    if max_connections is not None and (not isinstance(max_connections, int) or isinstance(
            max_connections, bool) or max_connections < 1):
        raise ConfigError("'server.max_connections' must be an integer >= 1 (leave it out to "
                          "derive it from the open-file limit)", where=here)
    endpoints = _endpoints(node.get("endpoints"), here)
    if "slack" in endpoints and ints["keep_intake"] < SLACK_SKEW_S:  # replays are kept there
        raise ConfigError(f"'server.keep_intake' must be at least {SLACK_SKEW_S} with the "
                          "slack endpoint (a signed interaction is refused again for as "
                          "long as Slack's timestamp is fresh)", where=here)
    return ServerSettings(listen=listen, endpoints=endpoints,
                          max_connections=max_connections, gather=seconds["gather"],
                          header_timeout=seconds["header_timeout"],
                          body_timeout=seconds["body_timeout"],
                          keepalive_timeout=seconds["keepalive_timeout"],
                          web=web_settings.parse(node.get("web"), here), **ints)


def _endpoints(node: Any, here: str) -> dict[str, EndpointAuth]:
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise ConfigError("'server.endpoints' must map endpoint names to their auth",
                          where=here)
    result = {}
    for name, spec in node.items():
        key = f"server.endpoints.{name}"
        if name not in ENDPOINTS:
            raise ConfigError(f"unknown endpoint '{name}'; expected one of "
                              f"{', '.join(ENDPOINTS)}", where=here)
        if not isinstance(spec, Mapping):
            raise ConfigError(f"'{key}' must be a mapping with 'auth' and its secrets",
                              where=here)
        scheme = spec.get("auth", _DEFAULT_SCHEME[name])
        if scheme not in SCHEMES:
            raise ConfigError(f"'{key}.auth' must be one of {', '.join(SCHEMES)}", where=here)
        if (scheme == "slack") != (name == "slack"):
            raise ConfigError(f"'{key}.auth' must be slack" if name == "slack" else
                              f"'{key}.auth' slack is for the slack endpoint only", where=here)
        allowed = SCHEMES[scheme] | {"auth"}
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise ConfigError(f"'{key}' has {', '.join(unknown)}, which auth '{scheme}' does "
                              f"not take (it takes {', '.join(sorted(SCHEMES[scheme]))})",
                              where=here)
        env_key = next(k for k in SCHEMES[scheme] if k.endswith("_env"))
        envs = spec.get(env_key)
        envs = [envs] if isinstance(envs, str) else envs
        if not isinstance(envs, list) or not envs or \
                not all(isinstance(e, str) and e for e in envs):
            raise ConfigError(f"'{key}.{env_key}' must name an environment variable (or a "
                              "list of them, to rotate secrets)", where=here)
        username = spec.get("username")
        if scheme == "basic" and (not isinstance(username, str) or not username):
            raise ConfigError(f"'{key}.username' is required for basic auth", where=here)
        skew = spec.get("max_skew", 300)
        if not isinstance(skew, int) or isinstance(skew, bool) or skew < 1:
            raise ConfigError(f"'{key}.max_skew' must be a positive number of seconds",
                              where=here)
        prefixes = _response_url_prefixes(spec, key, here) if scheme == "slack" else \
            SLACK_RESPONSE_URLS
        result[str(name)] = EndpointAuth(str(name), str(scheme), tuple(envs), username,
                                         SLACK_SKEW_S if scheme == "slack" else skew, prefixes)
    return result


def _response_url_prefixes(spec: Mapping[str, Any], key: str, here: str) -> tuple[str, ...]:
    """``response_url_prefixes``: http(s) URL prefixes ending in ``/`` (so that
    ``https://hooks.slack.com`` cannot also let in ``https://hooks.slack.com.evil``)."""
    value = spec.get("response_url_prefixes", list(SLACK_RESPONSE_URLS))
    if not isinstance(value, list) or not value or not all(
            isinstance(p, str) and p.startswith(("https://", "http://")) and
            p.count("/") >= 3 and p.endswith("/") for p in value):
        raise ConfigError(f"'{key}.response_url_prefixes' must be a list of http(s) URL "
                          "prefixes, each ending in / after the host (default "
                          f"{list(SLACK_RESPONSE_URLS)})", where=here)
    return tuple(value)
