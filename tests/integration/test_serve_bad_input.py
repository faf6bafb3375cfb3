"""Bad input against a real `remediator serve`: every case gets a 4xx with a reason and writes
nothing; the requests go out as raw bytes on a socket, so that headers no HTTP client would
send (a non-UTF-8 byte) reach the server as an attacker sends them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Project, alertmanager_payload
from tests.integration.test_serve import (
    AM,
    HMAC_SECRET,
    PD_SECRET,
    TOKEN,
    alert,
    configure,
    hmac_headers,
    intake,
    noop_entry,
    pd_headers,
    pd_payload,
    start,
    wait_done,
)
from tests.serving import Server

pytestmark = pytest.mark.daemon

PD, GENERIC = "/webhook/pagerduty", "/webhook/generic"
BODY = json.dumps(alertmanager_payload([alert("fp-bad")])).encode()


def raw(server: Server, path: str, headers: list[tuple[bytes, bytes]], body: bytes
        ) -> tuple[int, str]:
    """POST ``body`` as JSON with exactly these header bytes; (status, response body)."""
    status, data = server.raw(b"POST", path.encode(),
                              [(b"Content-Type", b"application/json"), *headers], body)
    return status, data.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")


@pytest.fixture
def server(project: Project, tmp_path: Path) -> Iterator[Server]:
    project.write_catalog(noop_entry())
    configure(project)
    servers: list[Server] = []
    yield start(project, servers)
    for each in servers:
        each.kill()


def bearer(token: bytes = TOKEN.encode()) -> list[tuple[bytes, bytes]]:
    return [(b"Authorization", b"Bearer " + token)]


def nested(depth: int) -> bytes:
    return b'{"alerts": ' + b"[" * depth + b"]" * depth + b"}"


CASES = {  # name -> (path, headers, body, expected status, words in the reason)
    "non-utf8 authorization": (AM, [(b"Authorization", b"Bearer \xff\xfe")], BODY, 400,
                               "malformed Authorization header"),
    "non-utf8 pagerduty signature": (PD, [(b"X-PagerDuty-Signature", b"v1=\xc3\x28")], BODY,
                                     400, "malformed X-PagerDuty-Signature"),
    "non-utf8 hmac signature": (GENERIC, [(b"X-Remediator-Signature", b"sha256=\xff"),
                                          (b"X-Remediator-Timestamp", b"1")], BODY, 400,
                                "malformed X-Remediator-Signature"),
    "superscript timestamp": (GENERIC, [(b"X-Remediator-Signature", b"sha256=00"),
                                        (b"X-Remediator-Timestamp", "²".encode())], BODY, 400,
                              "malformed X-Remediator-Timestamp"),
    "5,000-digit timestamp": (GENERIC, [(b"X-Remediator-Signature", b"sha256=00"),
                                        (b"X-Remediator-Timestamp", b"9" * 5000)], BODY, 403,
                              "stale or malformed X-Remediator-Timestamp"),
    "deep JSON (50,000)": (AM, bearer(), nested(50_000), 400, "nested deeper than 64"),
    "deep JSON (65)": (AM, bearer(), nested(65), 400, "nested deeper than 64"),
    "5,000-digit integer": (AM, bearer(), b'{"alerts": [], "n": ' + b"7" * 5000 + b"}", 400,
                            "a number of 5000 digits"),
    "NaN": (AM, bearer(), b'{"alerts": [], "n": NaN}', 400, "NaN is not JSON"),
    "lone surrogate": (AM, bearer(), BODY.replace(b'"NoopAlert"', b'"Noop\\ud800"'), 400,
                       "lone UTF-16 surrogate"),
}


def test_no_bad_input_gets_a_5xx_or_writes_anything(project: Project, server: Server) -> None:
    """Each attack gets the 4xx its case calls for, with a reason; none is written down; a
    good delivery after them is accepted and handled."""
    answers = {name: raw(server, path, headers, body)
               for name, (path, headers, body, _, _) in CASES.items()}
    for name, (_, _, _, status, words) in CASES.items():
        got, text = answers[name]
        assert (name, got) == (name, status), text
        assert words in json.loads(text)["error"], (name, text)
    assert intake(project) == []
    good = server.post(AM, alertmanager_payload([alert("fp-good")]),
                       {"Authorization": f"Bearer {TOKEN}"})
    assert good.status == 202
    (row,) = wait_done(project, 1)
    assert row["state"] == "done"
    assert "unexpected error" not in server.log


def test_non_ascii_basic_credentials_are_a_4xx(project: Project, tmp_path: Path) -> None:
    """Basic auth with credentials that are not ASCII (or not UTF-8 inside): 401/400."""
    project.write_catalog(noop_entry())
    configure(project, endpoints={
        "alertmanager": {"auth": "basic", "username": "am", "password_env": "T_AM"}})
    servers: list[Server] = []
    server = start(project, servers)
    try:
        inside = base64.b64encode("jörg:pässword".encode("latin-1"))
        cases = {"latin-1 inside": [(b"Authorization", b"Basic " + inside)],
                 "non-ASCII base64": [(b"Authorization", "Basic äöü".encode())],
                 "raw byte": [(b"Authorization", b"Basic \xff")]}
        for name, headers in cases.items():
            status, text = raw(server, AM, headers, BODY)
            assert status in (400, 401), (name, status, text)
            assert "error" in json.loads(text)
        assert intake(project) == []
    finally:
        for each in servers:
            each.kill()


def test_signed_pagerduty_body_without_event_id_is_accepted_once(project: Project,
                                                                  server: Server) -> None:
    """A correctly signed PagerDuty body with no ``event.id``: the second delivery of the same
    bytes is a replay (403), as with an id."""
    payload = pd_payload("unused")
    del payload["event"]["id"]
    body = json.dumps(payload).encode()
    headers = [(k.encode(), v.encode()) for k, v in pd_headers(body, PD_SECRET).items()]
    first, _ = raw(server, PD, headers, body)
    again, text = raw(server, PD, headers, body)
    assert (first, again) == (202, 403), text
    assert "replayed delivery" in text
    assert len(intake(project)) == 1


def test_hmac_endpoint_still_takes_a_good_signature(project: Project, server: Server) -> None:
    """The checks above refuse only bad input: a fresh, correct HMAC delivery is accepted."""
    body = json.dumps({"name": "NoopAlert", "status": "firing", "fingerprint": "fp-hmac",
                       "labels": {"instance": "demo-web-01:9100"}}).encode()
    headers = [(k.encode(), v.encode()) for k, v in hmac_headers(body, HMAC_SECRET).items()]
    status, text = raw(server, GENERIC, headers, body)
    assert status == 202, text


def test_an_expect_header_that_is_not_utf8_is_a_417(server: Server) -> None:
    """Found by tests/integration/test_serve_fuzz.py: ``Expect: \\x80`` was a 500 (aiohttp
    echoed the value into its answer); ``100-continue`` still gets its 100 and the 202."""
    status, _ = raw(server, AM, [(b"Expect", b"\x80"), *bearer()], BODY)
    assert status == 417
    status, text = raw(server, AM, [(b"Expect", b"100-continue"), *bearer()], BODY)
    assert status == 100 and "HTTP/1.1 202" in text, text
    assert "unexpected error" not in server.log


def test_malformed_requests_are_one_log_line_not_a_traceback_each(server: Server) -> None:
    """Requests aiohttp's parser refuses (a duplicate Host, Transfer-Encoding beside
    Content-Length) get their 400; the log says so once per interval, with how many, instead
    of a traceback per request (a flood of them would fill the disk)."""
    import socket

    malformed = [b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                 b"POST /webhook/alertmanager HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"]
    for _ in range(25):
        for request in malformed:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
                conn.sendall(request)
                assert conn.recv(64).startswith(b"HTTP/1.0 400 Bad Request")
    assert server.post("/healthz", {}).status in (200, 405)  # still serving
    assert "Traceback" not in server.log
    reports = [line for line in server.lines if "Error handling request" in line]
    assert 1 <= len(reports) <= 2, reports
    assert "answered 400" in reports[0] and "reported at most every 10 s" in reports[0]
