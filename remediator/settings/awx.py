"""The ``awx`` section of the config: where AWX / Automation Platform is and how to talk to it.

The token is never in the file: ``token_env`` names the environment variable that holds it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..yamlio import line_of

DEFAULT_TOKEN_ENV = "REMEDIATOR_AWX_TOKEN"  # noqa: S105 - a variable name, not a token
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What AWX's ALLOW_JINJA_IN_EXTRA_VARS is: "verify" reads it from /api/v2/settings/jobs/.
JINJA_SETTINGS = ("verify", "template", "never")
# key -> (default, minimum, maximum) for the numeric keys
_NUMBERS: Mapping[str, tuple[float, float, float]] = {
    "poll_interval": (2.0, 0.01, 300.0),
    "request_timeout": (30.0, 0.1, 600.0),
    "retries": (3, 0, 10),
    "backoff": (1.0, 0.0, 60.0),
    "events_wait": (60.0, 0.0, 3600.0),
    "page_size": (200, 1, 200),
}
_INTEGERS = frozenset({"retries", "page_size"})
_KNOWN = frozenset({"url", "api_base_path", "token_env", "verify_tls", "ca_file", "jinja_setting",
                    *_NUMBERS})
# AWX serves its API under /api/v2/, or /api/<OPTIONAL_API_URLPATTERN_PREFIX>/v2/ when that
# setting is set (awx/urls.py get_urlpatterns, awx/main/middleware.py URLModificationMiddleware
# at e21dd0a0); Automation Platform 2.5's gateway serves the controller at /api/controller/v2/.
# awxkit calls the part before v2/ api_base_path (awxkit/awxkit/config.py, AWXKIT_API_BASE_PATH).
DEFAULT_API_BASE_PATH = "/api/"
_API_BASE_PATH = re.compile(r"^/api/(?:[A-Za-z0-9_.~-]+/)?$")


@dataclass(frozen=True, slots=True)
class AwxSettings:
    """How to reach AWX: base URL, the token's env var, TLS, polling and paging limits."""

    url: str  # e.g. https://awx.example.com, without /api/v2
    api_base_path: str = DEFAULT_API_BASE_PATH  # /api/ or /api/<prefix>/ (/api/controller/)
    token_env: str = DEFAULT_TOKEN_ENV
    verify_tls: bool = True
    ca_file: Path | None = None
    poll_interval_s: float = 2.0
    request_timeout_s: float = 30.0
    retries: int = 3  # extra tries of an idempotent GET after a 5xx or a connection error
    backoff_s: float = 1.0  # first pause between tries, doubled each time
    events_wait_s: float = 60.0  # how long to wait for AWX to save a finished job's events
    page_size: int = 200  # AWX's default MAX_PAGE_SIZE is 200
    jinja_setting: str = "verify"

    @property
    def api(self) -> str:
        """The path of API v2 without its trailing slash: /api/v2 or /api/<prefix>/v2."""
        return f"{self.api_base_path}v2"

    def token(self, env: Mapping[str, str]) -> str:
        """The API token from the environment; a missing one is a ConfigError."""
        value = env.get(self.token_env, "").strip()
        if not value:
            raise ConfigError(f"environment variable {self.token_env} is not set (the AWX API "
                              "token; awx.token_env names it)", where="awx.token_env")
        return value


