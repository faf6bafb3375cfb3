"""The webhook receiver: aiohttp on the front, the intake queue and the workers behind it.

Paths: ``POST /webhook/alertmanager``, ``/webhook/pagerduty``, ``/webhook/generic`` and
``POST /slack/interactions`` (each only when the config enables it, with its auth),
``GET /healthz``, ``GET /metrics``, and with ``server.web`` the approval page
(``/requests``, ``/records/{id}``: ``server.web``).

A request is authenticated, parsed and normalised (so a malformed payload gets 400 with the
reason), then written to the intake queue; the answer (202) comes after the commit. Workers
handle the queue. Shutdown stops accepting first, then gives running work ``grace`` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import HttpVersion11, hdrs, web
from aiohttp.log import access_logger

from .. import sources
from ..common import iso, utc_now
from ..config import Config
from ..engine import Engine
from ..errors import ConfigError, RemediatorError, StoreError
from ..settings.server import parse_listen
from ..store import describe, open_intake, open_store
from ..store.intake import Accepted
from .auth import Authenticator
from .background import Background
from .connections import (
    BACKLOG,
    Gate,
    Throttled,
    connection_limit,
    open_file_limit,
    server_log,
)
from .intake import IntakeWriter
from .metrics import CONTENT_TYPE, Metrics
from .slack import PATH as SLACK_PATH
from .slack import Desk
from .web import WebPages
from .workers import Log, Pool, log

PATH_PREFIX = "/webhook/"


@dataclass
class Options:
    """What ``serve`` was asked to do, over the config's ``server`` section."""

    listen: str
    workers: int
    access_log: bool = False
    on_ready: Callable[[str], None] | None = None  # called with the bound URL
    engine_factory: Callable[[Config], Engine] | None = None  # None: open_engine


