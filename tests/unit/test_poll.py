"""The poller's pure parts, from Alertmanager 0.25 API v2 answers recorded in tests/data/."""

from __future__ import annotations

import base64
import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from remediator.cli.poll_cmds import poll_cmd
from remediator.errors import InputError, UsageError
from remediator.models import Alert
from remediator.poll import PollResult, alerts_url, auth_headers, to_webhook
from remediator.sources import normalize

from ..docsite import section

RECORDED = Path(__file__).resolve().parent.parent / "data" / "alertmanager-api"
URL = "http://127.0.0.1:9093/api/v2/alerts"


def recorded(name: str) -> Any:
    """The JSON recorded in tests/data/alertmanager-api/``name``."""
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


def polled(items: object) -> list[Alert]:
    """The Alerts that poll makes of the API v2 answer ``items``."""
    return normalize(to_webhook(items, URL), "alertmanager", URL)


def by_fingerprint(alerts: list[Alert]) -> dict[str, Alert]:
    return {a.fingerprint: a for a in alerts}


def test_api_alerts_become_the_alerts_their_webhooks_carry() -> None:
    """Each alert from the API equals the one Alertmanager's webhook delivered for it, start
    time included, so a poll and a webhook delivery share the dedupe key."""
    from_api = by_fingerprint(polled(recorded("alerts-active.json")))
    from_webhooks = by_fingerprint(
        [a for payload in recorded("webhooks.json") for a in normalize(payload, "alertmanager")])
    assert len(from_api) == 3
    assert from_api == from_webhooks


def test_api_alerts_are_firing_with_labels_and_annotations() -> None:
    """The Prometheus-fired alert keeps its labels and annotations, is firing, has no end."""
    alerts = polled(recorded("alerts-active.json"))
    (fired,) = [a for a in alerts if a.labels.get("instance") == "demo-web-01:9100"
                and a.name == "DiskSpaceLow"]
    assert fired.status == "firing" and fired.ends_at is None
    assert dict(fired.labels) == {"alertname": "DiskSpaceLow", "instance": "demo-web-01:9100",
                                  "job": "node", "mountpoint": "/", "severity": "warning"}
    assert fired.annotations["summary"] == "Disk space low on demo-web-01:9100"
    assert {a.source for a in alerts} == {"alertmanager"}


def test_suppressed_alerts_are_dropped() -> None:
    """An answer that still holds a silenced alert (state suppressed) yields only the others."""
    everything = recorded("alerts-all.json")
    assert any(a["status"]["state"] == "suppressed" for a in everything)
    alerts = polled(everything)
    assert len(alerts) == len(everything) - 1
    assert "demo-db-01:9100" not in {a.labels["instance"] for a in alerts}


@pytest.mark.parametrize(("api", "webhook"), [
    ("2026-11-26T09:00:00.500Z", "2026-11-26T09:00:00.5Z"),
    ("2026-11-26T09:00:00.000Z", "2026-11-26T09:00:00Z"),
    ("2026-11-26T09:00:00.123Z", "2026-11-26T09:00:00.123Z"),
    ("2026-11-26T11:00:00.120+02:00", "2026-11-26T11:00:00.12+02:00"),
    ("2026-11-26T09:00:00Z", "2026-11-26T09:00:00Z"),
])
def test_start_times_are_written_as_the_webhook_writes_them(api: str, webhook: str) -> None:
    """The API pads the fraction to milliseconds; the webhook (Go) trims trailing zeros."""
    (alert,) = to_webhook([{"labels": {"alertname": "A"}, "startsAt": api}])["alerts"]
    assert alert["startsAt"] == webhook


def test_the_payload_is_a_webhook_the_alertmanager_source_detects() -> None:
    """The reshaped answer is a version 4 webhook payload that auto-detection recognises."""
    payload = to_webhook(recorded("alerts-active.json"))
    assert payload["version"] == "4"
    assert len(normalize(payload)) == 3


def test_an_object_instead_of_the_alert_array_names_the_url() -> None:
    """An answer that is not an array is an InputError at the URL saying what was expected."""
    with pytest.raises(InputError) as caught:
        to_webhook({"status": "success", "data": []}, URL)
    assert caught.value.where == URL
    assert "expected a JSON array of alerts" in caught.value.message


def test_a_non_object_alert_is_an_error() -> None:
    """An element that is not an object is an InputError naming what it was."""
    with pytest.raises(InputError, match='got "oops"'):
        to_webhook([{"labels": {"alertname": "A"}}, "oops"], URL)