def parse(node: Any, origin: str, base_dir: Path) -> AwxSettings | None:
    """Validate the ``awx`` section (None when absent); every problem names file, line, key."""
    if node is None:
        return None

    def where(key: str | None = None) -> str:
        line = line_of(node, key)
        name = f"awx.{key}" if key else "awx"
        return f"{origin}:{line}: key '{name}'" if line else f"{origin}: key '{name}'"

    if not isinstance(node, Mapping):
        raise ConfigError("expected a mapping with at least 'url'", where=where())
    for key in node:
        if key not in _KNOWN:
            raise ConfigError(f"unknown key; known keys are {', '.join(sorted(_KNOWN))}",
                              where=where(key))
    numbers = {key: _number(node, key, where) for key in _NUMBERS}
    url, api_base_path = _url(node.get("url"), where("url"))
    if "api_base_path" in node:
        wanted = _api_base_path(node["api_base_path"], where("api_base_path"))
        if api_base_path not in (DEFAULT_API_BASE_PATH, wanted):
            raise ConfigError(f"the url says the API is at {api_base_path}v2/ and "
                              f"api_base_path says {wanted}v2/: give one of them",
                              where=where("api_base_path"))
        api_base_path = wanted
    return AwxSettings(
        url=url,
        api_base_path=api_base_path,
        token_env=_env_name(node.get("token_env", DEFAULT_TOKEN_ENV), where("token_env")),
        verify_tls=_flag(node.get("verify_tls", True), where("verify_tls")),
        ca_file=_ca_file(node.get("ca_file"), base_dir, where("ca_file")),
        poll_interval_s=float(numbers["poll_interval"]),
        request_timeout_s=float(numbers["request_timeout"]),
        retries=int(numbers["retries"]),
        backoff_s=float(numbers["backoff"]),
        events_wait_s=float(numbers["events_wait"]),
        page_size=int(numbers["page_size"]),
        jinja_setting=_jinja(node.get("jinja_setting", "verify"), where("jinja_setting")),
    )


def _url(value: Any, here: str) -> tuple[str, str]:
    """The base URL (http(s), a host, no query) and the API base path its path names:
    ``https://gw.example.com/api/controller/v2/`` is ``https://gw.example.com`` with
    ``/api/controller/``; a URL without ``/api`` has the default ``/api/``."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("expected the AWX base URL, e.g. https://awx.example.com", where=here)
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or \
            parts.username or parts.password:
        raise ConfigError(f"expected an http(s) URL with a host and no credentials or query, "
                          f"got {value!r}", where=here)
    url = value.strip().rstrip("/").removesuffix("/v2")
    found = re.search(r"/api(/[A-Za-z0-9_.~-]+)?$", url)
    if found is None:
        return url, DEFAULT_API_BASE_PATH
    return url[:found.start()], f"/api{found.group(1) or ''}/"


def _api_base_path(value: Any, here: str) -> str:
    """``/api/`` or ``/api/<prefix>/`` (AWX's OPTIONAL_API_URLPATTERN_PREFIX)."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and not text.endswith("/"):
        text += "/"
    if not isinstance(text, str) or not _API_BASE_PATH.match(text):
        raise ConfigError(f"expected /api/ or /api/<prefix>/ (AWX's OPTIONAL_API_URLPATTERN_"
                          f"PREFIX; /api/controller/ on Automation Platform 2.5), got {value!r}",
                          where=here)
    return text


def _env_name(value: Any, here: str) -> str:
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ConfigError("expected the name of an environment variable (the token itself "
                          "never goes in the file)", where=here)
    return value


def _flag(value: Any, here: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError("expected true or false", where=here)
    return value


def _ca_file(value: Any, base_dir: Path, here: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError("expected a path to a PEM file of CA certificates", where=here)
    path = (base_dir / value).resolve()
    if not path.is_file():
        raise ConfigError(f"CA file {path} not found", where=here)
    return path


def _jinja(value: Any, here: str) -> str:
    if value == "always":
        raise ConfigError("an AWX that templates launch-time extra vars (ALLOW_JINJA_IN_EXTRA_"
                          "VARS = always) would run Jinja from alerts; remediator refuses it",
                          where=here)
    if value not in JINJA_SETTINGS:
        raise ConfigError(f"expected one of {', '.join(JINJA_SETTINGS)} (what AWX's "
                          "ALLOW_JINJA_IN_EXTRA_VARS is; verify reads it)", where=here)
    return str(value)


def _number(node: Mapping[str, Any], key: str, where: Callable[[str], str]) -> float:
    default, least, most = _NUMBERS[key]
    value = node.get(key, default)
    wanted = int if key in _INTEGERS else (int, float)
    if not isinstance(value, wanted) or isinstance(value, bool) or not least <= value <= most:
        kind = "an integer" if key in _INTEGERS else "a number"
        raise ConfigError(f"expected {kind} from {least:g} to {most:g}", where=where(key))
    return float(value)
