"""Bounds on the receiver's connections: a deadline for each request head, a cap on open
connections, and accept errors (out of file descriptors) reported as one short line at a time.

aiohttp has an idle timeout but no deadline for a request head: a client that sends its headers
a byte at a time, or never finishes them, would hold its connection for as long as it likes.
Each connection's aiohttp handler sits behind a ``Guarded`` protocol that arms a timer when a
head begins and cancels it once aiohttp has parsed the head (the body has a deadline of its
own, in the request handler), and that refuses connections over the limit before aiohttp sees
them.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from .metrics import Metrics

Log = Callable[[str], None]
REPORT_EVERY_S = 10.0  # a repeated problem (limit reached, accept failing) is logged this often
MAX_AUTO_CONNECTIONS = 1024
BACKLOG = 128  # connections the kernel queues; asyncio accepts up to this many in one go
# out of resources: what asyncio's accept loop reports through the loop's exception handler
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def connection_limit(configured: int | None, open_files: int, workers: int
                     ) -> tuple[int, str | None]:
    """The connection limit to use, and a warning when ``configured`` leaves too few file
    descriptors for the store, the runs and the workers under ``open_files`` (ulimit -n).

    Left out, the limit is what the open-file limit leaves after a reserve of 64, 16 per
    worker and twice ``BACKLOG`` (asyncio accepts that many at once, before any is counted,
    and refused ones take a moment to close), between 16 and 1024."""
    spare = open_files - 64 - 16 * workers - 2 * BACKLOG
    if configured is None:
        return min(MAX_AUTO_CONNECTIONS, max(spare, 16)), None
    if configured > spare:
        return configured, (f"server.max_connections {configured} is more than the open-file "
                            f"limit ({open_files}, ulimit -n) leaves for connections (about "
                            f"{max(spare, 0)}); past it, accepting fails until connections "
                            "close: raise the limit or lower max_connections")
    return configured, None


def open_file_limit() -> int:
    """This process's soft RLIMIT_NOFILE (a large number when unlimited)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else soft


@dataclass
class Throttled:
    """A log that writes each kind of repeated line at most once per ``every`` seconds, with
    the number of occurrences it kept quiet about since the last line."""

    log: Log
    every: float = REPORT_EVERY_S
    clock: Callable[[], float] = time.monotonic
    _last: dict[str, float] = field(default_factory=dict)
    _quiet: dict[str, int] = field(default_factory=dict)

    def __call__(self, kind: str, message: str) -> None:
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.every:
            self._quiet[kind] = self._quiet.get(kind, 0) + 1
            return
        quiet = self._quiet.pop(kind, 0)
        self._last[kind] = now
        more = f"; {quiet} more since the last report" if quiet else ""
        self.log(f"{message} (reported at most every {self.every:g} s{more})")



class _Reported(logging.Handler):
    """aiohttp's server log, through a Throttled report: a malformed request (which aiohttp
    answers 400 itself) is one short line, not a traceback per request; anything else keeps
    its traceback, at most once per interval too."""

    def __init__(self, report: Throttled) -> None:
        super().__init__()
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            reason = " ".join(str(exc.message).split())[:200]
            self.report("bad-request", f"{record.getMessage()}: answered {exc.code}: {reason}")
        elif exc is not None and record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            self.report(f"error:{type(exc).__name__}", f"{record.getMessage()}\n{trace}")
        else:
            self.report(f"log:{record.levelname}", record.getMessage())


def server_log(report: Throttled) -> logging.Logger:
    """The logger to give aiohttp's request handlers (``AppRunner(..., logger=)``)."""
    logger = logging.Logger("remediator.serve.http")  # its own: not aiohttp's global one
    logger.addHandler(_Reported(report))
    return logger

def raw_response(status: int, reason: str, error: str, retry_after: int | None = None
                 ) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection, for when aiohttp is not involved."""
    body = json.dumps({"error": error}).encode()
    retry = f"Retry-After: {retry_after}\r\n" if retry_after is not None else ""
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{retry}Connection: close\r\n\r\n").encode() + body


class Gate:
    """Counts open connections, refuses those over the limit, and gives each admitted one a
    deadline for its request heads."""

    def __init__(self, max_connections: int, header_timeout: float, metrics: Metrics,
                 report: Throttled) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.metrics = metrics
        self.report = report
        self.open = 0

    def factory(self, handlers: Callable[[], RequestHandler]) -> Callable[[], Guarded]:
        """A protocol factory for ``loop.create_server``: aiohttp's handlers, guarded."""
        return lambda: Guarded(self, handlers())

    def admit(self) -> bool:
        """Count a new connection in, or say it is one too many (counted and reported)."""
        if self.open >= self.max_connections:
            self.metrics.connections_refused.inc()
            self.report("limit", f"connection limit reached: refusing new connections over "
                                 f"server.max_connections {self.max_connections}")
            return False
        self.open += 1
        self.metrics.connections.set(self.open)
        return True

    def left(self) -> None:
        self.open -= 1
        self.metrics.connections.set(self.open)

    def accept_failed(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The loop's exception handler: a failed accept (out of file descriptors) is one
        short, throttled line; anything else goes to asyncio's default handler."""
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
            self.metrics.accept_errors.inc()
            self.report("accept", f"cannot accept connections: {exc.strerror} "
                                  f"({errno.errorcode.get(exc.errno or 0, exc.errno)})")
            return
        loop.default_exception_handler(context)


class Guarded(asyncio.Protocol):
    """One connection: refused if over the limit; else aiohttp's handler, cut off (408 if it
    began a request) when a request head takes longer than ``header_timeout``."""

    def __init__(self, gate: Gate, inner: RequestHandler) -> None:
        self.gate = gate
        self.inner = inner
        self.admitted = False
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.begun = False  # bytes of the pending head have arrived
        self.heads = 0  # request heads aiohttp has parsed on this connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.gate.admit():
            transport.write(raw_response(503, "Service Unavailable", "too many connections; "
                                         "try again shortly", retry_after=1))
            transport.close()
            return
        self.admitted = True
        self._arm()  # the first head: a connection that sends nothing is closed too
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.admitted:
            return
        # aiohttp's handler waits for a new request (its _waiter) only between requests:
        # these bytes begin a head
        waiting = self.inner._waiter is not None and not self.inner._waiter.done()
        if self.timer is None and waiting:
            self._arm()
        self.begun = self.begun or bool(data)
        self.inner.data_received(data)
        if self.inner._request_count != self.heads:  # aiohttp parsed a whole head
            self.heads = self.inner._request_count
            self._disarm()

    def eof_received(self) -> None:
        if self.admitted:
            self.inner.eof_received()

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.admitted:
            return
        self.admitted = False
        self._disarm()
        self.gate.left()
        self.inner.connection_lost(exc)

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.gate.header_timeout, self._head_late)
        self.begun = False

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _head_late(self) -> None:
        """The head did not arrive in time: answer 408 if the client began one, and close."""
        self.timer = None
        if self.transport is None or self.transport.is_closing():
            return
        phase = "headers" if self.begun else "silent"
        self.gate.metrics.connection_timeouts.labels(phase).inc()
        if self.begun:
            self.transport.write(raw_response(
                408, "Request Timeout", f"request headers not received within "
                f"{self.gate.header_timeout:g} s"))
        self.transport.close()
