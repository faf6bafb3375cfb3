"""``poll``: handle Alertmanager's active alerts once (for cron), skipping those handled before.

The alerts come from Alertmanager's API v2 (``GET /api/v2/alerts``), are reshaped into the
webhook payload (version "4") the ``alertmanager`` source reads, and go to
``Engine.handle(..., record_duplicates=False)``: an alert already handled in the same mode gets
no new record. The store's guard transaction serialises overlapping polls, so two cron runs
polling the same alerts produce one run and one record.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import sources
from .common import iso
from .engine import Engine
from .errors import InputError, SourceUnavailableError, UsageError
from .models import Alert, frozen_map
from .record import AuditRecord
from .sources import alertmanager
from .sources._shape import describe

API_PATH = "/api/v2/alerts"
# every unresolved alert: the active ones are handled, and any that disappeared since the last
# poll (silenced or inhibited ones included, so that a silence is not taken for a resolution)
# has resolved
UNRESOLVED = (("active", "true"), ("silenced", "true"), ("inhibited", "true"))
USER_AGENT = "remediator-poll/1"
DEFAULT_TIMEOUT_S = 10.0
_FRACTION = re.compile(r"\.(\d+)(?=(Z|[+-]\d\d:\d\d)$)")
_SHOWN = 200  # characters of an error response body shown in a message


@dataclass(frozen=True, slots=True)
class PollResult:
    """One poll: how many alerts Alertmanager returned, and the records of those handled now."""

    url: str
    fetched: int  # active alerts (silenced and inhibited ones are not handled)
    records: list[AuditRecord]
    resolved: int = 0  # alerts active at the last poll that Alertmanager no longer lists

    @property
    def already_handled(self) -> int:
        """Alerts skipped because an earlier poll, handle or serve already handled them."""
        return self.fetched + self.resolved - len(self.records)

    def summary(self) -> str:
        """One line for people: ``polled N alerts: M handled, K already handled``."""
        noun = "alert" if self.fetched == 1 else "alerts"
        gone = f" ({self.resolved} resolved since the last poll)" if self.resolved else ""
        return (f"polled {self.fetched} {noun}{gone}: {len(self.records)} handled, "
                f"{self.already_handled} already handled")


def poll(engine: Engine, base_url: str, *, filters: Iterable[str] = (),
         headers: Mapping[str, str] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
         allow_uncommitted: bool = False, state: Path | None = None) -> PollResult:
    """Fetch the alerts under ``base_url``, handle each active one not handled before and,
    with a ``state`` file, each one listed at the last poll and gone now as resolved.

    A failed fetch raises InputError naming the URL, before anything is handled.
    """
    filters = tuple(filters)
    active, present = fetch_all(base_url, filters=filters, headers=headers,
                                timeout_s=timeout_s)
    previous = _read_state(state, alerts_url(base_url, filters)) if state else {}
    now = iso(engine.clock())
    resolved = [replace(alert, status="resolved", ends_at=now)
                for fingerprint, alert in previous.items() if fingerprint not in present]
    records = engine.handle([*active, *resolved], allow_uncommitted=allow_uncommitted,
                            record_duplicates=False)
    if state is not None:  # after handling: a poll that failed is tried again
        _write_state(state, alerts_url(base_url, filters), present)
    engine.prune_guard_state()  # cron's long-running memory: claims and runs past keeping
    return PollResult(base_url, len(active), records, len(resolved))


def state_file(folder: Path, base_url: str, filters: Iterable[str] = ()) -> Path:
    """Where a poll of ``base_url`` with ``filters`` remembers the alerts it saw."""
    key = hashlib.sha256(alerts_url(base_url, filters).encode()).hexdigest()[:16]
    return folder / f"poll-{key}.json"


def _read_state(path: Path, url: str) -> dict[str, Alert]:
    """The alerts the last poll of ``url`` saw, by fingerprint; none when there is no state
    (the first poll) or it cannot be read (a damaged file: this poll starts afresh)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("url") != url:
            return {}
        return {fp: Alert(source=alertmanager.NAME, name=str(a["name"]), status="firing",
                          fingerprint=fp, labels=frozen_map(a["labels"]),
                          annotations=frozen_map(a.get("annotations") or {}),
                          starts_at=a.get("starts_at"))
                for fp, a in data["alerts"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_state(path: Path, url: str, present: Mapping[str, Alert]) -> None:
    body = {"url": url, "alerts": {fp: {"name": a.name, "labels": dict(a.labels),
                                        "annotations": dict(a.annotations),
                                        "starts_at": a.starts_at}
                                   for fp, a in sorted(present.items())}}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(body), encoding="utf-8")
    os.replace(tmp, path)


def fetch(base_url: str, *, filters: Iterable[str] = (), headers: Mapping[str, str] | None = None,
          timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Alert]:
    """The active (not silenced, not inhibited) alerts of the Alertmanager at ``base_url``."""
    return fetch_all(base_url, filters=filters, headers=headers, timeout_s=timeout_s)[0]


def fetch_all(base_url: str, *, filters: Iterable[str] = (),
              headers: Mapping[str, str] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
              ) -> tuple[list[Alert], dict[str, Alert]]:
    """(the active alerts, every unresolved alert by fingerprint, suppressed ones included)."""
    url = alerts_url(base_url, filters)
    body = _get(url, headers or {}, timeout_s)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"the answer is not UTF-8 text: {exc}", where=url) from None
    items = sources.parse_json(text, url)
    every = sources.normalize(to_webhook(items, url, keep_suppressed=True), alertmanager.NAME,
                              url)
    suppressed = _suppressed(items)
    return [a for a in every if a.fingerprint not in suppressed], {a.fingerprint: a for a in every}


