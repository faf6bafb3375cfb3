"""The ``awx`` section of the config: defaults, strict keys, file:line errors, the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator import config
from remediator.errors import ConfigError
from remediator.settings.awx import AwxSettings


def load(tmp_path: Path, text: str) -> config.Config:
    """The config written as ``text`` in tmp_path/remediator.yml."""
    path = tmp_path / "remediator.yml"
    path.write_text(text, encoding="utf-8")
    return config.load(path, env={}, cwd=tmp_path)


def failure(tmp_path: Path, text: str) -> ConfigError:
    """The ConfigError that loading ``text`` raises."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value


def test_no_awx_section_means_no_awx(tmp_path: Path) -> None:
    """Without ``awx:`` the config has no AWX settings."""
    assert load(tmp_path, "timeout: 30\n").awx is None


def test_defaults_and_a_normalised_url(tmp_path: Path) -> None:
    """Only ``url`` is needed; a trailing /api/v2/ is dropped; every other key has a default."""
    awx = load(tmp_path, "awx:\n  url: https://awx.example.com/api/v2/\n").awx
    assert awx == AwxSettings(url="https://awx.example.com")
    assert (awx.token_env, awx.verify_tls, awx.ca_file, awx.jinja_setting, awx.page_size) == (
        "REMEDIATOR_AWX_TOKEN", True, None, "verify", 200)


def test_every_key_is_read(tmp_path: Path) -> None:
    """Each documented key lands in AwxSettings; ca_file is relative to the config's folder."""
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("x", encoding="utf-8")
    awx = load(tmp_path, "awx:\n  url: http://127.0.0.1:8052\n  token_env: AWX_TOKEN\n"
               "  verify_tls: false\n  ca_file: certs/ca.pem\n  poll_interval: 0.5\n"
               "  request_timeout: 5\n  retries: 1\n  backoff: 0\n  events_wait: 10\n"
               "  page_size: 50\n  jinja_setting: never\n").awx
    assert awx == AwxSettings(url="http://127.0.0.1:8052", token_env="AWX_TOKEN",
                              verify_tls=False, ca_file=tmp_path / "certs" / "ca.pem",
                              poll_interval_s=0.5, request_timeout_s=5.0, retries=1,
                              backoff_s=0.0, events_wait_s=10.0, page_size=50,
                              jinja_setting="never")


@pytest.mark.parametrize(
    ("body", "line", "key", "message"),
    [
        ("  url: https://a.example\n  tokn_env: X\n", 3, "awx.tokn_env", "unknown key"),
        ("  token_env: X\n", 2, "awx.url", "expected the AWX base URL"),
        ("  url: ftp://a.example\n", 2, "awx.url", "expected an http(s) URL"),
        ("  url: https://me:pw@a.example\n", 2, "awx.url", "no credentials"),
        ("  url: https://a.example\n  token_env: 'my token'\n", 3, "awx.token_env",
         "the name of an environment variable"),
        ("  url: https://a.example\n  verify_tls: 'no'\n", 3, "awx.verify_tls",
         "expected true or false"),
        ("  url: https://a.example\n  ca_file: nope.pem\n", 3, "awx.ca_file", "not found"),
        ("  url: https://a.example\n  page_size: 500\n", 3, "awx.page_size",
         "an integer from 1 to 200"),
        ("  url: https://a.example\n  poll_interval: 0\n", 3, "awx.poll_interval",
         "a number from"),
        ("  url: https://a.example\n  jinja_setting: always\n", 3, "awx.jinja_setting",
         "remediator refuses it"),
        ("  url: https://a.example\n  jinja_setting: maybe\n", 3, "awx.jinja_setting",
         "expected one of verify, template, never"),
    ],
)
def test_a_wrong_key_names_file_line_and_key(tmp_path: Path, body: str, line: int, key: str,
                                             message: str) -> None:
    """Each mistake is a ConfigError naming the file, the line and the ``awx.*`` key."""
    error = failure(tmp_path, "awx:\n" + body)
    assert error.where == f"{tmp_path / 'remediator.yml'}:{line}: key '{key}'", error
    assert message in error.message


def test_the_token_comes_from_the_named_variable_only() -> None:
    """token() reads the variable token_env names; unset or blank is a ConfigError naming it."""
    settings = AwxSettings(url="https://a.example", token_env="AWX_TOKEN")
    assert settings.token({"AWX_TOKEN": " s3cret \n"}) == "s3cret"
    for env in ({}, {"AWX_TOKEN": "  "}, {"REMEDIATOR_AWX_TOKEN": "other"}):
        with pytest.raises(ConfigError, match="environment variable AWX_TOKEN is not set"):
            settings.token(env)


@pytest.mark.parametrize(("url", "base", "api"), [
    ("https://awx.example.com", "https://awx.example.com", "/api/v2"),
    ("https://awx.example.com/api/v2/", "https://awx.example.com", "/api/v2"),
    ("https://gw.example.com/api/controller/v2/", "https://gw.example.com",
     "/api/controller/v2"),
    ("https://gw.example.com/api/controller", "https://gw.example.com", "/api/controller/v2"),
])
def test_the_api_path_comes_from_the_url(tmp_path: Path, url: str, base: str, api: str
                                         ) -> None:
    """A URL naming AWX's API, with OPTIONAL_API_URLPATTERN_PREFIX or not, sets the API path."""
    awx = load(tmp_path, f"awx:\n  url: {url}\n").awx
    assert awx is not None and (awx.url, awx.api) == (base, api)


def test_api_base_path_is_read_and_checked(tmp_path: Path) -> None:
    """api_base_path as awxkit names it; a path that is not /api/<prefix>/ names the key, and
    so does one that contradicts the URL's."""
    awx = load(tmp_path, "awx:\n  url: https://gw.example.com\n"
                         "  api_base_path: /api/controller\n").awx
    assert awx is not None and awx.api == "/api/controller/v2"
    wrong = failure(tmp_path, "awx:\n  url: https://a.example\n  api_base_path: /v2/x/\n")
    assert "expected /api/ or /api/<prefix>/" in str(wrong) and "awx.api_base_path" in str(wrong)
    both = failure(tmp_path, "awx:\n  url: https://a.example/api/one/\n"
                             "  api_base_path: /api/two/\n")
    assert "give one of them" in str(both)