class Receiver:
    """The HTTP side: auth, parse, write down, answer."""

    def __init__(self, config: Config, env: Mapping[str, str], writer: IntakeWriter,
                 metrics: Metrics, pool: Pool, log_fn: Log = log,
                 web_pages: WebPages | None = None) -> None:
        self.config = config
        self.writer = writer
        self.metrics = metrics
        self.pool = pool
        self.accepting = True
        self.log = log_fn
        self.unexpected: set[str] = set()  # kinds of unforeseen bad input already logged
        self.web = web_pages
        self.auth = {name: Authenticator(auth, env)
                     for name, auth in config.server.endpoints.items() if name != "slack"}
        slack = config.server.endpoints.get("slack")
        # Slack's approvals run beside the page's, and stop with them
        self.background = web_pages.background if web_pages is not None else Background(
            config, pool.engine_factory, log_fn)
        self.slack = None if slack is None else Desk(
            config, Authenticator(slack, env), metrics, self.background, log_fn)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.server.max_body)
        app.router.add_post(PATH_PREFIX + "{endpoint}", self.receive, expect_handler=_expect)
        if self.slack is not None:
            app.router.add_post(SLACK_PATH, self.interact, expect_handler=_expect)
        app.router.add_get("/healthz", self.healthz, expect_handler=_expect)
        app.router.add_get("/metrics", self.render_metrics, expect_handler=_expect)
        if self.web is not None:
            self.web.add_routes(app)
        return app

    async def receive(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        started = time.monotonic()
        response = await self._receive(endpoint, request)
        label = endpoint if endpoint in self.auth else "unknown"
        self.metrics.requests.labels(label, str(response.status)).inc()
        self.metrics.request_seconds.labels(label).observe(time.monotonic() - started)
        return response

    async def interact(self, request: web.Request) -> web.Response:
        """``POST /slack/interactions``: a Slack button click (slack.py)."""
        assert self.slack is not None
        started = time.monotonic()
        body = await self._body(request)
        if isinstance(body, web.Response):
            response = body
        else:
            try:
                response = await self.slack.receive(request.headers, body)
            except Exception as exc:  # noqa: BLE001 - bad input never gets a 5xx
                response = self._unexpected("interaction", exc)
        self.metrics.requests.labels("slack", str(response.status)).inc()
        self.metrics.request_seconds.labels("slack").observe(time.monotonic() - started)
        return response

    async def _body(self, request: web.Request) -> bytes | web.Response:
        """The whole body, or the answer when there is none to read: shutting down, too
        large, too slow."""
        if not self.accepting:
            return _answer(503, "shutting down", {"Retry-After": "5"})
        if request.content_length is not None and \
                request.content_length > self.config.server.max_body:
            return _answer(413, f"body over {self.config.server.max_body} bytes")
        try:
            async with asyncio.timeout(self.config.server.body_timeout):
                return await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _answer(413, f"body over {self.config.server.max_body} bytes")
        except TimeoutError:
            self.metrics.connection_timeouts.labels("body").inc()
            late = _answer(408, f"request body not received within "
                                f"{self.config.server.body_timeout:g} s")
            late.force_close()
            return late

    async def _receive(self, endpoint: str, request: web.Request) -> web.Response:
        auth = self.auth.get(endpoint)
        if auth is None:
            return _answer(404, f"no endpoint {PATH_PREFIX}{endpoint} (enabled: "
                                f"{', '.join(self.auth) or 'none'})")
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        try:
            verdict = auth.check(request.headers, body, time.time())
        except Exception as exc:  # noqa: BLE001 - bad input never gets a 5xx
            return self._unexpected("credentials", exc)
        if not verdict.ok:
            headers = {"WWW-Authenticate": auth.auth.scheme.capitalize()} \
                if verdict.status == 401 else None
            return _answer(verdict.status, verdict.reason, headers)
        origin = f"{PATH_PREFIX}{endpoint}"
        try:
            text = body.decode("utf-8")
            payload = sources.parse_json(text, origin)
            alerts = sources.normalize(payload, endpoint, origin)
        except UnicodeDecodeError:
            return _answer(400, "the body is not UTF-8")
        except RemediatorError as exc:
            return _answer(400, str(exc))
        except Exception as exc:  # noqa: BLE001 - bad input never gets a 5xx
            return self._unexpected("payload", exc)
        replay_key = verdict.replay_key
        if auth.auth.scheme == "pagerduty":  # a signed body is accepted once
            event = payload.get("event") if isinstance(payload, dict) else None
            event_id = event.get("id") if isinstance(event, dict) else None
            replay_key = f"pagerduty:{event_id}" if isinstance(event_id, str) and event_id \
                else f"pagerduty-body:{hashlib.sha256(body).hexdigest()}"
        item = Accepted(iso(utc_now()), endpoint, text, replay_key)
        try:
            rid = await asyncio.wrap_future(self.writer.submit(item))
        except StoreError as exc:
            return _answer(503, f"not accepted: {exc}", {"Retry-After": "10"})
        if rid is None:
            return _answer(403, "replayed delivery: this signed payload was accepted before")
        self.metrics.alerts.labels(endpoint).inc(len(alerts))
        return web.json_response({"accepted": rid, "alerts": len(alerts)}, status=202)

    def _unexpected(self, what: str, exc: Exception) -> web.Response:
        """A 400 for input that broke a check in a way no rule foresaw, logged once per kind
        (a bug to fix, never a reason to answer 5xx)."""
        kind = f"{what}: {type(exc).__name__}"
        if kind not in self.unexpected:
            self.unexpected.add(kind)
            self.log(f"unexpected error reading the {what} of a request (answered 400; "
                     f"reported once): {type(exc).__name__}: {exc}")
        return _answer(400, f"malformed {what}: {type(exc).__name__}")

    async def healthz(self, request: web.Request) -> web.Response:
        ok = self.accepting and self.writer.alive and self.pool.alive > 0
        body = {"status": "ok" if ok else "unavailable", "accepting": self.accepting,
                "writer": self.writer.alive, "workers": self.pool.alive,
                "busy": self.pool.busy}
        return web.json_response(body, status=200 if ok else 503)

    async def render_metrics(self, request: web.Request) -> web.Response:
        body = await asyncio.get_running_loop().run_in_executor(None, self.metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def _expect(request: web.Request) -> None:
    """``Expect: 100-continue`` gets its 100; any other expectation a 417 (aiohttp's own
    handler echoes the value into its 417, which a non-UTF-8 byte turns into a 500)."""
    if request.version != HttpVersion11:
        return
    expect = request.headers.get(hdrs.EXPECT, "")
    if expect.lower() != "100-continue":
        raise web.HTTPExpectationFailed(text=f"unknown Expect: {expect!a}")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the body has not started


def _answer(status: int, reason: str, headers: Mapping[str, str] | None = None
            ) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=headers)


def serve(config: Config, options: Options, *, env: Mapping[str, str] | None = None,
          log_fn: Log = log) -> None:
    """Run the receiver until SIGTERM or SIGINT; then shut down gracefully."""
    if not config.server.endpoints and config.server.web is None:
        raise ConfigError("no endpoint is enabled: add server.endpoints (alertmanager, "
                          "pagerduty, generic, slack) with their auth to the config",
                          where=str(config.source or "<defaults>"))
    host, port = parse_listen(options.listen)
    settings = config.server.web
    if settings is not None and settings.plain_http and not _loopback(host):
        raise ConfigError(f"server.web.plain_http is for a loopback address only; {host} is "
                          "not one (serve the page over https, e.g. behind a proxy)",
                          where="--listen")
    asyncio.run(_main(config, options, host, port, os.environ if env is None else env, log_fn))


async def _main(config: Config, options: Options, host: str, port: int,
                env: Mapping[str, str], log_fn: Log) -> None:
    backlog_queue = open_intake(config.store, durable=False)
    requests = open_store(config.store, pool_size=1)  # /metrics reads the requests at scrape
    metrics = Metrics(backlog_queue.counts, lambda: requests.approval_counts(iso(utc_now())))
    pool = Pool(config, metrics, log_fn)
    if options.engine_factory is not None:
        pool.engine_factory = options.engine_factory
    writer = IntakeWriter(config.store, pool.wake.set)
    # both read their secrets here: a missing one fails the start
    pages = None if config.server.web is None else \
        WebPages(config, config.server.web, env, pool.engine_factory, log_fn)
    receiver = Receiver(config, env, writer, metrics, pool, log_fn, pages)
    pool.recover()
    writer.start()
    pool.start(options.workers)
    limit, warning = connection_limit(config.server.max_connections, open_file_limit(),
                                      options.workers)
    if warning:
        log_fn(warning)
    report = Throttled(log_fn)
    gate = Gate(limit, config.server.header_timeout, metrics, report)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(gate.accept_failed)
    runner = web.AppRunner(receiver.app(), handle_signals=False,
                           access_log=access_logger if options.access_log else None,
                           keepalive_timeout=config.server.keepalive_timeout,
                           logger=server_log(report))
    await runner.setup()
    assert runner.server is not None
    try:  # no aiohttp site: its handlers are served behind the gate
        listener = await loop.create_server(gate.factory(runner.server), host, port,
                                            reuse_address=True, backlog=BACKLOG)
    except OSError as exc:
        await runner.cleanup()
        writer.stop()
        pool.stop(0)
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}",
                          where="--listen") from None
    bound = listener.sockets[0].getsockname()
    url = f"http://{_host(bound[0])}:{bound[1]}"
    page = ["web page"] if pages is not None else []
    slack = ["slack"] if receiver.slack is not None else []
    log_fn(f"listening on {url} ({', '.join(sorted(receiver.auth) + slack + page)}; "
           f"{options.workers} worker(s), up to {limit} connections, store "
           f"{describe(config.store)})")
    if options.on_ready is not None:
        options.on_ready(url)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log_fn("stopping: no new requests; finishing running work "
           f"(up to {config.server.grace} s)")
    receiver.accepting = False
    listener.close()
    await runner.shutdown()
    writer.stop()
    grace = float(config.server.grace)  # the workers and the approvals share it
    await asyncio.gather(loop.run_in_executor(None, pool.stop, grace),
                         loop.run_in_executor(None, receiver.background.stop, grace))
    if receiver.slack is not None:
        await loop.run_in_executor(None, receiver.slack.stop, 0.0)
    if pages is not None:
        await loop.run_in_executor(None, pages.close, 0.0)
    await runner.cleanup()
    backlog_queue.close()
    requests.close()
    final = open_intake(config.store, durable=False)
    counts = final.counts()
    final.close()
    log_fn(f"stopped; {counts['queued']} payload(s) wait in the queue for the next start")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _host(address: Any) -> str:
    text = str(address)
    return f"[{text}]" if ":" in text else text

