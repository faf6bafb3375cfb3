"""The receiver's auth schemes and its config section, as pure functions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from remediator.config import from_mapping
from remediator.errors import ConfigError
from remediator.notify.webhook import signature
from remediator.server.auth import Authenticator
from remediator.settings.server import EndpointAuth, parse_listen

NOW = 1_795_000_000.0
BODY = b'{"version": "4", "alerts": []}'


def auth(scheme: str, *secrets: str, username: str | None = None) -> Authenticator:
    envs = tuple(f"S{i}" for i in range(len(secrets)))
    return Authenticator(EndpointAuth("x", scheme, envs, username, 300),
                         dict(zip(envs, secrets, strict=True)))


def headers(**values: str) -> CIMultiDict[str]:
    return CIMultiDict({k.replace("_", "-"): v for k, v in values.items()})


@pytest.mark.parametrize(("header", "status"), [
    ("Bearer t1", 0), ("bearer t2", 0), ("Bearer  t1 ", 0),
    ("Bearer t3", 403), ("Bearer t1t1", 403), ("Bearer T1", 403),
    ("", 401), ("Bearer ", 401), ("Basic t1", 401), ("t1", 401),
])
def test_bearer(header: str, status: int) -> None:
    verdict = auth("bearer", "t1", "t2").check(headers(Authorization=header), BODY, NOW)
    assert verdict.status == status


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("header", "status"), [
    (basic("am", "pw"), 0), (basic("am", "pw2"), 0), (basic("am", "pw:x"), 403),
    (basic("AM", "pw"), 403), (basic("am", ""), 403), (basic("", "pw"), 403),
    ("Basic " + base64.b64encode(b"am-pw").decode(), 403), ("Basic ***", 401),
    ("Bearer pw", 401), ("", 401),
])
def test_basic(header: str, status: int) -> None:
    verdict = auth("basic", "pw", "pw2", username="am").check(headers(Authorization=header),
                                                                BODY, NOW)
    assert verdict.status == status


def pd(secret: str, body: bytes = BODY) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("header", "status"), [
    (pd("s1"), 0), (pd("s2"), 0), (f"{pd('old')},{pd('s1')}", 0), (f"{pd('s1')}, v1=00", 0),
    (pd("old"), 403), (pd("s1", BODY + b" "), 403), ("v1=", 403), ("v0=abc", 401), ("", 401),
])
def test_pagerduty(header: str, status: int) -> None:
    verdict = auth("pagerduty", "s1", "s2").check(headers(X_PagerDuty_Signature=header),
                                                  BODY, NOW)
    assert verdict.status == status


@pytest.mark.parametrize(("secret", "at", "body", "status"), [
    ("s1", NOW, BODY, 0), ("s1", NOW - 299, BODY, 0), ("s1", NOW + 299, BODY, 0),
    ("s1", NOW - 301, BODY, 403), ("s1", NOW + 3600, BODY, 403),
    ("wrong", NOW, BODY, 403), ("s1", NOW, BODY + b"x", 403),
])
def test_hmac(secret: str, at: float, body: bytes, status: int) -> None:
    timestamp = str(int(at))
    given = headers(X_Remediator_Timestamp=timestamp,
                    X_Remediator_Signature=signature(secret, timestamp, body))
    verdict = auth("hmac", "s1").check(given, BODY, NOW)
    assert verdict.status == status
    if status == 0:
        assert verdict.replay_key == f"hmac:{signature(secret, timestamp, body)}"


def test_hmac_missing_headers_is_401() -> None:
    assert auth("hmac", "s1").check(headers(), BODY, NOW).status == 401
    only = headers(X_Remediator_Signature=signature("s1", str(int(NOW)), BODY))
    assert auth("hmac", "s1").check(only, BODY, NOW).status == 401


def test_a_missing_secret_fails_at_start_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="S_UNSET is not set"):
        Authenticator(EndpointAuth("alertmanager", "bearer", ("S_UNSET",)), {})


def config(server: Any) -> Any:
    return from_mapping({"server": server}, Path("/srv")).server


def test_settings_defaults_and_endpoints() -> None:
    settings = config({"listen": "0.0.0.0:9095", "workers": 4, "endpoints": {
        "alertmanager": {"token_env": "AM"},
        "pagerduty": {"secret_env": ["PD_NEW", "PD_OLD"]},
        "generic": {"auth": "bearer", "token_env": "G"}}})
    assert settings.listen == "0.0.0.0:9095" and settings.workers == 4
    assert settings.max_body == 1 << 20
    am, pdy, generic = (settings.endpoints[n] for n in ("alertmanager", "pagerduty", "generic"))
    assert (am.scheme, am.secret_envs) == ("bearer", ("AM",))
    assert (pdy.scheme, pdy.secret_envs) == ("pagerduty", ("PD_NEW", "PD_OLD"))
    assert generic.scheme == "bearer"
    assert config(None).endpoints == {}


@pytest.mark.parametrize(("server", "message"), [
    ({"port": 1}, "unknown key 'server.port'"),
    ({"listen": "localhost"}, "expected HOST:PORT"),
    ({"listen": "localhost:99999"}, "expected HOST:PORT"),
    ({"workers": 0}, "'server.workers' must be an integer >= 1"),
    ({"max_body": "1MB"}, "'server.max_body' must be an integer"),
    ({"endpoints": {"nagios": {}}}, "unknown endpoint 'nagios'"),
    ({"endpoints": {"alertmanager": {"auth": "oauth"}}}, "must be one of"),
    ({"endpoints": {"alertmanager": {"token": "plain-text"}}}, "does not take"),
    ({"endpoints": {"alertmanager": {}}}, "token_env' must name an environment variable"),
    ({"endpoints": {"alertmanager": {"auth": "basic", "password_env": "P"}}},
     "'server.endpoints.alertmanager.username' is required"),
    ({"endpoints": {"generic": {"secret_env": "G", "max_skew": 0}}}, "max_skew"),
    ("yes", "expected a mapping"),
])
def test_settings_errors_name_the_key(server: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        config(server)
    assert "server" in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9095", ("127.0.0.1", 9095)), ("[::1]:0", ("::1", 0)),
    ("0.0.0.0:80", ("0.0.0.0", 80)),
])
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected
