"""`remediator serve` on PostgreSQL: several instances on one database, and database outages.

Real `serve` processes on loopback, a real PostgreSQL server, real playbook runs. The outage is
a real one as the server sees it: a TCP forwarder in front of PostgreSQL is cut and restored.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import Project, alertmanager_payload
from tests.integration.test_serve import (
    AM,
    BEARER,
    SECRETS,
    alert,
    configure,
    noop_entry,
    records,
    wait_done,
)
from tests.serving import Server
from tests.tcpproxy import Proxy

pytestmark = pytest.mark.daemon


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def start(project: Project, servers: list[Server]) -> Server:
    server = Server(project.config, SECRETS).start()
    servers.append(server)
    return server


def test_two_instances_on_one_database_handle_each_alert_once(
        project: Project, pg_url: str, servers: list[Server]) -> None:
    """A burst of duplicate deliveries spread over two instances: one record per alert, at
    most one live run per alert, one unbroken chain, no lock left behind."""
    project.use_store(pg_url)
    project.write_catalog(noop_entry())
    configure(project)
    pair = [start(project, servers), start(project, servers)]
    alerts = [alert(f"fp-{n:02d}") for n in range(30)]
    deliveries = [alertmanager_payload([a]) for a in alerts for _ in range(3)]
    statuses: list[int] = []
    lock = threading.Lock()

    def send(k: int) -> None:
        for n, payload in enumerate(deliveries[k::6]):
            reply = pair[(k + n) % 2].post(AM, payload, BEARER)
            with lock:
                statuses.append(reply.status)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [202] * len(deliveries)
    rows = wait_done(project, len(deliveries))
    assert sum(r["result"]["duplicates"] for r in rows if r["result"]) >= 60
    stored = records(project)
    per_alert = Counter(r["alert"]["fingerprint"] for r in stored)
    assert per_alert == dict.fromkeys((a["fingerprint"] for a in alerts), 1)
    live = Counter(r["alert"]["fingerprint"] for r in stored if r["mode"] == "live")
    assert max(live.values()) == 1
    store = project.store()
    try:
        assert store.verify()[0] == len(stored)
    finally:
        store.close()
    assert project.query("SELECT COUNT(*) FROM guard_runs WHERE finished_at IS NULL"
                         )[0][0] == 0
    for server in pair:  # both instances took part in the intake
        assert "listening on" in server.log


def test_an_unreachable_database_answers_503_and_loses_nothing(
        project: Project, pg_url: str, servers: list[Server]) -> None:
    """While the database is cut off, deliveries get 503 with Retry-After (Alertmanager
    retries them); what was accepted before is handled, and so is every retry after."""
    real = urlsplit(pg_url)
    proxy = Proxy((real.hostname or "127.0.0.1", real.port or 5432)).start()
    through = pg_url.replace(f"@{real.hostname}:{real.port}/", f"@127.0.0.1:{proxy.port}/")
    project.use_store(through)
    project.write_catalog(noop_entry())
    configure(project)
    server = start(project, servers)
    assert server.post(AM, alertmanager_payload([alert("fp-before")]), BEARER).status == 202
    wait_done(project, 1)

    proxy.cut()
    refused = server.request("POST", AM, alertmanager_payload_bytes("fp-during"),
                             {**BEARER, "Content-Type": "application/json"}, timeout=60)
    assert refused.status == 503
    assert refused.headers.get("Retry-After") == "10"
    text = refused.body.decode()
    assert "not accepted" in text and "cannot write accepted payloads" in text
    password = real.password or ""
    assert password and password not in text and password not in server.log

    proxy = Proxy(proxy.target, port=proxy.port).start()
    assert server.post(AM, alertmanager_payload([alert("fp-during")]), BEARER).status == 202
    assert server.post(AM, alertmanager_payload([alert("fp-after")]), BEARER).status == 202
    project.use_store(pg_url)  # the test reads past the forwarder
    wait_done(project, 3)
    per_alert = Counter(r["alert"]["fingerprint"] for r in records(project))
    assert per_alert == {"fp-before": 1, "fp-during": 1, "fp-after": 1}
    proxy.cut()


def alertmanager_payload_bytes(fingerprint: str) -> bytes:
    import json

    return json.dumps(alertmanager_payload([alert(fingerprint)])).encode()
