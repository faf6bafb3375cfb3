"""Slow and numerous clients against a real `remediator serve`, on raw sockets: request heads
and bodies have deadlines, idle kept-alive connections close, connections over the limit are
refused at once without touching the others, and running out of file descriptors costs a few
log lines, not a traceback per failed accept."""

from __future__ import annotations

import errno
import json
import re
import select
import selectors
import socket
import time
from collections.abc import Iterator

import pytest

from tests.conftest import Project, alertmanager_payload
from tests.integration.test_serve import (
    FAKE_RUNS,
    SECRETS,
    TOKEN,
    alert,
    configure,
    intake,
    noop_entry,
    wait_done,
)
from tests.serving import Server

# the HTTP layer under test is the same whatever the store: once, on SQLite
pytestmark = [pytest.mark.daemon, pytest.mark.sqlite_only]

HEAD = b"POST /webhook/alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def serve(project: Project, servers: list[Server], nofile: int | None = None,
          **settings: float) -> Server:
    """`serve` with these server settings (short timeouts keep each test short)."""
    project.write_catalog(noop_entry())
    configure(project, **settings)
    server = Server(project.config, {**SECRETS, **FAKE_RUNS}, fake=True, nofile=nofile)
    servers.append(server.start())
    return server


def connect(server: Server, first: bytes = b"") -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    if first:
        conn.sendall(first)
    return conn


