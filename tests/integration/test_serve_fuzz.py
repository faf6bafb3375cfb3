"""One real `remediator serve` fed hypothesis-generated requests (methods, paths, headers, bodies;
most correctly signed, so that the bodies reach the parser): never a 5xx, nothing unforeseen in
its log, and a good delivery afterwards is still accepted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Project, alertmanager_payload
from tests.fuzzing import ALERTMANAGER, GENERIC, PAGERDUTY, dumps, examples, json_texts
from tests.integration.test_serve import (
    AM,
    BEARER,
    HMAC_SECRET,
    PD_SECRET,
    alert,
    configure,
    hmac_headers,
    noop_entry,
    pd_headers,
    start,
)
from tests.serving import Server

# the HTTP layer under test is the same whatever the store: once, on SQLite
pytestmark = [pytest.mark.daemon, pytest.mark.sqlite_only]

ENDPOINTS = ("alertmanager", "pagerduty", "generic")
HEADER_BYTES = st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b)
HEADER_NAMES = st.sampled_from([b"Authorization", b"X-PagerDuty-Signature", b"Content-Type",
                                b"X-Remediator-Signature", b"X-Remediator-Timestamp",
                                b"Transfer-Encoding", b"Expect", b"X-Junk"])


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes]:
    """(method, path, headers, body): mostly a POST to an endpoint, signed as it expects."""
    method = draw(st.sampled_from([b"POST"] * 24 + [b"GET", b"PUT", b"HEAD", b"DELETE",
                                                   b"OPTIONS", b"P\xffST"]))
    endpoint = draw(st.sampled_from(ENDPOINTS))
    path = draw(st.sampled_from([f"/webhook/{endpoint}".encode()] * 30 + [
        b"/webhook/", b"/webhook/nope", b"/healthz", b"/metrics", b"/", b"/webhook/%ff%00",
        b"/webhook/alertmanager?x=%zz", b"//webhook/generic", b"/webhook/\xc3\x28"]))
    shaped = {"alertmanager": ALERTMANAGER, "pagerduty": PAGERDUTY, "generic": GENERIC}[endpoint]
    text = draw(st.integers(0, 3).flatmap(
        lambda n: json_texts() if n == 0 else shaped.map(lambda p: dumps(p) or "{}")))
    body = text.encode("utf-8", "surrogatepass") if draw(st.integers(0, 9)) == 0 else \
        text.encode("utf-8", "replace")
    auth = draw(st.sampled_from(["signed"] * 8 + ["none", "garbage"]))
    headers: list[tuple[bytes, bytes]] = []
    if auth == "signed":
        signed: dict[str, str] = {"alertmanager": BEARER, "pagerduty": pd_headers(body, PD_SECRET),
                                  "generic": hmac_headers(body, HMAC_SECRET)}[endpoint]
        headers += [(k.encode(), v.encode()) for k, v in signed.items()]
    elif auth == "garbage":
        headers += draw(st.lists(st.tuples(HEADER_NAMES, HEADER_BYTES), max_size=3))
    headers += draw(st.lists(st.tuples(st.sampled_from([b"X-A", b"Accept", b"User-Agent"]),
                                       HEADER_BYTES), max_size=2))
    return method, path, headers, body


def test_generated_requests_never_get_a_5xx(project: Project) -> None:
    """200 generated requests: each answered below 500; then a good delivery gets 202."""
    project.write_catalog(noop_entry())
    configure(project)
    servers: list[Server] = []
    server = start(project, servers)
    seen: dict[int, int] = {}
    try:
        @settings(max_examples=examples(200))
        @given(requests())
        def answered(request: tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes]) -> None:
            status, data = server.raw(*request, timeout=20)
            seen[status] = seen.get(status, 0) + 1
            assert 100 <= status < 500, (request, data[:500])

        answered()
        good: Any = alertmanager_payload([alert("fp-after-fuzz")])
        reply = server.post(AM, good, BEARER)
        assert reply.status == 202, reply.body
        assert seen.get(202, 0) >= 10 and seen.get(400, 0) >= 10, seen  # bodies were read
        assert "unexpected error" not in server.log, server.log[-3000:]
        # what aiohttp answers 400 itself is one throttled line, not a traceback each; any
        # traceback is a failure
        assert "Traceback (most recent call last)" not in server.log, server.log[-3000:]
    finally:
        for each in servers:
            each.kill()
    print(json.dumps(dict(sorted(seen.items()))))
