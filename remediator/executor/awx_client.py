"""A small AWX API v2 client on ``urllib``: token auth, TLS, retried GETs, paged lists.

Every failure is an ``AwxError`` naming the request; the AWX executor turns it into recorded
data. Idempotent GETs are retried after a 5xx answer or a connection error, with a doubling
pause; a POST is never retried (a launch that may have happened must not happen twice).
Redirects are refused, so the token is never sent anywhere but ``awx.url``.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..settings.awx import AwxSettings

USER_AGENT = "remediator (AWX executor)"
MAX_DETAIL = 500  # characters of an error body kept in a message


class AwxError(Exception):
    """A request to AWX that failed; ``status`` is the HTTP status, None when none came back."""

    def __init__(self, message: str, status: int | None = None, body: Any = None,
                 hint: str = "") -> None:
        super().__init__(message + (f" ({hint})" if hint else ""))
        self.status = status
        self.body = body
        self.bare = message  # without the generic hint, for a caller that knows better


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: following one would send the token to another address."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> None:
        raise AwxError(f"{req.get_method()} {req.full_url}: redirected ({code}) to {newurl}; "
                       "set awx.url to the address AWX answers on", code)


def tls_context(settings: AwxSettings) -> ssl.SSLContext:
    """The TLS context of ``settings``: the system CAs or ``ca_file``, or no verification."""
    if not settings.verify_tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)


class AwxClient:
    """Talks to one AWX over HTTP(S) with a bearer token."""

    def __init__(self, settings: AwxSettings, token: str, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self._token = token
        self.sleep = sleep
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=tls_context(settings)), _NoRedirect())
        base = urlsplit(settings.url)
        self._origin = (base.scheme, base.netloc)

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """The absolute URL of an API path (or of a ``next`` link AWX gave us)."""
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            if (parts.scheme, parts.netloc) != self._origin:
                raise AwxError(f"AWX pointed to another address ({parts.scheme}://"
                               f"{parts.netloc}); refusing to send the token there")
            url = path
        else:
            url = self.settings.url + path
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        return url

    def scrub(self, text: str) -> str:
        """``text`` with the token replaced, should any answer ever echo it (tokens shorter
        than 8 characters are not real AWX tokens and would mangle the text)."""
        return text.replace(self._token, "<token>") if len(self._token) >= 8 else text

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a JSON resource, retried on 5xx and connection errors."""
        return _json(self._retried("GET", self.url(path, params)), f"GET {path}")

    def get_text(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """GET a text resource (job stdout, ``?format=txt``), retried like ``get``.

        It asks for ``text/plain``: AWX negotiates the renderer from ``format`` and ``Accept``
        together, and ``format=txt`` with ``Accept: application/json`` is a 406 (DRF's
        ``DefaultContentNegotiation.select_renderer`` over the ``renderer_classes`` of
        ``UnifiedJobStdout``, awx/api/views/__init__.py at e21dd0a0)."""
        raw = self._retried("GET", self.url(path, params), accept="text/plain")
        return raw.decode("utf-8", errors="replace")

    def options(self, path: str) -> Any:
        """OPTIONS of a resource: its ``actions`` name the methods the token may use."""
        return _json(self._retried("OPTIONS", self.url(path)), f"OPTIONS {path}")

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """POST ``body`` as JSON once; the JSON answer (None when empty)."""
        raw = self._send("POST", self.url(path), body if body is not None else {})
        return _json(raw, f"POST {path}") if raw.strip() else None

    def pages(self, path: str, params: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        """Every item of a paged list, following ``next`` until there is none."""
        url: str | None = self.url(path, params)
        while url:
            page = _json(self._retried("GET", url), f"GET {path}")
            if not isinstance(page, Mapping) or not isinstance(page.get("results"), list):
                raise AwxError(f"GET {path}: expected a page with 'results', got "
                               f"{_clip(json.dumps(page))}")
            yield from page["results"]
            following = page.get("next")
            url = self.url(following) if isinstance(following, str) and following else None

    def _retried(self, method: str, url: str, accept: str = "application/json") -> bytes:
        """``_send`` again after a pause on a 5xx answer or no answer, ``retries`` times."""
        pause = self.settings.backoff_s
        for attempt in range(self.settings.retries + 1):
            try:
                return self._send(method, url, None, accept)
            except AwxError as exc:
                retryable = exc.status is None or exc.status >= 500
                if not retryable or attempt == self.settings.retries or \
                        isinstance(exc.body, ssl.SSLError):
                    raise
            self.sleep(pause)
            pause *= 2
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _send(self, method: str, url: str, body: Mapping[str, Any] | None,
              accept: str = "application/json") -> bytes:
        """One request; any failure becomes an AwxError naming method and path."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s)
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", accept)
        request.add_header("User-Agent", USER_AGENT)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        what = f"{method} {urlsplit(url).path}"
        try:
            with self._opener.open(request, timeout=self.settings.request_timeout_s) as answer:
                return bytes(answer.read())
        except urllib.error.HTTPError as exc:
            raise self._http_error(what, exc) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            kind = "TLS error" if isinstance(reason, ssl.SSLError) else "cannot connect"
            raise AwxError(self.scrub(f"{what}: {kind}: {reason}"), None,
                           reason if isinstance(reason, ssl.SSLError) else None) from None
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise AwxError(self.scrub(f"{what}: no answer: {type(exc).__name__}: {exc}"),
                           None) from None

    def _http_error(self, what: str, exc: urllib.error.HTTPError) -> AwxError:
        """An AwxError from an HTTP error answer, with AWX's own explanation when it gave one."""
        try:
            raw = exc.read()
        except (OSError, http.client.HTTPException):
            raw = b""
        body: Any
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        detail = body.get("detail") if isinstance(body, Mapping) and "detail" in body else body
        text = f"{what}: HTTP {exc.code} {exc.reason}"
        if detail:
            text += f": {_clip(detail if isinstance(detail, str) else json.dumps(detail))}"
        return AwxError(self.scrub(text), exc.code, body, _HINTS.get(exc.code, ""))


_HINTS = {
    401: "the token in awx.token_env was refused: missing, expired or revoked",
    403: "the token's user lacks the permission for this",
    404: "not found, or not visible to the token's user",
    406: "AWX cannot answer in the format asked for (its content negotiation)",
}


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise AwxError(f"{what}: the answer is not JSON: {_clip(raw.decode('utf-8', 'replace'))}"
                       ) from None


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "..."
