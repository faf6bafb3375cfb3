"""The receiver's connection bounds without a server: the derived connection limit, the
throttled log, the raw answers, the accept-error handler, and the ``server`` settings that
configure them."""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import Any

import pytest

from remediator.config import from_mapping
from remediator.errors import ConfigError
from remediator.server.connections import Gate, Throttled, connection_limit, raw_response
from remediator.server.metrics import Metrics


def config(server: Any) -> Any:
    return from_mapping({"server": server}, Path("/srv")).server


@pytest.mark.parametrize(("configured", "open_files", "expected"), [
    (None, 1024, 1024 - 64 - 2 * 16 - 256),  # a common default ulimit -n
    (None, 1 << 20, 1024),  # at most 1024 unless set
    (None, 100, 16),  # never below 16
    (50, 1024, 50),  # set: used as is
])
def test_the_connection_limit_leaves_files_for_the_rest(
        configured: int | None, open_files: int, expected: int) -> None:
    limit, warning = connection_limit(configured, open_files, workers=2)
    assert (limit, warning) == (expected, None)


def test_a_connection_limit_above_the_open_file_limit_is_kept_with_a_warning() -> None:
    limit, warning = connection_limit(5000, 1024, workers=2)
    assert limit == 5000
    assert warning is not None and "open-file limit (1024, ulimit -n)" in warning
    assert "about 672" in warning


def test_a_repeated_line_is_logged_once_per_interval_with_the_count_it_kept_quiet() -> None:
    lines: list[str] = []
    now = [100.0]
    log = Throttled(lines.append, every=10, clock=lambda: now[0])
    for step in range(25):  # one every 0.5 s: 12.5 s
        now[0] = 100 + step * 0.5
        log("accept", "cannot accept")
    log("limit", "limit reached")  # another kind has its own interval
    assert lines == ["cannot accept (reported at most every 10 s)",
                     "cannot accept (reported at most every 10 s; 19 more since the last "
                     "report)",
                     "limit reached (reported at most every 10 s)"]


def test_a_raw_answer_is_whole_http_that_closes() -> None:
    data = raw_response(503, "Service Unavailable", "too many", retry_after=1)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Connection: close" in head and b"Retry-After: 1" in head
    assert f"Content-Length: {len(body)}\r\n".encode() in head + b"\r\n"
    assert body == b'{"error": "too many"}'


def test_timeouts_and_connection_limit_settings() -> None:
    defaults = config({})
    assert (defaults.header_timeout, defaults.body_timeout, defaults.keepalive_timeout,
            defaults.max_connections) == (10, 30, 15, None)
    settings = config({"header_timeout": 2, "body_timeout": 0.5, "keepalive_timeout": 60,
                       "max_connections": 20})
    assert (settings.header_timeout, settings.body_timeout, settings.keepalive_timeout,
            settings.max_connections) == (2.0, 0.5, 60.0, 20)


@pytest.mark.parametrize(("server", "message"), [
    ({"header_timeout": 0}, "'server.header_timeout' must be a number of seconds from 0.1"),
    ({"body_timeout": "30s"}, "'server.body_timeout' must be a number of seconds"),
    ({"keepalive_timeout": 7200}, "'server.keepalive_timeout' must be a number of seconds "
                                  "from 0.1 to 3600"),
    ({"max_connections": 0}, "'server.max_connections' must be an integer >= 1"),
    ({"max_connections": True}, "'server.max_connections' must be an integer >= 1"),
    ({"header_timeout": True}, "'server.header_timeout' must be a number"),
    ({"gather": 61}, "'server.gather' must be a number of seconds from 0 to 60"),
])
def test_bad_timeouts_and_limits_name_the_key(server: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        config(server)


class StubLoop:
    """What the exception handler needs of a loop: its default handler, recorded."""

    def __init__(self) -> None:
        self.passed: list[dict[str, Any]] = []

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.passed.append(context)


def test_failed_accepts_are_one_counted_line_and_other_errors_pass_on() -> None:
    lines: list[str] = []
    metrics = Metrics(dict)
    gate = Gate(10, 1.0, metrics, Throttled(lines.append, clock=lambda: 5.0))
    loop = StubLoop()
    emfile = {"message": "socket.accept() out of system resource",
              "exception": OSError(errno.EMFILE, "Too many open files")}
    for _ in range(500):
        gate.accept_failed(loop, emfile)  # type: ignore[arg-type]
    other = {"message": "Task exception was never retrieved", "exception": ValueError("x")}
    gate.accept_failed(loop, other)  # type: ignore[arg-type]
    assert lines == ["cannot accept connections: Too many open files (EMFILE) (reported at "
                     "most every 10 s)"]
    assert loop.passed == [other]
    assert b"remediator_accept_errors_total 500.0" in metrics.render()