def test_an_alert_without_labels_names_its_path_and_the_url() -> None:
    """A malformed alert is the alertmanager source's error, placed at the URL."""
    with pytest.raises(InputError) as caught:
        polled([{"fingerprint": "f", "startsAt": "2026-11-26T09:00:00.000Z"}])
    assert caught.value.where == URL
    assert "alerts[0]" in caught.value.message and "labels" in caught.value.message


def test_alerts_url_asks_for_every_unresolved_alert() -> None:
    """Suppressed alerts are fetched too (not handled, but not taken for resolved either);
    each --filter becomes one filter parameter."""
    assert alerts_url("http://am:9093") == (
        "http://am:9093/api/v2/alerts?active=true&silenced=true&inhibited=true")
    assert alerts_url("https://ops.example/alertmanager/", ['severity="page"', "team=~db|web"]) \
        == ("https://ops.example/alertmanager/api/v2/alerts?active=true&silenced=true"
            "&inhibited=true&filter=severity%3D%22page%22&filter=team%3D~db%7Cweb")


@pytest.mark.parametrize("url", ["127.0.0.1:9093", "ftp://am:9093", "http://", "file:///etc"])
def test_alerts_url_refuses_what_is_not_an_http_url(url: str) -> None:
    """A URL that is not http(s) with a host is a usage error."""
    with pytest.raises(UsageError, match="expected an http"):
        alerts_url(url)


def test_alerts_url_refuses_credentials_without_showing_them() -> None:
    """user:password in the URL is refused, and the message does not repeat them."""
    with pytest.raises(UsageError) as caught:
        alerts_url("http://admin:hunter2@am:9093")
    assert "hunter2" not in str(caught.value)
    assert "--basic-auth-env" in str(caught.value)


def test_alerts_url_refuses_a_query() -> None:
    """Matchers go in --filter, not in a hand-written query string."""
    with pytest.raises(UsageError, match="--filter"):
        alerts_url("http://am:9093/?filter=x")


def test_bearer_token_header_from_the_environment() -> None:
    """--bearer-token-env NAME sends the token held in $NAME."""
    assert auth_headers({"AM_TOKEN": "t0k"}, bearer_env="AM_TOKEN") == {
        "Authorization": "Bearer t0k"}


def test_basic_auth_header_from_the_environment() -> None:
    """--basic-auth-env NAME sends user:password from $NAME, base64-encoded."""
    (value,) = auth_headers({"AM_AUTH": "ops:pa ss:word"}, basic_env="AM_AUTH").values()
    assert value == "Basic " + base64.b64encode(b"ops:pa ss:word").decode()


def test_no_auth_options_no_header() -> None:
    """Without an auth option nothing is sent, whatever the environment holds."""
    assert auth_headers({"AM_TOKEN": "t0k"}) == {}


@pytest.mark.parametrize(("env", "options", "expected"), [
    ({}, {"bearer_env": "AM_TOKEN"}, "AM_TOKEN: the environment variable is not set"),
    ({"AM_TOKEN": ""}, {"bearer_env": "AM_TOKEN"}, "not set or empty"),
    ({"AM_AUTH": "s3cret-no-colon"}, {"basic_env": "AM_AUTH"}, "must hold user:password"),
    ({"AM_TOKEN": "s3cret\nX-Evil: 1"}, {"bearer_env": "AM_TOKEN"}, "control"),
    ({"A": "s3cret", "B": "u:s3cret"}, {"bearer_env": "A", "basic_env": "B"}, "not both"),
])
def test_bad_auth_settings_are_usage_errors_that_hide_the_secret(
        env: dict[str, str], options: dict[str, str], expected: str) -> None:
    """A missing, empty or malformed secret is a usage error naming the variable, not its value."""
    with pytest.raises(UsageError) as caught:
        auth_headers(env, **options)
    assert expected in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_summary_counts_handled_and_already_handled() -> None:
    """The summary line says how many alerts came, how many were new, how many were known."""
    result = PollResult("http://am:9093", 3, [{"id": "a"}, {"id": "b"}])
    assert result.already_handled == 1
    assert result.summary() == "polled 3 alerts: 2 handled, 1 already handled"
    assert PollResult("u", 1, []).summary() == "polled 1 alert: 0 handled, 1 already handled"


def test_the_cron_guide_crontab_line_parses() -> None:
    """The crontab example in the cron guide names only options `poll` has."""
    guide = section("guides/cron.md", "## Polling from cron")
    (line,) = [ln for ln in guide.splitlines() if ln.startswith("* * * * *")]
    words = shlex.split(line.split("remediator ", 1)[1])
    assert words[0] == "poll"
    context = poll_cmd.make_context("poll", words[1:])
    assert context.params["url"] == "http://127.0.0.1:9093"
    assert context.params["quiet"] and context.params["fail_on_escalate"]