def _suppressed(items: object) -> set[str]:
    """Fingerprints the API marks suppressed (silenced or inhibited)."""
    return {str(item.get("fingerprint")) for item in items if isinstance(item, dict)
            and isinstance(item.get("status"), dict)
            and item["status"].get("state") == "suppressed"} if isinstance(items, list) else set()


def alerts_url(base_url: str, filters: Iterable[str] = ()) -> str:
    """The API v2 query under ``base_url``, with one ``filter`` parameter per matcher."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--alertmanager {base_url!r}: expected an http(s) URL such as "
                         "http://127.0.0.1:9093")
    if parts.username is not None or parts.password is not None:
        raise UsageError("--alertmanager: put credentials in --basic-auth-env, not in the URL")
    if parts.query or parts.fragment:
        raise UsageError(f"--alertmanager {base_url}: expected a URL without query or fragment "
                         "(use --filter for matchers)")
    query = urllib.parse.urlencode([*UNRESOLVED, *(("filter", f) for f in filters)])
    return f"{base_url.rstrip('/')}{API_PATH}?{query}"


def auth_headers(env: Mapping[str, str], *, bearer_env: str | None = None,
                 basic_env: str | None = None) -> dict[str, str]:
    """The Authorization header built from the named environment variables (never shown)."""
    if bearer_env and basic_env:
        raise UsageError("give --bearer-token-env or --basic-auth-env, not both")
    if bearer_env:
        token = _secret(env, bearer_env, "--bearer-token-env")
        if not all("!" <= char <= "~" for char in token):
            raise UsageError(f"--bearer-token-env {bearer_env}: the token holds a space, control "
                             "or non-ASCII character")
        return {"Authorization": f"Bearer {token}"}
    if basic_env:
        pair = _secret(env, basic_env, "--basic-auth-env")
        if ":" not in pair:
            raise UsageError(f"--basic-auth-env {basic_env}: the variable must hold user:password")
        return {"Authorization": "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")}
    return {}


def _secret(env: Mapping[str, str], name: str, option: str) -> str:
    value = env.get(name, "")
    if not value:
        raise UsageError(f"{option} {name}: the environment variable is not set or empty")
    return value


def to_webhook(items: object, origin: str = "-", *, keep_suppressed: bool = False
               ) -> dict[str, Any]:
    """The API v2 alert list ``items`` as an Alertmanager webhook payload (version "4").

    The API returns only unresolved alerts: each becomes ``firing`` with the webhook's zero
    ``endsAt``. ``startsAt`` is written as the webhook writes it (no trailing zeros in the
    fraction), so a poll and a webhook delivery of one alert share the dedupe key. An alert the
    API marks suppressed is dropped, in case the server ignored the query's filters.
    """
    if not isinstance(items, list):
        raise InputError("expected a JSON array of alerts (Alertmanager API v2 GET "
                         f"{API_PATH}), got {describe(items)}", where=origin)
    alerts = []
    for item in items:
        if not isinstance(item, dict):
            raise InputError(f"expected each alert to be an object, got {describe(item)}",
                             where=origin)
        state = item.get("status")
        if not keep_suppressed and isinstance(state, dict) and \
                state.get("state") == "suppressed":
            continue
        alerts.append({
            "status": "firing",
            "labels": item.get("labels"),
            "annotations": item.get("annotations") or {},
            "startsAt": _webhook_time(item.get("startsAt")),
            "endsAt": alertmanager.ZERO_TIME,
            "generatorURL": item.get("generatorURL", ""),
            "fingerprint": item.get("fingerprint"),
        })
    return {"version": alertmanager.VERSION, "status": "firing", "receiver": "", "groupKey": "",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "", "truncatedAlerts": 0, "alerts": alerts}


def _webhook_time(value: object) -> object:
    """An API v2 time (always 3 fraction digits) as Go writes it in a webhook (trimmed)."""
    if not isinstance(value, str):
        return value

    def trim(found: re.Match[str]) -> str:
        digits = found.group(1).rstrip("0")
        return f".{digits}" if digits else ""

    return _FRACTION.sub(trim, value, count=1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: one could carry the Authorization header to another host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _get(url: str, headers: Mapping[str, str], timeout_s: float) -> bytes:
    """The body of a 200 answer to GET ``url``. Unreachable, timed out or 5xx is a
    SourceUnavailableError (exit 8: try again later), any other answer an InputError."""
    request = urllib.request.Request(  # noqa: S310 - alerts_url allows http(s) only
        url, headers={"Accept": "application/json", "User-Agent": USER_AGENT, **headers})
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        detail = _error_body(exc)
        if 300 <= exc.code < 400:
            detail = "a redirect, not followed: give the final URL"
        error = SourceUnavailableError if exc.code >= 500 else InputError
        raise error(f"Alertmanager answered HTTP {exc.code}"
                    f"{': ' + detail if detail else ''}", where=url) from None
    except TimeoutError:
        raise SourceUnavailableError(f"no answer within {timeout_s:g}s", where=url) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise SourceUnavailableError(f"no answer within {timeout_s:g}s",
                                         where=url) from None
        raise SourceUnavailableError(f"cannot reach Alertmanager: {reason}",
                                     where=url) from None


def _error_body(exc: urllib.error.HTTPError) -> str:
    """The start of an error answer's body (Alertmanager sends a JSON string), one line."""
    try:
        raw = exc.read(_SHOWN * 4).decode("utf-8", "replace")
    except OSError:
        return ""
    try:
        decoded = json.loads(raw)
        text = decoded if isinstance(decoded, str) else raw
    except ValueError:
        text = raw
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