def read_until_closed(conn: socket.socket, timeout: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and the seconds it took
    (``timeout`` if it stayed open)."""
    started = time.monotonic()
    data = b""
    conn.settimeout(timeout)
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except TimeoutError:
        return data, timeout
    except ConnectionResetError:
        pass
    return data, time.monotonic() - started


def read_answer(conn: socket.socket, timeout: float = 10.0) -> bytes:
    """One whole answer (head and Content-Length body), without waiting for the close."""
    conn.settimeout(timeout)
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"Content-Length: (\d+)", head)
        if sep and length and len(body) >= int(length.group(1)):
            return data
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk


def status(data: bytes) -> int | None:
    found = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    return int(found.group(1)) if found else None


def metric(server: Server, name: str) -> float:
    """A sample's value in /metrics (0 when absent)."""
    text = server.request("GET", "/metrics").body.decode()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def body_request(body: bytes) -> bytes:
    """The head of an authorised Alertmanager delivery of ``body`` (to be sent separately)."""
    return HEAD + (f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()


def test_a_slowloris_head_is_cut_at_the_header_timeout(project: Project,
                                                       servers: list[Server]) -> None:
    """Headers trickled a byte at a time get a 408 and a closed connection after
    header_timeout, however steadily they come; a connection that sends nothing is closed
    at the same deadline without an answer."""
    server = serve(project, servers, header_timeout=1, keepalive_timeout=30)
    trickle, silent = connect(server, HEAD), connect(server)
    started = time.monotonic()
    trickle.setblocking(False)
    data = b""
    while time.monotonic() - started < 6 and not data:  # a header byte every 0.1 s
        try:
            trickle.send(b"X")
            if select.select([trickle], [], [], 0.1)[0]:
                data = read_answer(trickle)
        except OSError:
            break
    cut = time.monotonic() - started
    trickle.close()
    assert status(data) == 408, data
    assert b"request headers not received within 1 s" in data
    assert 0.8 < cut < 3, cut
    quiet, waited = read_until_closed(silent)
    assert quiet == b"" and waited < 3, (quiet, waited)
    assert metric(server, 'remediator_connection_timeouts_total{phase="headers"}') == 1
    assert metric(server, 'remediator_connection_timeouts_total{phase="silent"}') == 1


def test_a_trickled_body_gets_408_and_is_not_accepted(project: Project,
                                                      servers: list[Server]) -> None:
    """A body slower than body_timeout gets 408 and nothing is written; a body that takes
    longer than header_timeout but arrives within body_timeout is accepted (the head's
    deadline ends with the head)."""
    server = serve(project, servers, header_timeout=1, body_timeout=2.5)
    body = json.dumps(alertmanager_payload([alert("fp-slow")])).encode()
    slow = connect(server, body_request(body))
    started = time.monotonic()
    for byte in body[:30]:  # one byte every 0.2 s (6 s for 30 bytes) until an answer comes
        slow.sendall(bytes([byte]))
        if select.select([slow], [], [], 0.2)[0]:
            break
    data = read_answer(slow)
    assert 2.3 < time.monotonic() - started < 4
    assert status(data) == 408, data
    assert b"request body not received within 2.5 s" in data
    assert intake(project) == []
    patient = connect(server, body_request(body))
    for start in range(0, len(body), len(body) // 6 + 1):  # the body over about 1.5 s
        time.sleep(0.25)
        patient.sendall(body[start:start + len(body) // 6 + 1])
    data = read_answer(patient)
    assert status(data) == 202, data
    (row,) = wait_done(project, 1)
    assert json.loads(row["body"])["alerts"][0]["fingerprint"] == "fp-slow"
    assert metric(server, 'remediator_connection_timeouts_total{phase="body"}') == 1


def test_an_idle_kept_alive_connection_is_closed(project: Project,
                                                 servers: list[Server]) -> None:
    """A kept-alive connection serves several requests, then closes keepalive_timeout
    after the last answer."""
    server = serve(project, servers, header_timeout=5, keepalive_timeout=1)
    conn = connect(server)
    for _ in range(2):
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = conn.recv(65536)
        assert status(head) == 200, head
        time.sleep(0.3)
    rest, waited = read_until_closed(conn)
    assert rest == b"" and 0.4 < waited < 3, (rest, waited)


def test_a_slow_second_head_on_a_kept_alive_connection_is_cut(project: Project,
                                                              servers: list[Server]) -> None:
    """The header deadline starts again with each request's first byte: a second request
    begun on a kept-alive connection and never finished gets 408 after header_timeout, long
    before the idle timeout."""
    server = serve(project, servers, header_timeout=1, keepalive_timeout=30)
    conn = connect(server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status(conn.recv(65536)) == 200
    time.sleep(2)  # idle longer than header_timeout: not a head, so not cut
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    data, waited = read_until_closed(conn)
    assert status(data) == 408 and 0.8 < waited < 3, (data, waited)


def flood(server: Server, count: int, deadline: float = 5.0) -> list[socket.socket]:
    """``count`` connections at once, each with half a request head; those the server has
    accepted or queued within ``deadline`` seconds."""
    pending = []
    for _ in range(count):
        conn = socket.socket()
        conn.setblocking(False)
        if conn.connect_ex(("127.0.0.1", server.port)) not in (0, errno.EINPROGRESS):
            conn.close()
            continue
        pending.append(conn)
    connected: list[socket.socket] = []
    end = time.monotonic() + deadline
    with selectors.DefaultSelector() as waiting:  # epoll: more than select's 1,024 sockets
        for conn in pending:
            waiting.register(conn, selectors.EVENT_WRITE)
        while waiting.get_map() and time.monotonic() < end:
            for key, _ in waiting.select(0.2):
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                waiting.unregister(conn)
                if conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    try:
                        conn.send(HEAD)
                        connected.append(conn)
                        continue
                    except OSError:
                        pass
                conn.close()
        for key in list(waiting.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
    return connected


def answered(conns: list[socket.socket], within: float) -> list[socket.socket]:
    """The connections with something to read (an answer, or the close) within ``within``
    seconds."""
    ready: list[socket.socket] = []
    end = time.monotonic() + within
    with selectors.DefaultSelector() as waiting:
        for conn in conns:
            waiting.register(conn, selectors.EVENT_READ)
        while waiting.get_map() and time.monotonic() < end:
            for key, _ in waiting.select(0.1):
                waiting.unregister(key.fileobj)
                ready.append(key.fileobj)  # type: ignore[arg-type]
    return ready


def answers(conns: list[socket.socket], timeout: float) -> list[int | None]:
    """Each connection's answer status (None: closed without one, or still open)."""
    found: list[int | None] = []
    for conn in conns:
        data, _ = read_until_closed(conn, timeout)
        conn.close()
        found.append(status(data))
    return found


def test_connections_over_the_limit_are_refused_and_the_rest_are_untouched(
        project: Project, servers: list[Server]) -> None:
    """With max_connections 20 and 200 half-sent requests, the 180 over the limit get 503 at
    once, the 20 admitted keep their connection until their own header timeout (408), a
    normal client is refused meanwhile and served as soon as they are gone, and the log says
    so once."""
    server = serve(project, servers, max_connections=20, header_timeout=2)
    started = time.monotonic()
    conns = flood(server, 200)
    assert len(conns) == 200
    during = server.request("GET", "/healthz")
    assert during.status == 503 and during.headers.get("Retry-After") == "1"
    assert "too many connections" in during.json()["error"]
    refused = answered(conns, 1.5 - (time.monotonic() - started))  # answered at once
    early = answers(refused, 1)
    held = [conn for conn in conns if conn not in refused]
    assert time.monotonic() - started < 1.9  # before any header timeout
    assert len(held) == 20 and set(early) == {503}, (len(held), set(early))
    assert set(answers(held, 5)) == {408}
    after = server.request("GET", "/healthz")
    assert after.status == 200
    assert time.monotonic() - started < 4
    assert metric(server, "remediator_connections_refused_total") >= 181
    assert server.log.count("connection limit reached") == 1


@pytest.mark.parametrize(("nofile", "max_connections"), [(512, None), (128, 1000)])
def test_running_out_of_file_descriptors_logs_a_line_not_tracebacks(
        project: Project, servers: list[Server], nofile: int, max_connections: int | None
        ) -> None:
    """Under a low open-file limit, a flood of 400 half-sent requests leaves at most a few
    log lines and no traceback: with the connection limit derived from the open-file limit,
    the flood is refused and accepting never fails; with a limit set above what the
    open-file limit allows, accepting fails and says so once; serve answers afterwards."""
    settings = {} if max_connections is None else {"max_connections": max_connections}
    server = serve(project, servers, nofile=nofile, header_timeout=3, **settings)
    started = len(server.lines)
    expected = "connection limit reached" if max_connections is None \
        else "cannot accept connections: Too many open files (EMFILE)"
    conns = flood(server, 400)
    server.wait_log(re.escape(expected), timeout=10)
    time.sleep(2)  # the flood goes on (connections retried, timed out, refused)
    for conn in conns:
        conn.close()
    time.sleep(1)
    assert server.request("GET", "/healthz").status == 200
    flooded = server.lines[started:]
    assert "Traceback" not in server.log
    assert 1 <= len(flooded) <= 3 and expected in flooded[0], flooded
    if max_connections is None:
        assert "up to 160 connections" in server.log  # 512 - 64 - 2 * 16 - 2 * 128
        assert not any("cannot accept" in line for line in flooded), flooded
    else:
        assert "is more than the open-file limit (128" in server.log
